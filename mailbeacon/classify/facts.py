"""Everything the rules look at, worked out once per hit from the hit and its context."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..catalogs import CatalogSource, source
from ..model import Event, Hit, MessageContext, Verdict
from .pairing import Side
from .policy import Policy, policy_for
from .useragent import UserAgentInfo, inspect

_PREFETCH_WORDS = ("prefetch", "prerender", "preview")


@dataclass(frozen=True)
class Facts:
    """A hit, read: its age, its user agent, its networks and what its source did before."""

    hit: Hit
    context: MessageContext
    policy: Policy
    age: float  # seconds after sending; negative before it
    ua: UserAgentInfo
    networks: tuple[CatalogSource, ...]
    same_source: tuple[Event, ...]  # earlier events of this message from the same address

    @property
    def is_open(self) -> bool:
        return self.hit.kind == "open"

    def networks_with(self, role: str, certainty: str | None = None) -> list[CatalogSource]:
        return [
            n
            for n in self.networks
            if n.role == role and (certainty is None or n.certainty == certainty)
        ]

    @property
    def prefetch_header(self) -> bool:
        purpose = self.hit.purpose.lower()
        return any(word in purpose for word in _PREFETCH_WORDS)

    @property
    def weak_proxy_hint(self) -> bool:
        """Accept */* (or none) and no Referer: a proxy-style fetch. Unverified, so weak."""
        return self.hit.accept.strip() in ("", "*/*") and not self.hit.has_referer

    def _before(self) -> list[Event]:
        # the pipeline may process hits out of order: only what happened before counts here
        return [e for e in self.same_source if e.at <= self.hit.at]

    def opened_before(self) -> bool:
        """Did this source fetch the pixel before this click?"""
        return any(e.kind == "open" for e in self._before())

    def opened_before_as_human(self) -> bool:
        return any(e.kind == "open" and e.verdict is Verdict.HUMAN for e in self._before())

    def opened_in_gmail_before(self) -> bool:
        """Did a reader open this message through Gmail's image proxy before this hit?"""
        return any(
            e.kind == "open" and e.verdict is Verdict.HUMAN and "gmail-image-proxy" in e.reasons
            for e in self.context.earlier
            if e.at <= self.hit.at
        )

    def machine_before(self) -> bool:
        """Was this source already judged a scanner or bot on this message?"""
        return any(e.verdict in (Verdict.SCANNER, Verdict.BOT) for e in self._before())

    def burst(self) -> bool:
        """A different link of this message clicked by this source moments ago."""
        if self.hit.kind != "click":
            return False
        window = self.policy.burst_window
        return any(
            e.kind == "click"
            and e.link_index != self.hit.link_index
            and abs((self.hit.at - e.at).total_seconds()) <= window
            for e in self.same_source
        )

    def side(self) -> Side:
        """This hit as one side of a click pair."""
        return Side(
            0.0,
            self.hit.user_agent,
            self.hit.ip_hash,
            self.hit.network,
            tuple(n.name for n in self.networks),
            self.opened_before_as_human(),
            self.hit.accept.strip() in ("", "*/*"),
        )

    def event_side(self, event: Event) -> Side:
        """An earlier event as a side, timed relative to this hit."""
        opened = any(
            e.kind == "open" and e.verdict is Verdict.HUMAN and e.ip_hash == event.ip_hash
            for e in self.context.earlier
            if e.at <= event.at
        )
        tags = tuple(r.removeprefix("network:") for r in event.reasons if r.startswith("network:"))
        at = (event.at - self.hit.at).total_seconds()
        accept_any = "accept-any" in event.reasons
        return Side(at, event.user_agent, event.ip_hash, event.network, tags, opened, accept_any)

    def nearby_clicks(self, window: float) -> list[Event]:
        """Clicks on this message from other sources within ``window`` seconds of this one."""
        if self.hit.kind != "click":
            return []
        return [
            e
            for e in self.context.earlier
            if e.kind == "click"
            and e.id != self.hit.id
            and e.ip_hash != self.hit.ip_hash
            and abs((self.hit.at - e.at).total_seconds()) <= window
        ]

    def agents_on_network(self, window: float) -> set[str]:
        """Distinct browser user agents on this message from this hit's network within
        ``window`` seconds of it, this hit's included (a person's devices share a network,
        but rarely three browsers at once; a fleet rotating its user agent does)."""
        if not self.hit.network or self.ua.kind != "browser":
            return set()
        agents = {self.hit.user_agent}
        for e in self.context.earlier:
            if (
                e.network == self.hit.network
                and e.id != self.hit.id
                and e.kind in ("open", "click")
                and abs((self.hit.at - e.at).total_seconds()) <= window
                and inspect(e.user_agent).kind == "browser"
            ):
                agents.add(e.user_agent)
        return agents

    def after_self_view(self) -> bool:
        window = self.policy.self_view_window
        return any(
            0 <= (self.hit.at - at).total_seconds() <= window for at in self.context.self_views
        )


def _age(at: datetime, reference: datetime) -> float:
    try:
        return (at - reference).total_seconds()
    except TypeError:  # naive vs aware: treat as unknown timing, i.e. long after sending
        return float("inf")


def gather(hit: Hit, context: MessageContext) -> Facts:
    """Read a hit in its context."""
    known = (source(tag) for tag in hit.network_tags)
    networks = tuple(n for n in known if n is not None and n.scope in ("all", f"{hit.kind}s"))
    same = (
        tuple(e for e in context.earlier if e.ip_hash == hit.ip_hash and e.id != hit.id)
        if hit.ip_hash
        else ()
    )
    return Facts(
        hit=hit,
        context=context,
        policy=policy_for(context.strictness),
        age=_age(hit.at, context.message.reference_time),
        ua=inspect(hit.user_agent),
        networks=networks,
        same_source=same,
    )
