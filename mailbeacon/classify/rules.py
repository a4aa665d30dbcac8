"""The rules, in precedence order: the first that speaks gives the verdict.

Each rule is small, reads only `Facts`, and cites where its signal comes from. The order is
documented in docs/classification.md; in short: the sender's own views, certain machine
networks, explicit prefetch requests, identifying user agents, then network and timing
evidence, and human last.
"""

from __future__ import annotations

from collections.abc import Callable

from ..model import Classification, Verdict
from .facts import Facts

Rule = Callable[[Facts], Classification | None]


def _net_reasons(facts: Facts, role: str, certainty: str | None = None) -> tuple[str, ...]:
    return tuple(f"network:{n.name}" for n in facts.networks_with(role, certainty))


def _result(verdict: Verdict, facts: Facts, *reasons: str, client: str = "") -> Classification:
    return Classification(
        verdict, tuple(dict.fromkeys(r for r in reasons if r)), client or facts.ua.client
    )


def before_send(facts: Facts) -> Classification | None:
    """A hit before the message left is the sender's compose preview (GMass [G6] lists drafts)."""
    if facts.age >= 0 or facts.networks_with("scanner", "certain"):
        return None
    return _result(Verdict.SELF, facts, "before-send", facts.ua.reason)


def certain_scanner_network(facts: Facts) -> Classification | None:
    """Microsoft EOP, Barracuda EGD: the filtering tier, never a reader (warmbly catalogue)."""
    reasons = _net_reasons(facts, "scanner", "certain")
    if not reasons:
        return None
    return _result(Verdict.SCANNER, facts, *reasons, facts.ua.reason)


def after_self_view(facts: Facts) -> Classification | None:
    """A proxy or browser fetch right after the sender opened their own copy (DESIGN.md, 6)."""
    if facts.ua.kind not in ("gmail-proxy", "browser", "mail-client") or not facts.is_open:
        return None
    if not facts.after_self_view():
        return None
    return _result(Verdict.SELF, facts, "after-self-view", facts.ua.reason)


def explicit_prefetch(facts: Facts) -> Classification | None:
    """HEAD (CiviCRM PR #35328, Mautic #14916) and Sec-Purpose/Purpose prefetch (Mautic #15844)."""
    if facts.hit.method == "HEAD":
        return _result(Verdict.PREFETCH, facts, "head-request", facts.ua.reason)
    if facts.prefetch_header:
        return _result(Verdict.PREFETCH, facts, "prefetch-header", facts.ua.reason)
    return None


def gmail(facts: Facts) -> Classification | None:
    """Gmail's pre-fetch bot is prefetch (GMass [G1], SparkPost [P5]); its image proxy is a
    person opening the mail and never a bot (Mautic #16069 is what happens otherwise)."""
    if facts.ua.kind == "gmail-prefetch":
        return _result(Verdict.PREFETCH, facts, facts.ua.reason)
    if facts.ua.kind == "gmail-proxy":
        return _result(Verdict.HUMAN, facts, facts.ua.reason)
    return None


def yahoo(facts: Facts) -> Classification | None:
    """Yahoo/AOL's image proxy fetches when a person opens (uap-core PR #333)."""
    if facts.ua.kind == "yahoo-proxy":
        return _result(Verdict.HUMAN, facts, facts.ua.reason)
    return None


def apple_mpp(facts: Facts) -> Classification | None:
    """Apple MPP fetches every image on delivery: its UA shape (warmbly open_class.go) or its
    egress network (mask-api.icloud.com list) on a pixel fetch."""
    if not facts.is_open:
        return None
    nets = _net_reasons(facts, "prefetch")
    if facts.ua.kind == "apple-mpp":
        return _result(Verdict.PREFETCH, facts, facts.ua.reason, *nets)
    if nets:
        return _result(Verdict.PREFETCH, facts, *nets, facts.ua.reason, client="apple-mail")
    return None


def automated_user_agent(facts: Facts) -> Classification | None:
    """Scanner markers (warmbly abuse.rs), tool and crawler user agents, or none at all."""
    kind = facts.ua.kind
    if kind == "scanner":
        return _result(Verdict.SCANNER, facts, facts.ua.reason, *_net_reasons(facts, "scanner"))
    if kind in ("bot", "empty", "unknown"):
        return _result(Verdict.BOT, facts, facts.ua.reason, *_net_reasons(facts, "crawler"))
    return None


def crawler_network(facts: Facts) -> Classification | None:
    """Google's crawler ranges (EmailEngine's detectAutomatedRequest) with a non-Gmail UA."""
    reasons = _net_reasons(facts, "crawler")
    return _result(Verdict.BOT, facts, *reasons, facts.ua.reason) if reasons else None


def probable_scanner_network(facts: Facts) -> Classification | None:
    """Proofpoint, Mimecast, Cisco: machine inside the probable window only, because browser
    isolation can put a person behind them (warmbly scanner-networks.txt)."""
    reasons = _net_reasons(facts, "scanner", "probable")
    if reasons and facts.age < facts.policy.probable_window:
        return _result(Verdict.SCANNER, facts, *reasons, "probable-window", facts.ua.reason)
    return None


def link_burst(facts: Facts) -> Classification | None:
    """Two different links from one source within seconds: a scanner walking the mail
    (warmbly TrackingClickBurstSeconds; Mautic #8692 "every single link")."""
    return _result(Verdict.SCANNER, facts, "link-burst", facts.ua.reason) if facts.burst() else None


def machine_source(facts: Facts) -> Classification | None:
    """A source already judged a scanner or bot on this message, still inside the window."""
    if facts.age < facts.policy.probable_window and facts.machine_before():
        return _result(Verdict.SCANNER, facts, "source-seen-as-machine", facts.ua.reason)
    return None


def early_hit(facts: Facts) -> Classification | None:
    """Opens within 60 s and clicks within 30 s of sending are machine (warmbly, GMass, Mautic
    #8692), unless a mail client's own UA or an earlier human open by this source says human."""
    if facts.ua.kind == "mail-client" and facts.is_open:
        return None
    if facts.is_open and facts.age < facts.policy.open_window:
        return _result(Verdict.SCANNER, facts, "early-open", facts.ua.reason)
    if (
        not facts.is_open
        and facts.age < facts.policy.click_window
        and not facts.opened_before_as_human()
    ):
        reasons = ("early-click", "click-without-open" if not facts.opened_before() else "")
        return _result(Verdict.SCANNER, facts, *reasons, facts.ua.reason)
    return None


def weak_hints(facts: Facts) -> Classification | None:
    """Strict only: a click nobody opened before (ValueBuilder [P13]) or an Accept */* fetch
    with no Referer (research 3.2, unverified) is a scanner inside the probable window."""
    if not facts.policy.weak_hints_decide or facts.age >= facts.policy.probable_window:
        return None
    if facts.ua.kind == "mail-client":
        return None
    if not facts.is_open and not facts.opened_before():
        return _result(Verdict.SCANNER, facts, "click-without-open", "strict", facts.ua.reason)
    if facts.is_open and facts.weak_proxy_hint:
        return _result(Verdict.SCANNER, facts, "accept-any-no-referer", "strict", facts.ua.reason)
    return None


def human(facts: Facts) -> Classification:
    """Nothing says machine: a person, with whatever weak evidence there was kept as reasons."""
    notes = [facts.ua.reason]
    if facts.networks_with("scanner", "probable"):
        notes.append("probable-scanner-network-late")
    if not facts.is_open and not facts.opened_before():
        notes.append("click-without-open")
    if facts.is_open and facts.weak_proxy_hint and facts.ua.kind == "browser":
        notes.append("accept-any-no-referer")
    if facts.is_open and facts.age < facts.policy.open_window:
        notes.append("early-open")
    return _result(Verdict.HUMAN, facts, *notes)


RULES: tuple[Rule, ...] = (
    before_send,
    certain_scanner_network,
    after_self_view,
    explicit_prefetch,
    gmail,
    yahoo,
    apple_mpp,
    automated_user_agent,
    crawler_network,
    probable_scanner_network,
    link_burst,
    machine_source,
    early_hit,
    weak_hints,
)
