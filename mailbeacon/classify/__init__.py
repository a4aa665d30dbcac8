"""Give every hit a verdict with reasons. A pure function of the hit and its context."""

from __future__ import annotations

from ..model import Classification, Hit, MessageContext, Verdict

_BOT_MARKERS = ("bot", "crawler", "spider", "curl/", "wget/", "python-requests", "headless")


def classify(hit: Hit, context: MessageContext) -> Classification:
    """First rules; precedence: proxy identity, self, method/headers, bot markers, human."""
    ua = hit.user_agent
    lowered = ua.lower()
    if "googleimageproxy" in lowered:
        if hit.at < context.message.reference_time:
            return Classification(Verdict.SELF, ("before-send",), "gmail")
        return Classification(Verdict.HUMAN, ("gmail-image-proxy",), "gmail")
    if hit.at < context.message.reference_time:
        return Classification(Verdict.SELF, ("before-send",), "other")
    if hit.method == "HEAD":
        return Classification(Verdict.PREFETCH, ("head-request",), "other")
    if "prefetch" in hit.purpose.lower():
        return Classification(Verdict.PREFETCH, ("prefetch-header",), "other")
    if not ua.strip():
        return Classification(Verdict.BOT, ("no-user-agent",), "other")
    if any(marker in lowered for marker in _BOT_MARKERS):
        return Classification(Verdict.BOT, ("bot-user-agent",), "other")
    return Classification(Verdict.HUMAN, ("browser-user-agent",), "other")
