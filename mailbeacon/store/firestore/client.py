"""The Firestore connection every part shares: the client, the collection prefix, the RPC options.

google-cloud-firestore is imported on first use, never at module import, so the pixel (which
never touches the store) does not pay for it. Every collection name takes the prefix, so
tests and tenants never collide.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ...errors import StoreUnavailable
from .docs import doc_id


class Connection:
    """Takes a ready client, or makes one on first use."""

    def __init__(
        self,
        client: Any = None,
        *,
        project: str | None = None,
        database: str | None = None,
        prefix: str = "",
        timeout: float = 20.0,
    ) -> None:
        self._client_obj = client
        self._project = project
        self._database = database
        self.prefix = prefix
        self.timeout = timeout
        self._lock = threading.Lock()
        self._rpc: dict[str, Any] = {}

    @property
    def client(self) -> Any:
        if self._client_obj is None:
            with self._lock:
                if self._client_obj is None:
                    from google.cloud import firestore

                    kwargs = {"database": self._database} if self._database else {}
                    self._client_obj = firestore.Client(project=self._project, **kwargs)
        if not self._rpc:
            from google.api_core.retry import Retry, if_transient_error

            # The client's default retry ignores the timeout and can wait minutes; a consumer
            # should rather fail soon and let Pub/Sub redeliver.
            retry = Retry(if_transient_error, 0.1, 2.0, 2.0, timeout=self.timeout)
            self._rpc = {"retry": retry, "timeout": self.timeout}
        return self._client_obj

    @property
    def rpc(self) -> dict[str, Any]:
        """The retry and timeout every call passes."""
        if not self._rpc:
            self.client  # noqa: B018 (made with the client)
        return self._rpc

    def col(self, name: str) -> Any:
        return self.client.collection(self.prefix + name)

    def message_ref(self, message_id: str) -> Any:
        return self.col("messages").document(doc_id(message_id))

    def event_ref(self, event_id: str) -> Any:
        return self.col("events").document(doc_id(event_id))

    def record_ref(self, namespace: str, key: str) -> Any:
        return self.records(namespace).document(doc_id(key))

    def records(self, namespace: str) -> Any:
        """A namespace's collection: ``recordsets/{namespace}/records``."""
        return self.col("recordsets").document(doc_id(namespace)).collection("records")

    @contextmanager
    def translated(self, what: str) -> Iterator[None]:
        """Vendor errors become StoreUnavailable (transient: the caller may retry)."""
        from google.api_core import exceptions as gexc

        try:
            yield
        except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
            raise StoreUnavailable(f"Firestore {what} failed: {exc}") from exc

    def delete_all(self, refs: list[Any]) -> None:
        """Delete documents in batches of at most 400 writes (Firestore's limit is 500)."""
        for start in range(0, len(refs), 400):
            batch = self.client.batch()
            for ref in refs[start : start + 400]:
                batch.delete(ref)
            batch.commit(**self.rpc)
