"""The owner's strictness is read only for a hit whose verdict it decides (pipeline.judge): on
Firestore it is a document read, and most hits are judged the same at every level."""

from __future__ import annotations

from mailbeacon.bus.memory import MemoryBus
from mailbeacon.classify import classify
from mailbeacon.model import Settings, Strictness, Verdict
from mailbeacon.pipeline import process_hits
from mailbeacon.store.memory import MemoryStore

from .test_rules import GMAIL_PROXY, MESSAGE, hit


class AskedStore(MemoryStore):
    """The memory store, noting each time the pipeline asks for an owner's strictness."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def owner_strictness(self, owner: str) -> Strictness:
        self.asked.append(owner)
        return super().owner_strictness(owner)


def stored_with(strictness: Strictness | None) -> AskedStore:
    store = AskedStore()
    store.add_message(MESSAGE)
    if strictness is not None:
        store.put_settings(Settings(user=MESSAGE.owner, strictness=strictness))
    return store


def test_a_hit_whose_verdict_depends_on_it_follows_the_owners_strictness() -> None:
    early = hit(t=100).to_dict()  # inside strict's open window, past balanced's
    strict, balanced = stored_with(Strictness.STRICT), stored_with(None)
    [as_strict] = process_hits(strict, MemoryBus(), classify, [early])
    [as_balanced] = process_hits(balanced, MemoryBus(), classify, [early])
    assert as_strict.verdict is Verdict.SCANNER and as_balanced.verdict is Verdict.HUMAN
    assert strict.asked == [MESSAGE.owner] and balanced.asked == [MESSAGE.owner]


def test_hits_judged_alike_at_every_level_never_ask() -> None:
    store = stored_with(Strictness.STRICT)
    hours = [hit(t=7200 + 3600 * n, ua=GMAIL_PROXY).to_dict() for n in range(3)]
    bot = hit(t=100, ua="python-requests/2.32").to_dict()  # a machine at every level
    events = process_hits(store, MemoryBus(), classify, [*hours, bot])
    assert [e.verdict for e in events] == [Verdict.HUMAN] * 3 + [Verdict.BOT]
    assert store.asked == []
