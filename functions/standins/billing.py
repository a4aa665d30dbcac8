"""Google's meter: count what Firestore and Pub/Sub would bill, by wrapping the clients at
their RPC boundary (Firestore bills per document read and written, Pub/Sub per message
published: https://cloud.google.com/firestore/pricing, https://cloud.google.com/pubsub/pricing).

The Firestore client's generated API object is wrapped: every document a get or a query
returns is one read (an empty query or a missing document still costs one), every write in a
commit is one write of its document, with the time it was sent. Pub/Sub publishes are counted
by wrapping the HTTP session PubsubBus posts through.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Counts:
    reads: int = 0
    read_paths: Counter[str] = field(default_factory=Counter)
    """Reads by document path (a query's by ``{parent}/{collection}/*``)."""
    writes: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    publishes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def total_writes(self) -> int:
        return sum(len(times) for times in self.writes.values())

    def max_writes_per_second(self, path_contains: str = "") -> int:
        """The most writes any one document took within any one-second window."""
        return self.busiest_second(path_contains)[0]

    def busiest_second(self, path_contains: str = "") -> tuple[int, str, list[float]]:
        """(the most writes one document took within one second, that document, the send
        times of all its writes): what a failed assertion should show."""
        worst: tuple[int, str, list[float]] = (0, "", [])
        for path, times in self.writes.items():
            if path_contains not in path:
                continue
            times = sorted(times)
            start = 0
            for end, t in enumerate(times):
                while t - times[start] >= 1.0:
                    start += 1
                if end - start + 1 > worst[0]:
                    worst = (end - start + 1, path, times)
        return worst


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _write_path(write: Any) -> str:
    update = _field(write, "update")
    if update:
        return _field(update, "name")
    transform = _field(write, "transform")
    if transform:
        return _field(transform, "document")
    return _field(write, "delete") or "?"


class CountingFirestoreApi:
    """Stands in for ``client._firestore_api`` and counts reads and writes."""

    def __init__(self, api: Any, counts: Counts) -> None:
        self._api = api
        self.counts = counts

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)

    def batch_get_documents(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for response in self._api.batch_get_documents(*args, **kwargs):
            found = _field(response, "found")
            name = str(_field(found, "name") if found else _field(response, "missing"))
            with self.counts.lock:
                self.counts.reads += 1
                self.counts.read_paths[name] += 1
            yield response

    def run_query(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        request = kwargs.get("request") or args[0]
        query = _field(request, "structured_query")
        collection = _field(_field(query, "from_")[0], "collection_id")
        where = f"{_field(request, 'parent')}/{collection}/*"
        found = 0
        for response in self._api.run_query(*args, **kwargs):
            if _field(response, "document"):
                found += 1
            yield response
        with self.counts.lock:
            self.counts.reads += max(found, 1)
            self.counts.read_paths[where] += max(found, 1)

    def commit(self, *args: Any, **kwargs: Any) -> Any:
        request = kwargs.get("request") or args[0]
        sent = time.monotonic()
        result = self._api.commit(*args, **kwargs)
        with self.counts.lock:
            for write in _field(request, "writes") or ():
                self.counts.writes[_write_path(write)].append(sent)
        return result


def count_firestore(client: Any, counts: Counts) -> Any:
    """Wrap a google.cloud.firestore.Client so ``counts`` sees every read and write."""
    client._firestore_api_internal = CountingFirestoreApi(client._firestore_api, counts)
    return client


class CountingSession:
    """Wraps a requests-like session: every publish POST is one publish."""

    def __init__(self, session: Any, counts: Counts) -> None:
        self._session = session
        self.counts = counts

    def post(self, url: str, **kwargs: Any) -> Any:
        response = self._session.post(url, **kwargs)
        if url.endswith(":publish"):
            with self.counts.lock:
                self.counts.publishes += len(kwargs.get("json", {}).get("messages", []))
        return response
