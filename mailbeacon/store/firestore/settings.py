"""The SettingsStore port on Firestore (``settings/{user}``), and the owners' strictness that
classifying a hit needs, from a short cache: settings change rarely, and a minute's staleness
saves a read on every hit."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from ...errors import StoreUnavailable
from ...model import Settings, Strictness
from .client import Connection
from .docs import doc_id

ATTEMPTS = 20
"""A settings change is retried this often against other writers of the same user (each
attempt reads the document again); beyond that the caller gets StoreUnavailable."""
_turns = tuple(threading.Lock() for _ in range(64))
"""Per-process turns for changes to one user's settings (by a hash of the user)."""


class FirestoreSettings:
    """One document per user holding the settings as JSON."""

    def __init__(self, fs: Connection, *, ttl: float = 60.0) -> None:
        self.fs = fs
        self.ttl = ttl
        self._lock = threading.Lock()
        self._strictness: dict[str, tuple[float, Strictness]] = {}

    def get_settings(self, user: str) -> Settings:
        with self.fs.translated("get_settings"):
            snap = self.fs.col("settings").document(doc_id(user.lower())).get(**self.fs.rpc)
        if not snap.exists:
            return Settings(user=user.lower())
        return Settings.from_dict(json.loads(snap.get("json")))

    def put_settings(self, settings: Settings) -> None:
        user = settings.user.lower()
        data = {**settings.to_dict(), "user": user}
        with self.fs.translated("put_settings"):
            self.fs.col("settings").document(doc_id(user)).set(
                {"json": json.dumps(data)}, **self.fs.rpc
            )
        self.forget(user)

    def change_settings(self, user: str, change: Callable[[Settings], Settings]) -> Settings:
        """A Firestore transaction: read, apply, write; retried by the client on contention."""
        from google.cloud import firestore

        name = user.lower()
        ref = self.fs.col("settings").document(doc_id(name))

        @firestore.transactional
        def apply(transaction: Any) -> Settings:
            snap = ref.get(transaction=transaction)
            current = (
                Settings.from_dict(json.loads(snap.get("json")))
                if snap.exists
                else Settings(user=name)
            )
            updated = change(current)
            if updated != current:
                data = {**updated.to_dict(), "user": name}
                transaction.set(ref, {"json": json.dumps(data)})
            return updated

        # Writers in this process take turns before Firestore sees them: its transactions lock
        # what they read, so threads of one process changing one user's settings would only
        # abort each other (eight at once livelock the emulator for minutes); other processes
        # are kept apart by the transaction itself.
        with _turns[hash(name) % len(_turns)], self.fs.translated("change_settings"):
            try:
                updated = apply(self.fs.client.transaction(max_attempts=ATTEMPTS))
            except ValueError as exc:
                if not str(exc).startswith("Failed to commit transaction"):
                    raise  # the change's own refusal
                raise StoreUnavailable(f"Firestore change_settings: {exc}") from exc
        self.forget(name)
        return updated

    def strictness(self, owner: str) -> Strictness:
        """The owner's strictness, read at most once a ``ttl`` per process."""

        def fresh() -> Strictness | None:
            cached = self._strictness.get(owner)
            if cached is not None and time.monotonic() - cached[0] < self.ttl:
                return cached[1]
            return None

        if (known := fresh()) is not None:
            return known
        with self._lock:  # one read per owner, however many hits arrive at once
            if (known := fresh()) is not None:
                return known
            strictness = self.get_settings(owner).strictness
            self._strictness[owner] = (time.monotonic(), strictness)
            return strictness

    def forget(self, user: str) -> None:
        """The user's settings changed or were deleted here: read them again next time."""
        self._strictness.pop(user, None)
