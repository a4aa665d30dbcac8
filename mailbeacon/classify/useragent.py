"""What a user agent says about who is asking: ua-parser first, a few known shapes after it.

ua-parser (uap-core) names Gmail's image proxy, Yahoo's proxy, Outlook, Thunderbird, Apple
Mail, crawlers ("Spider" devices) and HTTP libraries. The rest are exact shapes from the
research (sources in comments) that uap-core does not single out. Parses are cached: mail
clients and proxies send a handful of distinct user agents, so almost every hit is a hit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

Kind = Literal[
    "gmail-proxy",  # a person opening in Gmail: human, never a bot
    "gmail-prefetch",  # Gmail's pre-fetch bot
    "webkit-bare",  # bare WebKit on macOS 12+: MPP's proxy, or Apple Mail/Outlook with MPP off
    "bare-mozilla",  # "Mozilla/5.0" and nothing else: MPP's proxy (uap-core #509), or a tool
    "gmail-sampling",  # Gmail-content-sampling: Google fetching the message's content and links
    "yahoo-proxy",  # Yahoo/AOL image proxy: a person opening
    "mail-client",  # Outlook desktop/mobile, Thunderbird, Apple Mail with MPP off
    "browser",
    "scanner",
    "bot",
    "empty",
    "unknown",
]


@dataclass(frozen=True)
class UserAgentInfo:
    """The verdict-relevant reading of one user agent."""

    kind: Kind
    client: str
    family: str = ""
    reason: str = ""
    os: str = ""


# Gmail's pre-fetch bot (research 3.1: GMass [G1], Bird/SparkPost [P5], Keila #55 -> #164).
_GMAIL_PREFETCH = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Mozilla/5.0"
)
# Keila's second filtered UA, its CHANGELOG's "new Gmail user agent" (Keila lib tracking.ex).
_GMAIL_PREFETCH_2022 = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/104.0.0.0 Safari/537.36"
)
# Bare WebKit: AppleWebKit ending in "(KHTML, like Gecko)" with no Version/Safari token. Apple
# Mail sends it (uap-core #528 lists versions 8-13), so does MPP's proxy (warmbly open_class.go)
# and, stripped the same way, Outlook (warmbly PR #569). MPP needs macOS 12, whose user agent is
# frozen at 10_15_7 (uap-core #528: Mail 13 is 10_15_6 and older), so an older version is
# Apple Mail on the reader's own Mac and never MPP.
_BARE_WEBKIT = re.compile(r"^Mozilla/5\.0 \(([^)]*)\) AppleWebKit/[\d.]+ \(KHTML, like Gecko\)$")
_MAC_VERSION = re.compile(r"Mac OS X (\d+)[_.](\d+)(?:[_.](\d+))?")
_MPP_MIN_MAC = (10, 15, 7)
# MPP's own user agent, nothing else (uap-core #509, since 2021-09-20).
_BARE_MOZILLA = "Mozilla/5.0"
# Gmail fetching a message's links for content sampling (mssola/user_agent #71, citing
# Stack Overflow 63184772): the pre-fetch UA with this token appended.
_GMAIL_SAMPLING = "gmail-content-sampling"
# Scanner markers: warmbly tracking/src/abuse.rs; "Microsoft Office Existence Discovery"
# (http-browserdetect PR #114); Barracuda (EmailEngine's rDNS rule).
_SCANNER_MARKERS = (
    "safelinks",
    "urldefense",
    "barracuda",
    "mimecast",
    "proofpoint",
    "forcepoint",
    "symantec",
    "trendmicro",
    "sophos",
    "zscaler",
    "existence discovery",
    "ms-office-discovery",
    "bingpreview",
    "skypeuripreview",
    "ironport",
)
# Exact browser builds seen scanning links for Microsoft 365: Safe Links' Chrome 57 on Windows 7
# (gophish #973) and Windows 10 with Chrome 80/96/79 (gophish #2446). Exact builds, so a person
# on a merely old browser is not caught.
# Microsoft's Edge 79 build clicking every link (mssola/user_agent #71).
_SCANNER_BUILDS = (
    "Chrome/79.0.3945.74 Safari/537.36 Edg/79.0.309.43",
    "Chrome/57.0.2987.133",
    "Chrome/80.0.3987.132",
    "Chrome/96.0.4664.110",
    "Chrome/79.0.3945.136",
)
# Generic automation markers: warmbly abuse.rs and Mautic's do_not_track_bots list.
_BOT_MARKERS = (
    "bot",
    "spider",
    "crawl",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "python/",
    "aiohttp",
    "httpx",
    "go-http-client",
    "okhttp",
    "java/",
    "apache-httpclient",
    "libwww-perl",
    "headless",
    "phantomjs",
    "validator",
    "pingdom",
    "uptime",
    "statuscake",
    "site24x7",
    "whatsapp",
    "telegram",
    "slack",
    "discord",
    "facebookexternalhit",
    "preview",
    "scan",
    "check",
    "monitor",
    "fetch",
    "postman",
    "insomnia",
    "node-fetch",
    "axios",
    "guzzle",
    "ruby",
    "perl",
    "php/",
)
# uap-core families that are libraries or tools rather than a person's client.
_TOOL_FAMILIES = frozenset(
    {
        "curl",
        "Wget",
        "Python Requests",
        "Python-urllib",
        "Go-http-client",
        "okhttp",
        "Java",
        "Apache-HttpClient",
        "HeadlessChrome",
        "PhantomJS",
        "Googlebot",
        "bingbot",
        "facebookexternalhit",
    }
)
_MAIL_CLIENTS = {"Outlook": "outlook", "Thunderbird": "thunderbird", "Apple Mail": "apple-mail"}


# Families that are a person's browser or mail client: for these the costly device pass
# (two thirds of a parse) cannot find a "Spider", so it is skipped.
_PEOPLE_FAMILIES = frozenset(
    {
        "Chrome",
        "Chrome Mobile",
        "Chrome Mobile iOS",
        "Chrome Mobile WebView",
        "Firefox",
        "Firefox Mobile",
        "Firefox iOS",
        "Safari",
        "Mobile Safari",
        "Mobile Safari UI/WKWebView",
        "Edge",
        "Edge Mobile",
        "Opera",
        "Samsung Internet",
        "IE",
        "Outlook",
        "Thunderbird",
        "Apple Mail",
    }
)


def _parse(ua: str) -> tuple[str, str]:
    """(browser family, OS family) from ua-parser; never raises."""
    try:
        from ua_parser import Domain, parser

        result = parser(ua, Domain.USER_AGENT | Domain.OS)
    except Exception:  # ua-parser on hostile input must not cost us the hit
        return "Other", "Other"
    family = result.user_agent.family if result.user_agent else "Other"
    return family, result.os.family if result.os else "Other"


def _is_spider(ua: str) -> bool:
    """uap-core's device pass names crawlers "Spider"."""
    try:
        from ua_parser import parse_device

        device = parse_device(ua)
    except Exception:
        return False
    return device is not None and device.family == "Spider"


def _bare_webkit(text: str) -> UserAgentInfo | None:
    """The bare WebKit shape: Apple Mail before macOS 12 (a person), or the MPP-capable one."""
    match = _BARE_WEBKIT.match(text)
    if match is None:
        return None
    version = _MAC_VERSION.search(match.group(1))
    if version is not None:
        parts = tuple(int(v or 0) for v in version.groups())
        if parts < _MPP_MIN_MAC:
            return UserAgentInfo(
                "mail-client", "apple-mail", "Apple Mail", "pre-mpp-apple-mail", "Mac OS X"
            )
    os_family = "Mac OS X" if version is not None else "Other"
    return UserAgentInfo("webkit-bare", "apple-mail", "Apple Mail", "bare-webkit", os_family)


@lru_cache(maxsize=8192)
def inspect(ua: str) -> UserAgentInfo:
    """Read one user agent (cached)."""
    info = _inspect(ua)
    if info.os:
        return info
    _, os_family = _parse(ua.strip()) if ua.strip() else ("", "")
    return UserAgentInfo(info.kind, info.client, info.family, info.reason, os_family or "Other")


def _inspect(ua: str) -> UserAgentInfo:
    """The shapes that need no parse first, then what ua-parser's families say; order matters
    (a scanner's Chrome build is a browser to ua-parser, a proxy's user agent names no bot)."""
    text = ua.strip()
    if not text:
        return UserAgentInfo("empty", "other", reason="no-user-agent", os="Other")
    lowered = text.lower()
    known = _exact_shape(text, lowered)
    if known is not None:
        return known
    family, os_family = _parse(text)
    machine = _proxy_or_machine(text, lowered, family, os_family)
    if machine is not None:
        return machine
    client = _mail_client(lowered, family, os_family)
    if client is not None:
        return UserAgentInfo("mail-client", client, family, "mail-client-user-agent", os_family)
    if any(marker in lowered for marker in _BOT_MARKERS):
        return UserAgentInfo("bot", "other", family, "bot-user-agent", os_family)
    if family == "Other":
        return UserAgentInfo("unknown", "other", family, "unrecognised-user-agent", os_family)
    return UserAgentInfo("browser", "other", family, "browser-user-agent", os_family)


def _exact_shape(text: str, lowered: str) -> UserAgentInfo | None:
    """Google's fetchers and Apple's bare shapes, known by the exact text (no parse needed)."""
    if _GMAIL_SAMPLING in lowered:
        return UserAgentInfo("gmail-sampling", "gmail", "Edge", "gmail-content-sampling", "Other")
    if text in (_GMAIL_PREFETCH, _GMAIL_PREFETCH_2022):
        return UserAgentInfo("gmail-prefetch", "gmail", "Edge", "gmail-prefetch-user-agent")
    if text == _BARE_MOZILLA:
        return UserAgentInfo("bare-mozilla", "other", "Other", "bare-mozilla", "Other")
    return _bare_webkit(text)


def _proxy_or_machine(text: str, lowered: str, family: str, os_family: str) -> UserAgentInfo | None:
    """A mail provider's image proxy (a person), a scanner, or a tool or crawler."""
    if family == "GmailImageProxy" or "googleimageproxy" in lowered:
        return UserAgentInfo("gmail-proxy", "gmail", family, "gmail-image-proxy", os_family)
    if family == "YahooMailProxy" or "yahoomailproxy" in lowered:
        return UserAgentInfo("yahoo-proxy", "yahoo", family, "yahoo-mail-proxy", os_family)
    if any(marker in lowered for marker in _SCANNER_MARKERS):
        return UserAgentInfo("scanner", "other", family, "scanner-user-agent", os_family)
    if "Windows NT" in text and any(build in text for build in _SCANNER_BUILDS):
        return UserAgentInfo("scanner", "other", family, "known-scanner-user-agent", os_family)
    if family in _TOOL_FAMILIES or (family not in _PEOPLE_FAMILIES and _is_spider(text)):
        return UserAgentInfo("bot", "other", family, "bot-user-agent", os_family)
    return None


def _mail_client(lowered: str, family: str, os_family: str) -> str | None:
    """Which mail app, when it is one: by family, or by the shapes ua-parser does not name."""
    client = _MAIL_CLIENTS.get(family)
    if client is None and ("ms-office" in lowered or "microsoft outlook" in lowered):
        client = "outlook"  # Outlook desktop (httpagentparser #91, uap-core #405)
    if client is None and family.startswith("Outlook"):
        client = "outlook"  # Outlook-iOS / Outlook-Android
    if client is None and family == "Mobile Safari UI/WKWebView" and os_family == "iOS":
        client = "apple-mail"  # iOS Mail with MPP off: WebKit with no Safari token
    return client
