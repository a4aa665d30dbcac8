"""The Bus port on Google Cloud Pub/Sub, and the consumer side that Cloud Functions call.

Publishing is one POST to Pub/Sub's REST API (``topics.publish``) with a bearer token from
google-auth (none against the emulator). We avoid google-cloud-pubsub here on purpose: its gRPC
stack costs about 0.4 s of imports, and the pixel pays every import at cold start. The call
returns once Pub/Sub has stored the message, so a hit is durable before the pixel answers.

Delivery is at least once. ``deliver`` turns one pushed message into a handler call: a message
that is not JSON is acknowledged and logged (retrying cannot fix it); a handler's exception
propagates, so the function fails and Pub/Sub redelivers. Idempotency lives in the handlers
(an event's id is its hit's id, and events are stored insert-if-absent).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from typing import Any

from ..errors import BusUnavailable, InvalidInput
from ..json_input import read_json
from . import DEFAULT_TOPIC_PREFIX, Handler, topic_ids

log = logging.getLogger(__name__)

SCOPE = "https://www.googleapis.com/auth/pubsub"
ATTRIBUTES = ("kind", "message_id")
"""Payload fields copied into message attributes, for filters and for reading the logs."""


class _Local(threading.local):
    conn: Any = None


class BearerAuth:
    """Authorization headers for Pub/Sub's REST API: a bearer token from Application Default
    Credentials, fetched once and refreshed when it has expired."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._credentials: Any = None

    def headers(self) -> dict[str, str]:
        with self._lock:
            if self._credentials is None:
                import google.auth

                self._credentials, _ = google.auth.default(scopes=[SCOPE])
            if not self._credentials.valid:
                from google.auth.transport.requests import Request

                self._credentials.refresh(Request())
            return {"Authorization": f"Bearer {self._credentials.token}"}


class PubsubBus:
    """Publishes to ``projects/{project}/topics/{prefix}{topic}``; records consumer handlers.

    The POST goes through http.client (already loaded with the web stack) on a kept-alive
    connection per thread. ``session`` (anything with requests' ``post``) replaces that
    transport, for instrumentation.
    """

    def __init__(
        self,
        project: str | None,
        *,
        topic_prefix: str = DEFAULT_TOPIC_PREFIX,
        emulator_host: str | None = None,
        session: Any = None,
        timeout: float = 10.0,
    ) -> None:
        if not project:
            raise BusUnavailable("Pub/Sub needs a project: set GOOGLE_CLOUD_PROJECT")
        self.project = project
        self.topics = topic_ids(topic_prefix)
        self.emulator_host = emulator_host
        self.host = self.emulator_host or "pubsub.googleapis.com"
        self.base_url = f"{'http' if self.emulator_host else 'https'}://{self.host}"
        self.timeout = timeout
        self.handlers: dict[str, Handler] = {}
        self.session = session
        self._local = _Local()
        self._auth = BearerAuth()

    def topic_path(self, topic: str) -> str:
        return f"projects/{self.project}/topics/{self.topics.get(topic, topic)}"

    def subscribe(self, topic: str, handler: Handler) -> None:
        """Remember who consumes ``topic``; the Cloud Function for that topic calls it."""
        self.handlers[topic] = handler

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, separators=(",", ":")).encode()
        attributes = {k: str(payload[k]) for k in ATTRIBUTES if payload.get(k) not in (None, "")}
        message: dict[str, Any] = {"data": base64.b64encode(data).decode("ascii")}
        if attributes:
            message["attributes"] = attributes
        path = f"/v1/{self.topic_path(topic)}:publish"
        try:
            status, text = self._post(path, {"messages": [message]})
        except BusUnavailable:
            raise
        except Exception as exc:  # transport and credential errors alike
            raise BusUnavailable(f"publishing to {topic}: {exc!r}") from exc
        if status != 200:
            raise BusUnavailable(f"publishing to {topic}: HTTP {status} {text[:200]}")

    def _post(self, path: str, body: dict[str, Any]) -> tuple[int, str]:
        if self.session is not None:
            response = self.session.post(self.base_url + path, json=body, timeout=self.timeout)
            return response.status_code, response.text
        import http.client

        headers = {"Content-Type": "application/json", **self._auth_headers()}
        encoded = json.dumps(body).encode()
        for attempt in (1, 2):  # a kept-alive connection the server closed is retried once
            conn = self._local.conn
            reused = conn is not None
            if conn is None:
                kind = (
                    http.client.HTTPConnection
                    if self.emulator_host
                    else http.client.HTTPSConnection
                )
                conn = self._local.conn = kind(self.host, timeout=self.timeout)
            try:
                conn.request("POST", path, encoded, headers)
                response = conn.getresponse()
                return response.status, response.read().decode("utf-8", "replace")
            except (http.client.HTTPException, OSError):
                conn.close()
                self._local.conn = None
                if not reused or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _auth_headers(self) -> dict[str, str]:
        """A bearer token from Application Default Credentials (none for the emulator)."""
        return {} if self.emulator_host else self._auth.headers()


def decode(message: dict[str, Any]) -> dict[str, Any] | None:
    """A pushed Pub/Sub message's JSON object payload, or None when it has none."""
    try:
        data = base64.b64decode(message.get("data") or "", validate=True)
    except (binascii.Error, ValueError, TypeError):
        return None
    return parse(data)


def parse(data: bytes) -> dict[str, Any] | None:
    """A message's data as our JSON object payload, or None when it is not one."""
    try:
        payload = read_json(data, what="the message")
    except InvalidInput:
        return None
    return payload if isinstance(payload, dict) else None


def deliver(handler: Handler | None, topic: str, cloud_event: Any) -> None:
    """Hand one Pub/Sub CloudEvent to ``handler``; raise to have it delivered again."""
    data = cloud_event.data if hasattr(cloud_event, "data") else cloud_event["data"]
    message = (data or {}).get("message") or {}
    message_id = message.get("messageId") or message.get("message_id") or "?"
    payload = decode(message)
    if payload is None:
        log.error("acknowledging malformed %s message %s: not a JSON object", topic, message_id)
        return
    if handler is None:
        log.error("no handler for %s; acknowledging message %s", topic, message_id)
        return
    handler(payload)
