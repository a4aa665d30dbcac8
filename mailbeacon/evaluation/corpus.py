"""Load a labelled corpus and replay it the way the edge and the pipeline would.

A corpus is JSON Lines, one hit per line::

    {"id": "gmail-proxy-1h", "message": "m1", "request": "GET /p/{token}.gif HTTP/1.1",
     "headers": {"User-Agent": "..."}, "ip": "66.249.84.12", "t": 3600, "link": 1,
     "expect": "human", "client": "gmail", "source": "research 3.1; Mautic #16069"}

``t`` is seconds after the message was sent (negative: before). Lines with the same
``message`` are one tracked message, replayed in order of ``t``; ``self_views`` (seconds) and
``strictness`` on any of its lines apply to the whole message. Each hit goes through
`client_address` (as X-Forwarded-For behind one trusted proxy), `build_hit` with the real
catalogue tagger, `Hit.to_dict`, and `services.process_hit` on an in-memory store, so the
classifier sees the context the server would give it; verdicts are read back the way
`mailbeacon stats` reads them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..classify import classify
from ..classify.reconcile import reconcile
from ..errors import InvalidInput
from ..hits import NetworkTagger, build_hit, client_address
from ..model import Link, Message, Settings, Strictness, Verdict
from ..pipeline import process_hit
from ..store.memory import MemoryStore
from ..tokens import TokenClaims, new_message_id

VERDICTS = tuple(v.value for v in Verdict)
_IP_KEY = b"mailbeacon-corpus-replay"
MAX_SECONDS = 10 * 365 * 86400


@dataclass(frozen=True)
class Case:
    """One labelled hit."""

    id: str
    message: str
    method: str
    kind: str
    t: float
    expect: str
    headers: Mapping[str, str]
    ip: str = ""
    link: int = 1
    client: str | None = None
    source: str = ""
    self_views: tuple[float, ...] = ()
    strictness: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What the classifier said about one case."""

    case: Case
    verdict: str
    reasons: tuple[str, ...]
    client: str
    network_tags: tuple[str, ...] = field(default=())

    @property
    def correct(self) -> bool:
        return self.verdict == self.case.expect


class Headers(dict[str, str]):
    """Case-insensitive header lookup, as WSGI gives the edge."""

    def __init__(self, items: Mapping[str, str]) -> None:
        super().__init__({str(k).lower(): str(v) for k, v in items.items()})

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


def _case(data: dict[str, Any], where: str) -> Case:
    try:
        method, path, *_ = str(data["request"]).split()
        kind = "click" if path.startswith("/c/") else "open" if path.startswith("/p/") else ""
        if not kind:
            raise ValueError(f"request path {path!r} is neither /p/ nor /c/")
        expect = str(data["expect"])
        if expect not in VERDICTS:
            raise ValueError(f"expect must be one of {', '.join(VERDICTS)}, got {expect!r}")
        t = float(data["t"])
        if not abs(t) <= MAX_SECONDS:  # also refuses NaN
            raise ValueError(f"t must be within {MAX_SECONDS} seconds of sending, got {t}")
        strictness = data.get("strictness")
        if strictness is not None:
            strictness = Strictness(strictness).value
        return Case(
            id=str(data.get("id") or where),
            message=str(data.get("message") or data.get("id") or where),
            method=method.upper(),
            kind=kind,
            t=t,
            expect=expect,
            headers=Headers(data.get("headers") or {}),
            ip=str(data.get("ip") or ""),
            link=int(data.get("link") or 1),
            client=data.get("client"),
            source=str(data.get("source") or ""),
            self_views=tuple(
                v for v in (float(x) for x in data.get("self_views") or ()) if abs(v) <= MAX_SECONDS
            ),
            strictness=strictness,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(f"{where}: bad corpus case: {exc}") from exc


def load_corpus(path: Path) -> list[Case]:
    """Read a JSONL corpus; a bad line is InvalidInput naming the line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInput(f"cannot read corpus {path}: {exc.strerror or exc}") from exc
    cases = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path}:{number}: not JSON: {exc.msg}") from exc
        if not isinstance(data, dict):
            raise InvalidInput(f"{path}:{number}: expected a JSON object")
        cases.append(_case(data, f"{path.name}:{number}"))
    if not cases:
        raise InvalidInput(f"{path}: the corpus has no cases")
    return cases


def group_by_message(cases: Iterable[Case]) -> Iterator[list[Case]]:
    """Cases per message, in order of first appearance, each sorted by time."""
    groups: dict[str, list[Case]] = {}
    for case in cases:
        groups.setdefault(case.message, []).append(case)
    for group in groups.values():
        yield sorted(group, key=lambda c: c.t)


class _DiscardBus:
    """Replays notify nobody."""

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        pass


def replay(
    cases: Iterable[Case],
    tagger: NetworkTagger,
    *,
    strictness: Strictness | None = None,
    now: datetime | None = None,
) -> list[Outcome]:
    """Classify every case as the running server would, message by message."""
    sent_at = (now or datetime.now(UTC)) - timedelta(days=2)
    outcomes: dict[str, Outcome] = {}
    for group in group_by_message(cases):
        store = MemoryStore()
        level = strictness or Strictness(
            next((c.strictness for c in group if c.strictness), "balanced")
        )
        store.put_settings(Settings(user="sender@example.com", strictness=level))
        links = max(c.link for c in group)
        message = Message(
            id=new_message_id(),
            owner="sender@example.com",
            recipients=("recipient@example.com",),
            subject=group[0].message,
            created_at=sent_at - timedelta(hours=1),
            sent_at=sent_at,
            links=tuple(Link(i, f"https://example.com/page/{i}") for i in range(1, links + 1)),
        )
        store.add_message(message)
        for view in sorted({v for c in group for v in c.self_views}):
            store.add_self_view(message.id, sent_at + timedelta(seconds=view))
        hit_ids: dict[str, tuple[Case, tuple[str, ...]]] = {}
        for case in group:
            kind = case.kind
            claims = TokenClaims(
                kind=kind,
                message_id=message.id,
                link_index=case.link if kind == "click" else None,
                url=f"https://example.com/page/{case.link}" if kind == "click" else None,
            )
            hit = build_hit(
                claims,
                method=case.method,
                headers=case.headers,
                address=client_address("127.0.0.1", case.ip, 1),
                at=sent_at + timedelta(seconds=case.t),
                ip_key=_IP_KEY,
                tagger=tagger,
            )
            process_hit(store, _DiscardBus(), classify, hit.to_dict())
            hit_ids[hit.id] = (case, hit.network_tags)
        for event in reconcile(store.list_events(message.id)):
            case, tags = hit_ids[event.id]
            outcomes[case.id] = Outcome(
                case, event.verdict.value, event.reasons, event.client, tags
            )
    return list(outcomes.values())
