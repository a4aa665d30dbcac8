"""The rules, in precedence order: the first that speaks gives the verdict.

Each rule is small, reads only `Facts`, and cites where its signal comes from. The order is
documented in docs/classification.md; in short: the sender's own views, certain machine
networks, explicit prefetch requests, identifying user agents, then network and timing
evidence, and human last.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..model import Classification, Verdict
from .facts import Facts
from .pairing import distinct, machine_of

MACHINE = (Verdict.PREFETCH, Verdict.SCANNER, Verdict.BOT)
RELATIONAL = frozenset({"paired-click", "multi-source-burst", "link-burst", "agent-rotation"})
"""Reasons a hit was judged a machine for its timing beside others (not for what it is): such a
hit is still a click of the fleet a multi-source burst looks for."""
MULTI_SOURCE_BURST = 3  # distinct networks (IntellectITBotFilterBundle DEFAULT_MAX_IPS)
ROTATING_AGENTS = 3  # distinct browser user agents from one network (see agent_rotation)

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


def proxy_at_send(facts: Facts) -> Classification | None:
    """Gmail's image proxy seconds after the send: the sender's own Sent view loading the copy
    through the same proxy, or a delivery-time fetch, never the reader (gophish #1248: "opened"
    the moment it was sent, the mail not even delivered; #1390: 3-5 s after sending). Only when
    the send time is recorded; a recorded self-view nearby is the after-self-view rule."""
    return _sent_copy(facts, "gmail-proxy", "proxy-at-send")


def client_at_send(facts: Facts) -> Classification | None:
    """A desktop mail client fetching the pixel seconds after the recorded send: the sender's
    own client rendering its Sent copy, before the recipient could have it (Mautic #5432: mail
    sent from Outlook "always considered as open", the sent copy's preview loading the pixel;
    nylas-mail #3249 and #3592, Mailspring #1162: opening one's own sent message counted as the
    recipient's open). Only with a recorded send time, as proxy-at-send."""
    return _sent_copy(facts, "mail-client", "client-at-send")


def _sent_copy(facts: Facts, ua_kind: str, code: str) -> Classification | None:
    """An open by ``ua_kind`` within the sent-copy window of a recorded send: the sender's."""
    if facts.ua.kind != ua_kind or not facts.is_open or facts.context.message.sent_at is None:
        return None
    if 0 <= facts.age <= facts.policy.sent_copy_window:
        return _result(Verdict.SELF, facts, code, facts.ua.reason)
    return None


def explicit_prefetch(facts: Facts) -> Classification | None:
    """HEAD (CiviCRM PR #35328, Mautic #14916) and Sec-Purpose/Purpose prefetch (Mautic #15844)."""
    if facts.hit.method == "HEAD":
        return _result(Verdict.PREFETCH, facts, "head-request", facts.ua.reason)
    if facts.prefetch_header:
        return _result(Verdict.PREFETCH, facts, "prefetch-header", facts.ua.reason)
    return None


def gmail(facts: Facts) -> Classification | None:
    """Gmail's pre-fetch bot is prefetch (GMass [G1], SparkPost [P5]); its content sampler
    (`Gmail-content-sampling`, mssola/user_agent #71) fetching links is a scanner; its image
    proxy is a person opening the mail and never a bot (Mautic #16069 is what happens
    otherwise)."""
    if facts.ua.kind == "gmail-prefetch":
        return _result(Verdict.PREFETCH, facts, facts.ua.reason)
    if facts.ua.kind == "gmail-sampling":
        verdict = Verdict.PREFETCH if facts.is_open else Verdict.SCANNER
        return _result(verdict, facts, facts.ua.reason)
    if facts.ua.kind == "gmail-proxy":
        return _result(Verdict.HUMAN, facts, facts.ua.reason)
    return None


def yahoo(facts: Facts) -> Classification | None:
    """Yahoo/AOL's image proxy fetches when a person opens (uap-core PR #333)."""
    if facts.ua.kind == "yahoo-proxy":
        return _result(Verdict.HUMAN, facts, facts.ua.reason)
    return None


def apple_mpp(facts: Facts) -> Classification | None:
    """Apple MPP fetches every image on delivery through Apple's relay egress (Apple's
    egress-ip-ranges.csv; research 3.2). A pixel fetch from that egress is MPP whatever its user
    agent. Off it, MPP's user agents (the bare WebKit shape of macOS 12+, warmbly open_class.go;
    bare ``Mozilla/5.0``, uap-core #509) count only inside the delivery window (warmbly PR #569
    makes delivery-window timing a condition; its window for probable machine hits is 600 s,
    TrackingMachineWindowProbableSecondsDefault, our probable window): later, the same bare
    WebKit is a person in Apple Mail with MPP off or in Outlook (PR #569's case: an Outlook
    open 24 minutes after sending). Apple Mail on macOS before 12 cannot run MPP
    (uap-core #528): its opens are the reader's."""
    if not facts.is_open or facts.ua.reason == "pre-mpp-apple-mail":
        return None
    nets = _net_reasons(facts, "prefetch")
    if nets:
        return _result(Verdict.PREFETCH, facts, *nets, facts.ua.reason, client="apple-mail")
    mpp_shape = facts.ua.kind in ("webkit-bare", "bare-mozilla")
    if mpp_shape and facts.age < facts.policy.probable_window:
        return _result(
            Verdict.PREFETCH, facts, "delivery-window", facts.ua.reason, client="apple-mail"
        )
    return None


def automated_user_agent(facts: Facts) -> Classification | None:
    """Scanner markers (warmbly abuse.rs), tool and crawler user agents, or none at all; a
    tool on a scanner network is that scanner."""
    kind = facts.ua.kind
    if kind == "scanner":
        return _result(Verdict.SCANNER, facts, facts.ua.reason, *_net_reasons(facts, "scanner"))
    if kind not in ("bot", "empty", "unknown", "bare-mozilla"):
        return None
    in_window = _net_reasons(facts, "scanner", "certain") or (
        _net_reasons(facts, "scanner", "probable")
        if facts.age < facts.policy.probable_window
        else ()
    )
    if in_window and "bot" not in facts.ua.family.lower():  # Googlebot, bingbot: crawlers
        # a tool on a mail-security or scanning network is that scanner (emdash #3298:
        # headless Chrome from Microsoft's network 22 s after sending)
        return _result(Verdict.SCANNER, facts, facts.ua.reason, *in_window)
    return _result(Verdict.BOT, facts, facts.ua.reason, *_net_reasons(facts, "crawler"))


def crawler_network(facts: Facts) -> Classification | None:
    """Google's crawler ranges (EmailEngine's detectAutomatedRequest) with a non-Gmail UA."""
    reasons = _net_reasons(facts, "crawler")
    return _result(Verdict.BOT, facts, *reasons, facts.ua.reason) if reasons else None


def probable_scanner_network(facts: Facts) -> Classification | None:
    """Proofpoint, Mimecast, Cisco: machine inside the probable window only, because browser
    isolation can put a person behind them (warmbly scanner-networks.txt). Azure's and Google's
    own networks speak for clicks: Defender detonation (emdash #3298) and Google's link scanner
    (karaoke-gen PR #870) click from there, but people work on Azure desktops too, so a source
    that already fetched the pixel as a person keeps its click."""
    found = facts.networks_with("scanner", "probable")
    if not found or facts.age >= facts.policy.probable_window:
        return None
    if all(n.scope == "clicks" for n in found) and facts.opened_before_as_human():
        return None
    reasons = tuple(f"network:{n.name}" for n in found)
    return _result(Verdict.SCANNER, facts, *reasons, "probable-window", facts.ua.reason)


def link_burst(facts: Facts) -> Classification | None:
    """Two different links from one source within seconds: a scanner walking the mail
    (warmbly TrackingClickBurstSeconds; Mautic #8692 "every single link")."""
    return _result(Verdict.SCANNER, facts, "link-burst", facts.ua.reason) if facts.burst() else None


def counts_for_burst(event: Any) -> bool:
    """Whether a stored click is evidence of a multi-source burst (see multi_source_burst)."""
    return event.verdict not in MACHINE or not RELATIONAL.isdisjoint(event.reasons)


def multi_source_burst(facts: Facts) -> Classification | None:
    """Clicks on one message from three or more networks within the multi-source window: a
    scanner fleet, not readers (IntellectITBotFilterBundle VelocityBotRatioHelper: 3 distinct
    addresses within 30 s by default). Clicks judged machine for what they are do not count:
    a person clicking right after two known scanners (karaoke-gen PR #870) is no fleet member;
    a click judged machine only for its timing (the checker half of a pair) still does."""
    nearby = facts.nearby_clicks(facts.policy.multi_source_window)
    networks = {e.network for e in nearby if counts_for_burst(e)} | {facts.hit.network}
    if len(networks) >= MULTI_SOURCE_BURST:
        return _result(Verdict.SCANNER, facts, "multi-source-burst", facts.ua.reason)
    return None


def agent_rotation(facts: Facts) -> Classification | None:
    """Three or more distinct browser user agents from one network on one email within the
    rotation window: one machine rotating its user agent, not three readers (gophish #2357:
    clicks from Chrome builds nobody had installed, then an "open" from a Windows 8 Chrome;
    MillionSend PR #22: gateway fleets "with a browser's name on" fetching within
    milliseconds; CIDRAM #600: one address, a different browser on every hit). Browser user
    agents only: Gmail's proxy, mail clients and MPP never count."""
    if len(facts.agents_on_network(facts.policy.rotation_window)) >= ROTATING_AGENTS:
        return _result(Verdict.SCANNER, facts, "agent-rotation", facts.ua.reason)
    return None


def paired_click(facts: Facts) -> Classification | None:
    """The same link clicked seconds apart by two clients on different networks or systems:
    one is a time-of-click scanner (karaoke-gen PR #870, emdash #3298). This click is the
    machine when it carries more machine evidence (`pairing.machine_of`); otherwise the other
    one is, and hindsight (`reconcile`) labels it, keeping this person."""
    nearby = [
        e
        for e in facts.nearby_clicks(facts.policy.pair_window)
        if e.link_index == facts.hit.link_index and e.verdict not in MACHINE
    ]
    me = facts.side() if nearby else None
    for event in nearby:
        other = facts.event_side(event)
        if me is not None and distinct(me, other) and machine_of(other, me) is me:
            return _result(Verdict.SCANNER, facts, "paired-click", facts.ua.reason)
    return None


def machine_source(facts: Facts) -> Classification | None:
    """A source already judged a scanner or bot on this message, still inside the window."""
    if facts.age < facts.policy.probable_window and facts.machine_before():
        return _result(Verdict.SCANNER, facts, "source-seen-as-machine", facts.ua.reason)
    return None


def early_hit(facts: Facts) -> Classification | None:
    """Opens within 60 s and clicks within 30 s of sending are machine (warmbly, GMass, Mautic
    #8692), unless a mail client's own UA or an earlier human open says human: by this source
    (Outlook/Thunderbird open then click, warmbly PR #412), or through Gmail's image proxy (a
    person opened in Gmail, Mautic #16069; the click comes from their browser, another
    source; Google's own link scanner is caught earlier by its network)."""
    if facts.ua.kind == "mail-client" and facts.is_open:
        return None
    if facts.is_open and facts.age < facts.policy.open_window:
        return _result(Verdict.SCANNER, facts, "early-open", facts.ua.reason)
    if (
        not facts.is_open
        and facts.age < facts.policy.click_window
        and not facts.opened_before_as_human()
        and not facts.opened_in_gmail_before()
    ):
        reasons = ("early-click", "click-without-open" if not facts.opened_before() else "")
        return _result(Verdict.SCANNER, facts, *reasons, facts.ua.reason)
    return None


def weak_hints(facts: Facts) -> Classification | None:
    """Strict only: two weak hints together. A click nobody opened before (ValueBuilder [P13])
    that also asks for ``Accept: */*`` or nothing (a browser navigating always asks for
    text/html; research 3.2) is a scanner inside the probable window. Either hint alone called
    real people scanners (issue #16 family 7), so neither decides alone."""
    if not facts.policy.weak_hints_decide or facts.age >= facts.policy.probable_window:
        return None
    if facts.is_open or facts.ua.kind == "mail-client" or facts.opened_before():
        return None
    if facts.hit.accept.strip() in ("", "*/*"):
        return _result(Verdict.SCANNER, facts, "click-without-open", "accept-any", "strict")
    return None


def human(facts: Facts) -> Classification:
    """Nothing says machine: a person, with whatever weak evidence there was kept as reasons."""
    notes = [facts.ua.reason]
    notes += [f"network:{n.name}" for n in facts.networks if n.role != "prefetch"]
    if facts.networks_with("scanner", "probable"):
        notes.append("probable-scanner-network-late")
    if not facts.is_open and not facts.opened_before():
        notes.append("click-without-open")
    if not facts.is_open and facts.hit.accept.strip() in ("", "*/*"):
        notes.append("accept-any")  # a weak hint, kept for the click-pair hindsight
    if facts.is_open and facts.weak_proxy_hint and facts.ua.kind == "browser":
        notes.append("accept-any-no-referer")
    if facts.is_open and facts.age < facts.policy.open_window:
        notes.append("early-open")
    return _result(Verdict.HUMAN, facts, *notes)


RULES: tuple[Rule, ...] = (
    before_send,
    certain_scanner_network,
    after_self_view,
    proxy_at_send,
    client_at_send,
    explicit_prefetch,
    gmail,
    yahoo,
    apple_mpp,
    automated_user_agent,
    crawler_network,
    probable_scanner_network,
    link_burst,
    multi_source_burst,
    agent_rotation,
    paired_click,
    machine_source,
    early_hit,
    weak_hints,
)
