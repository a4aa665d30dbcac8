"""Each rule and the precedence between them, through the public `classify` entry point.

Hits are built the way the edge builds them (build_hit with the shipped catalogue tagger),
so a network rule is exercised by a real address, not by a hand-set tag.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailbeacon.catalogs.loader import CatalogTagger
from mailbeacon.classify import classify
from mailbeacon.hits import build_hit, parse_address
from mailbeacon.model import (
    Classification,
    Event,
    Hit,
    Link,
    Message,
    MessageContext,
    Strictness,
    Verdict,
)
from mailbeacon.tokens import TokenClaims

SENT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MESSAGE = Message(
    id="m" * 16,
    owner="sender@example.com",
    recipients=("r@example.com",),
    subject="Hello",
    created_at=SENT - timedelta(minutes=5),
    sent_at=SENT,
    links=(Link(1, "https://example.com/a"), Link(2, "https://example.com/b")),
)
TAGGER = CatalogTagger(None)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
OUTLOOK = "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"
MPP = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"


def hit(
    kind: str = "open",
    t: float = 3600,
    ua: str = CHROME,
    ip: str = "203.0.113.9",
    *,
    link: int = 1,
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> Hit:
    claims = TokenClaims(kind, MESSAGE.id, link if kind == "click" else None, None)
    return build_hit(
        claims,
        method=method,
        headers={"User-Agent": ua, **(headers or {})},
        address=parse_address(ip),
        at=SENT + timedelta(seconds=t),
        ip_key=b"k",
        tagger=TAGGER,
    )


def event(h: Hit, c: Classification) -> Event:
    return Event(
        h.id,
        h.message_id,
        h.kind,
        h.at,
        c.verdict,
        c.reasons,
        c.client,
        h.link_index,
        h.url,
        h.ip_hash,
        h.network,
        h.user_agent,
    )


def judge(
    h: Hit, *, earlier: tuple[Event, ...] = (), self_views=(), strictness=Strictness.BALANCED
):
    return classify(h, MessageContext(MESSAGE, earlier, tuple(self_views), strictness))


def replay(*hits: Hit, strictness=Strictness.BALANCED) -> list[Classification]:
    events: list[Event] = []
    out = []
    for h in hits:
        c = judge(h, earlier=tuple(events), strictness=strictness)
        events.append(event(h, c))
        out.append(c)
    return out


# user agents
def test_gmail_proxy_open_is_human_gmail_from_seconds_after_sending() -> None:
    for t in (10, 600, 86400 * 30):
        c = judge(hit(t=t, ua=GMAIL_PROXY, ip="66.249.84.12"))
        assert (c.verdict, c.client) == (Verdict.HUMAN, "gmail")
        assert "gmail-image-proxy" in c.reasons


def test_gmail_proxy_in_the_first_seconds_is_the_senders_sent_copy_never_a_machine() -> None:
    # gophish #1248 / #1390: the proxy fetched 3-5 s after sending, nobody had opened it
    for t in (0, 3, 5):
        c = judge(hit(t=t, ua=GMAIL_PROXY, ip="66.249.84.12"))
        assert (c.verdict, c.reasons) == (Verdict.SELF, ("proxy-at-send", "gmail-image-proxy"))
    unsent = Message(**{**MESSAGE.__dict__, "sent_at": None})
    h = hit(t=3, ua=GMAIL_PROXY, ip="66.249.84.12")
    assert classify(h, MessageContext(unsent)).verdict is Verdict.HUMAN  # no send time: no rule
    assert judge(h, strictness=Strictness.LENIENT).verdict is Verdict.SELF
    assert judge(hit(t=5, ua=GMAIL_PROXY), strictness=Strictness.LENIENT).verdict is Verdict.HUMAN


def test_gmail_content_sampling_is_a_machine() -> None:
    ua = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Gmail-content-sampling"
    )  # mssola/user_agent #71
    assert judge(hit("click", t=4000, ua=ua)).verdict is Verdict.SCANNER
    assert judge(hit(t=4000, ua=ua)).verdict is Verdict.PREFETCH


def test_gmail_proxy_wins_over_googles_crawler_network() -> None:
    h = hit(ua=GMAIL_PROXY, ip="74.125.151.30")
    assert h.network_tags == ("google-services", "google-crawlers")
    assert judge(h).verdict is Verdict.HUMAN


def test_gmail_prefetch_user_agent_is_prefetch() -> None:
    ua = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Mozilla/5.0"
    )
    c = judge(hit(t=3, ua=ua, ip="66.249.91.10"))
    assert (c.verdict, c.client, c.reasons[0]) == (
        Verdict.PREFETCH,
        "gmail",
        "gmail-prefetch-user-agent",
    )


def test_yahoo_proxy_and_outlook_desktop_are_people_even_early() -> None:
    yahoo = judge(
        hit(t=20, ua="YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html")
    )
    outlook = judge(hit(t=20, ua=OUTLOOK))
    assert (yahoo.verdict, yahoo.client) == (Verdict.HUMAN, "yahoo")
    assert (outlook.verdict, outlook.client) == (Verdict.HUMAN, "outlook")


def test_missing_and_tool_user_agents_are_bots() -> None:
    assert judge(hit(ua="")).reasons[0] == "no-user-agent"
    assert judge(hit(ua="curl/8.4.0")).verdict is Verdict.BOT
    assert judge(hit(ua="x9Zq-7")).reasons[0] == "unrecognised-user-agent"


# Apple MPP
def test_bare_webkit_is_prefetch_on_delivery_or_from_apple_and_a_person_later() -> None:
    early = judge(hit(t=120, ua=MPP, ip="198.51.100.7"))
    assert (early.verdict, early.client, early.reasons) == (
        Verdict.PREFETCH,
        "apple-mail",
        ("delivery-window", "bare-webkit"),
    )
    # warmbly PR #569: the same stripped WebKit 24 minutes later was a person in Outlook
    late = judge(hit(t=24 * 60, ua=MPP, ip="198.51.100.7"))
    assert (late.verdict, late.reasons) == (Verdict.HUMAN, ("bare-webkit",))
    relay = judge(hit(t=24 * 60, ua=MPP, ip="140.248.40.70"))  # Fastly relay block
    assert (relay.verdict, relay.reasons[0]) == (Verdict.PREFETCH, "network:apple-mpp")


def test_apple_mail_before_macos_12_cannot_be_mpp() -> None:
    # uap-core #528: Mail 13 on 10_15_6 and older; MPP needs macOS 12 (UA frozen at 10_15_7)
    for version in ("10_12_6", "10_14_6", "10_15_6"):
        ua = MPP.replace("10_15_7", version)
        c = judge(hit(t=20, ua=ua, ip="198.51.100.7"))
        assert (c.verdict, c.client) == (Verdict.HUMAN, "apple-mail"), version


def test_bare_mozilla_from_apple_egress_is_mpp_and_elsewhere_late_a_bot() -> None:
    # uap-core #509: MPP sends just "Mozilla/5.0"; 146.75.0.0/16 is Fastly's relay block
    assert judge(hit(t=5000, ua="Mozilla/5.0", ip="146.75.168.85")).verdict is Verdict.PREFETCH
    assert judge(hit(t=30, ua="Mozilla/5.0", ip="198.51.100.7")).verdict is Verdict.PREFETCH
    assert judge(hit(t=5000, ua="Mozilla/5.0", ip="198.51.100.7")).verdict is Verdict.BOT


def test_apple_egress_is_prefetch_for_opens_but_not_for_clicks() -> None:
    open_ = judge(hit(ua=CHROME, ip="172.225.6.41"))
    click = judge(hit("click", ua=CHROME, ip="172.225.6.41"))
    assert (open_.verdict, open_.reasons[0]) == (Verdict.PREFETCH, "network:apple-mpp")
    assert click.verdict is Verdict.HUMAN  # iCloud Private Relay carries Safari's own clicks


# networks
def test_certain_scanner_network_is_scanner_at_any_time_and_whatever_the_ua() -> None:
    for t, ua in ((3, CHROME), (86400, CHROME), (10, GMAIL_PROXY)):
        c = judge(hit("click", t=t, ua=ua, ip="40.107.218.12"))
        assert (c.verdict, c.reasons[0]) == (Verdict.SCANNER, "network:microsoft-eop")


def test_ipv6_and_ipv4_mapped_addresses_are_matched() -> None:
    assert judge(hit(ip="2a01:111:f403:c201::5")).verdict is Verdict.SCANNER
    assert judge(hit(ip="::ffff:40.107.3.4")).verdict is Verdict.SCANNER


def test_probable_scanner_network_only_inside_its_window() -> None:
    inside = judge(hit("click", t=300, ip="148.163.150.10"))
    later = judge(hit("click", t=7200, ip="148.163.150.10"))
    assert (inside.verdict, inside.reasons[:2]) == (
        Verdict.SCANNER,
        ("network:proofpoint", "probable-window"),
    )
    assert later.verdict is Verdict.HUMAN
    assert "probable-scanner-network-late" in later.reasons


def test_google_crawler_network_with_a_browser_ua_is_a_bot() -> None:
    assert judge(hit("click", ua=CHROME, ip="66.249.66.20")).reasons[0] == "network:googlebot"


# method and headers
@pytest.mark.parametrize(
    ("method", "headers", "reason"),
    [
        ("HEAD", {}, "head-request"),
        ("GET", {"Sec-Purpose": "prefetch;prerender"}, "prefetch-header"),
        ("GET", {"Purpose": "prefetch"}, "prefetch-header"),
        ("GET", {"X-Moz": "prefetch"}, "prefetch-header"),
    ],
)
def test_explicit_prefetch_requests(method: str, headers: dict[str, str], reason: str) -> None:
    c = judge(hit("click", method=method, headers=headers))
    assert (c.verdict, c.reasons[0]) == (Verdict.PREFETCH, reason)


# self
def test_hits_before_sending_are_the_senders_preview() -> None:
    c = judge(hit(t=-30, ua=GMAIL_PROXY, ip="66.249.84.1"))
    assert (c.verdict, c.reasons[0], c.client) == (Verdict.SELF, "before-send", "gmail")


def test_proxy_hit_right_after_a_self_view_is_the_sender() -> None:
    view = SENT + timedelta(seconds=600)
    right_after = judge(hit(t=615, ua=GMAIL_PROXY), self_views=[view])
    much_later = judge(hit(t=7200, ua=GMAIL_PROXY), self_views=[view])
    assert (right_after.verdict, right_after.reasons[0]) == (Verdict.SELF, "after-self-view")
    assert much_later.verdict is Verdict.HUMAN


# timing
def test_early_open_and_click_with_a_browser_ua_are_scanners() -> None:
    assert judge(hit(t=30)).reasons[0] == "early-open"
    assert judge(hit("click", t=10)).reasons[:2] == ("early-click", "click-without-open")
    assert judge(hit(t=61)).verdict is Verdict.HUMAN
    assert judge(hit("click", t=31)).verdict is Verdict.HUMAN


def test_early_click_after_a_human_open_from_the_same_source_is_human() -> None:
    opened, clicked = replay(hit(t=20, ua=OUTLOOK), hit("click", t=25, ua=CHROME))
    assert (opened.verdict, clicked.verdict) == (Verdict.HUMAN, Verdict.HUMAN)


def test_two_links_from_one_source_within_seconds_is_a_scanner_walking_the_mail() -> None:
    first, second = replay(hit("click", t=7200, link=1), hit("click", t=7201, link=2))
    assert first.verdict is Verdict.HUMAN  # alone it looked like a person; reconcile fixes it
    assert (second.verdict, second.reasons[0]) == (Verdict.SCANNER, "link-burst")
    _, b = replay(hit("click", t=7200, link=1), hit("click", t=7260, link=2))
    assert b.verdict is Verdict.HUMAN


def test_a_source_seen_as_a_machine_stays_one_inside_the_window() -> None:
    _, click = replay(hit(t=6), hit("click", t=70))
    assert (click.verdict, click.reasons[0]) == (Verdict.SCANNER, "source-seen-as-machine")


# strictness
def test_strictness_moves_the_timing_and_probable_windows() -> None:
    open_45 = hit(t=45)
    proofpoint_300 = hit("click", t=300, ip="148.163.150.10")
    assert judge(open_45, strictness=Strictness.LENIENT).verdict is Verdict.HUMAN
    assert judge(open_45, strictness=Strictness.BALANCED).verdict is Verdict.SCANNER
    assert judge(proofpoint_300, strictness=Strictness.LENIENT).verdict is Verdict.HUMAN
    assert judge(proofpoint_300, strictness=Strictness.STRICT).verdict is Verdict.SCANNER
    assert judge(hit(t=100), strictness=Strictness.STRICT).verdict is Verdict.SCANNER


def test_strict_lets_two_weak_hints_together_decide_inside_the_probable_window() -> None:
    navigation = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    person = hit("click", t=300, headers=navigation)
    assert judge(person, strictness=Strictness.STRICT).verdict is Verdict.HUMAN  # one hint only
    lone_fetch = hit("click", t=300, headers={"Accept": "*/*"})
    assert judge(lone_fetch).verdict is Verdict.HUMAN
    strict = judge(lone_fetch, strictness=Strictness.STRICT)
    assert (strict.verdict, strict.reasons[:3]) == (
        Verdict.SCANNER,
        ("click-without-open", "accept-any", "strict"),
    )
    proxy_style = hit(t=300, headers={"Accept": "*/*"})
    assert judge(proxy_style, strictness=Strictness.STRICT).verdict is Verdict.HUMAN
    assert judge(proxy_style).reasons == ("browser-user-agent", "accept-any-no-referer")


# several sources
def test_google_and_azure_networks_click_as_scanners_inside_the_window() -> None:
    # karaoke-gen PR #870: Google's scanner from 2607:f8b0::/32 with a current Chrome, ~60 s in
    google = judge(hit("click", t=55, ip="2607:f8b0:4004:c1b::12"))
    assert (google.verdict, google.reasons[0]) == (Verdict.SCANNER, "network:google-services")
    azure = judge(hit("click", t=200, ip="20.190.1.1"))
    assert (azure.verdict, azure.reasons[0]) == (Verdict.SCANNER, "network:azure-cloud")
    assert judge(hit("click", t=4000, ip="20.190.1.1")).verdict is Verdict.HUMAN
    # a person on an Azure desktop who opened first keeps the click
    opened, clicked = replay(
        hit(t=100, ua=OUTLOOK, ip="20.190.1.1"), hit("click", t=120, ip="20.190.1.1")
    )
    assert (opened.verdict, clicked.verdict) == (Verdict.HUMAN, Verdict.HUMAN)


def test_three_addresses_clicking_within_seconds_are_a_scanner_fleet() -> None:
    # IntellectITBotFilterBundle: three datacenter addresses within 5 s, 75-80 s after delivery
    out = replay(
        hit("click", t=75, ip="198.51.100.10"),
        hit("click", t=77, ip="192.0.2.20", link=2),
        hit("click", t=79, ip="203.0.113.30"),
    )
    assert out[2].verdict is Verdict.SCANNER and "multi-source-burst" in out[2].reasons


def test_a_fleet_is_a_fleet_even_when_the_pair_rule_answered_first() -> None:
    # three networks on one link within seconds; the second is the checker half of a pair
    from mailbeacon.classify.reconcile import reconcile

    mac = (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/148.0.0.0 Safari/537.36"
    )
    hits = (
        hit("click", t=4000, ua=mac, ip="198.51.100.10"),
        hit("click", t=4002, ip="192.0.2.20"),
        hit("click", t=4004, ip="203.0.113.30"),
    )
    first, paired, third = replay(*hits)
    assert "paired-click" in paired.reasons
    assert third.verdict is Verdict.SCANNER and "multi-source-burst" in third.reasons
    events = [event(h, c) for h, c in zip(hits, (first, paired, third), strict=True)]
    assert [e.verdict for e in reconcile(events)] == [Verdict.SCANNER] * 3  # hindsight: all


def test_a_paired_click_labels_the_machine_and_keeps_the_person() -> None:
    mac = (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/148.0.0.0 Safari/537.36"
    )
    linux = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/149.0.0.0 Safari/537.36"
    )
    # the machine second: it is the one labelled
    person, machine = replay(
        hit("click", t=4000, ua=mac), hit("click", t=4002, ua=linux, ip="192.0.2.99")
    )
    assert (person.verdict, machine.verdict) == (Verdict.HUMAN, Verdict.SCANNER)
    assert "paired-click" in machine.reasons
    # the machine first: the later person is kept (hindsight labels the first, see reconcile)
    machine, person = replay(
        hit("click", t=4000, ua=linux, ip="192.0.2.99"), hit("click", t=4002, ua=mac)
    )
    assert person.verdict is Verdict.HUMAN
    # the same client twice, or two links, is no pair
    again = replay(hit("click", t=4000, ua=mac), hit("click", t=4002, ua=mac, ip="203.0.113.10"))
    assert [c.verdict for c in again] == [Verdict.HUMAN, Verdict.HUMAN]


def test_only_what_happened_before_counts_when_hits_arrive_out_of_order() -> None:
    later_open = hit(t=100, ua=OUTLOOK)
    opened = event(later_open, judge(later_open))
    early_click = judge(hit("click", t=20), earlier=(opened,))
    assert early_click.reasons[:2] == ("early-click", "click-without-open")


# hindsight at read time
def test_reconcile_labels_the_earlier_machine_of_a_pair_and_the_whole_fleet() -> None:
    from mailbeacon.classify.reconcile import reconcile

    linux = CHROME.replace("Windows NT 10.0; Win64; x64", "X11; Linux x86_64")
    mac = CHROME.replace("Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7")
    pair = [hit("click", t=4000, ua=linux, ip="192.0.2.99"), hit("click", t=4002, ua=mac)]
    fleet = [
        hit("click", t=75, ip="198.51.100.10"),
        hit("click", t=77, ip="192.0.2.20", link=2),
        hit("click", t=79, ip="203.0.113.30"),
    ]
    for hits, expected in ((pair, ["scanner", "human"]), (fleet, ["scanner"] * 3)):
        events: list[Event] = []
        for h in hits:
            events.append(event(h, judge(h, earlier=tuple(events))))
        assert [e.verdict.value for e in reconcile(events)] == expected


# round 3 (issue #22): the last families of misses
def test_three_browsers_from_one_network_within_seconds_are_one_rotating_machine() -> None:
    firefox = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_2) Gecko/20100101 Firefox/71.5"
    android = (
        "Mozilla/5.0 (Linux; U; Android 4.4; Nexus_S_4G Build/GRJ22) AppleWebKit/534.41 "
        "(KHTML, like Gecko) Chrome/50.0.1711.222 Mobile Safari/603.1"
    )
    fleet = replay(
        hit(t=150, ua=CHROME, ip="203.0.113.77"),
        hit(t=151, ua=firefox, ip="203.0.113.78"),
        hit(t=153, ua=android, ip="203.0.113.77"),
    )
    assert fleet[2].verdict is Verdict.SCANNER and "agent-rotation" in fleet[2].reasons
    # two browsers on one network are a person's laptop and phone; three on three networks
    # are three readers; three spread over minutes are not one burst
    two = replay(hit(t=150, ip="203.0.113.77"), hit(t=151, ua=firefox, ip="203.0.113.78"))
    apart = replay(
        hit(t=150, ip="203.0.113.77"),
        hit(t=151, ua=firefox, ip="198.51.100.7"),
        hit(t=153, ua=android, ip="192.0.2.9"),
    )
    slow = replay(
        hit(t=150, ip="203.0.113.77"),
        hit(t=400, ua=firefox, ip="203.0.113.77"),
        hit(t=700, ua=android, ip="203.0.113.77"),
    )
    for outcome in (two, apart, slow):
        assert {c.verdict for c in outcome} == {Verdict.HUMAN}
    # Gmail's proxy is never part of a rotation, however many readers share it
    proxies = replay(
        hit(t=150, ip="66.249.84.40"),
        hit(t=151, ua=firefox, ip="66.249.84.41"),
        hit(t=152, ua=GMAIL_PROXY, ip="66.249.84.42"),
    )
    assert proxies[2].verdict is Verdict.HUMAN


def test_reconcile_labels_every_member_of_a_rotation() -> None:
    from mailbeacon.classify.reconcile import reconcile

    firefox = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_2) Gecko/20100101 Firefox/71.5"
    edge = CHROME + " Edg/131.0.0.0"
    events: list[Event] = []
    for h in (hit(t=150), hit(t=151, ua=firefox), hit(t=152, ua=edge)):
        events.append(event(h, judge(h, earlier=tuple(events))))
    assert [e.verdict.value for e in events] == ["human", "human", "scanner"]
    assert [e.verdict.value for e in reconcile(events)] == ["scanner"] * 3


def test_a_scan_twelve_seconds_after_the_persons_click_is_the_machine() -> None:
    # resend-node #901: Mac Chrome 146 from a residential IPv6 address, then +12 s the same
    # link from Windows Chrome 146 on an unrelated IPv4 network; nothing else tells them apart
    mac = CHROME.replace("Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7")
    person, scan = replay(
        hit("click", t=2700, ua=mac, ip="2804:10b4:a11:7c00::5"),
        hit("click", t=2712, ip="168.90.91.133"),
    )
    assert (person.verdict, scan.verdict) == (Verdict.HUMAN, Verdict.SCANNER)
    assert "paired-click" in scan.reasons


def test_the_senders_desktop_client_rendering_the_sent_copy_is_self() -> None:
    thunderbird = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.3"
    )
    for ua in (OUTLOOK, thunderbird):
        sent_copy = judge(hit(t=2, ua=ua))
        assert sent_copy.verdict is Verdict.SELF and "client-at-send" in sent_copy.reasons
        assert judge(hit(t=95, ua=ua)).verdict is Verdict.HUMAN  # the recipient, later
    unsent = MessageContext(Message(**{**MESSAGE.__dict__, "sent_at": None}))
    assert classify(hit(t=2, ua=OUTLOOK), unsent).verdict is Verdict.HUMAN  # no send time known
