"""The user-agent reading: ua-parser where it covers the case, known shapes where it does not."""

from __future__ import annotations

import pytest

from mailbeacon.classify.useragent import inspect

GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
GMAIL_PREFETCH = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Mozilla/5.0"
)
APPLE_MPP = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
)


@pytest.mark.parametrize(
    ("ua", "kind", "client"),
    [
        (GMAIL_PROXY, "gmail-proxy", "gmail"),
        (
            "Mozilla/5.0 (Windows; U; Windows NT 5.1; de; rv:1.9.0.7) Gecko/2009021910 "
            "Firefox/3.0.7 (via ggpht.com GoogleImageProxy)",
            "gmail-proxy",
            "gmail",
        ),
        (GMAIL_PREFETCH, "gmail-prefetch", "gmail"),
        (APPLE_MPP, "webkit-bare", "apple-mail"),
        (APPLE_MPP.replace("10_15_7", "10_14_6"), "mail-client", "apple-mail"),
        ("Mozilla/5.0", "bare-mozilla", "other"),
        (
            "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
            "yahoo-proxy",
            "yahoo",
        ),
        ("Mozilla/4.0 (compatible; ms-office; MSOffice 16)", "mail-client", "outlook"),
        (
            "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.5257; Pro)",
            "mail-client",
            "outlook",
        ),
        ("Outlook-iOS/723.4027091.prod.iphone (4.2341.0)", "mail-client", "outlook"),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.1",
            "mail-client",
            "thunderbird",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Mobile/15E148",
            "mail-client",
            "apple-mail",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36",
            "browser",
            "other",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Microsoft Office Existence Discovery",
            "scanner",
            "other",
        ),
        ("Mozilla/5.0 (compatible; urldefense.proofpoint.com)", "scanner", "other"),
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "bot",
            "other",
        ),
        ("curl/8.4.0", "bot", "other"),
        ("python-requests/2.31.0", "bot", "other"),
        ("Slack-ImgProxy (+https://api.slack.com/robots)", "bot", "other"),
        ("", "empty", "other"),
        ("   ", "empty", "other"),
        ("x9Zq-7", "unknown", "other"),
    ],
)
def test_user_agents_are_read_as_research_says(ua: str, kind: str, client: str) -> None:
    info = inspect(ua)
    assert (info.kind, info.client) == (kind, client)
    assert info.reason


def test_gmail_image_proxy_is_never_read_as_a_bot() -> None:
    # uap-core calls it a proxy family, and it must win over every bot marker (Mautic #16069)
    assert inspect(GMAIL_PROXY).kind == "gmail-proxy"
    assert inspect(GMAIL_PROXY + " bot crawler").kind == "gmail-proxy"


def test_yahoo_proxy_is_a_person_although_uap_core_calls_it_a_spider() -> None:
    assert inspect("Mozilla/5.0 (compatible; YahooMailProxy; https://help.yahoo.com)").kind == (
        "yahoo-proxy"
    )


def test_the_mpp_shape_needs_the_bare_khtml_ending() -> None:
    safari = APPLE_MPP + " Version/17.1 Safari/605.1.15"
    assert inspect(safari).kind == "browser"


def test_readings_are_cached() -> None:
    inspect.cache_clear()
    inspect(GMAIL_PROXY)
    inspect(GMAIL_PROXY)
    assert inspect.cache_info().hits == 1
