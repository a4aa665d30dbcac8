"""Web Push: alerts to the browsers a user subscribed, through their vendors' push services.

Each message is encrypted to the browser's keys per RFC 8291 (``aes128gcm``, RFC 8188) and
signed with our VAPID key per RFC 8292, by ``pywebpush``; the push service (RFC 8030) only
relays it. The VAPID key pair is made once per deployment: in the cloud it is a secret given
through configuration (MAILBEACON_VAPID_PRIVATE_KEY), locally a 0600 file in the data dir
created on first use. A browser's subscription is only valid with the public key it was made
with, so the key must never change under a running deployment.

One alert may go to several browsers: each (alert, subscription) is recorded once sent, so a
retry after a 429 or 5xx on one browser never pushes twice to another. 404 and 410 mean the
browser dropped the subscription (RFC 8030 section 7.3): it is deleted and nothing is
reported. Any other refusal (a 400 payload, a 401/403 VAPID refusal, a 413) is permanent.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mailbeacon.clock import Clock, iso
from mailbeacon.errors import DeliveryFailed, InvalidInput
from mailbeacon.files import private_dir
from mailbeacon.model import Settings
from mailbeacon.push import EndpointRules, Subscription, list_subscriptions, mark_success
from mailbeacon.records import Namespace, Records
from mailbeacon.retry_after import header_seconds

from ..post import Post

log = logging.getLogger(__name__)

KEY_FILE = "vapid-private.pem"
TTL_SECONDS = 24 * 3600
"""How long a push service keeps an alert for a browser that is offline (the TTL header)."""
GONE = {404, 410}
DELIVERIES = Namespace.DELIVERIES


class VapidKeys:
    """Our application server key pair (RFC 8292), as py_vapid's signer."""

    def __init__(self, vapid: Any) -> None:
        self.vapid = vapid

    @classmethod
    def from_secret(cls, value: str) -> VapidKeys:
        """A PEM private key, or the raw 32-byte key in base64url (what web-push tools print)."""
        from py_vapid import Vapid

        text = value.strip()
        try:
            if "BEGIN" in text:
                return cls(Vapid.from_pem(text.encode()))
            return cls(Vapid.from_string(text))
        except Exception as exc:  # py_vapid raises ValueError, binascii.Error, VapidException
            raise InvalidInput(f"MAILBEACON_VAPID_PRIVATE_KEY is not a P-256 key: {exc}") from None

    @classmethod
    def generate(cls) -> VapidKeys:
        from py_vapid import Vapid

        vapid = Vapid()
        vapid.generate_keys()
        return cls(vapid)

    @classmethod
    def load_or_create(cls, data_dir: Path) -> VapidKeys:
        """The data dir's key, made on first use: written aside, then linked into place, so two
        processes starting together agree on one key and nobody reads a half-written file."""
        path = private_dir(data_dir) / KEY_FILE
        if not path.exists():
            fresh = cls.generate()
            temporary = path.with_name(f".{KEY_FILE}.{os.getpid()}.{threading.get_ident()}")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(fresh.pem())
            try:
                os.link(temporary, path)
                log.info("made the VAPID key pair for Web Push: %s", path)
            except FileExistsError:
                pass
            finally:
                temporary.unlink()
        return cls.from_secret(path.read_text())

    def pem(self) -> bytes:
        return bytes(self.vapid.private_pem())

    @property
    def public_key(self) -> str:
        """The uncompressed P-256 point, base64url without padding: the browser's
        ``applicationServerKey`` and the ``k`` of our VAPID header."""
        from cryptography.hazmat.primitives import serialization

        raw = self.vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class VapidSource:
    """The deployment's keys, loaded (or made) on first use: a pixel never pays for them."""

    def __init__(self, secret: str | None, data_dir: Path | None) -> None:
        self.secret = secret
        self.data_dir = data_dir
        self._keys: VapidKeys | None = None
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return bool(self.secret or self.data_dir)

    def get(self) -> VapidKeys | None:
        if self._keys is None and self.available:
            with self._lock:
                if self._keys is None:
                    if self.secret:
                        self._keys = VapidKeys.from_secret(self.secret)
                    elif self.data_dir is not None:
                        self._keys = VapidKeys.load_or_create(self.data_dir)
        return self._keys


def urgency(kind: str) -> str:
    """RFC 8030 section 5.3: a click matters now, a digest can wait for a charger."""
    return {"clicked": "high", "replied": "high", "digest": "low"}.get(kind, "normal")


class BrowserPushChannel:
    """Pushes ``post.push`` to every browser the user subscribed."""

    name = "browser"
    self_retrying = False

    def __init__(
        self,
        records: Records,
        keys: VapidSource,
        subject: str,
        clock: Clock,
        rules: EndpointRules,
        timeout: float = 10.0,
        ttl: int = TTL_SECONDS,
        forget: Callable[[Subscription], None] | None = None,
    ) -> None:
        self.records = records
        self.keys = keys
        self.subject = subject
        self.clock = clock
        self.rules = rules
        self.timeout = timeout
        self.ttl = ttl
        self.forget = forget or self._forget
        self._session: Any = None

    def enabled(self, settings: Settings) -> bool:
        return self.keys.available and bool(list_subscriptions(self.records, settings.user))

    def _forget(self, subscription: Subscription) -> None:
        from mailbeacon.push import delete_subscription

        delete_subscription(self.records, subscription.user, subscription.id)

    def send(self, post: Post, settings: Settings) -> None:
        import requests

        keys = self.keys.get()
        if keys is None:
            raise DeliveryFailed(self.name, "no VAPID key configured", permanent=True)
        if self._session is None:
            self._session = requests.Session()
        data = json.dumps(post.push, separators=(",", ":"))
        transient: list[DeliveryFailed] = []
        permanent: list[DeliveryFailed] = []
        for subscription in list_subscriptions(self.records, settings.user):
            marker = f"{post.key}/{self.name}/{subscription.id}"
            if self.records.get_record(DELIVERIES, marker) is not None:
                continue  # this browser already has it (a retry for another browser)
            try:
                self.rules.check(subscription.endpoint)  # stored before a rule tightened?
            except InvalidInput as exc:
                log.warning("dropping a push subscription of %s: %s", settings.user, exc)
                self.forget(subscription)
                continue
            try:
                self._push(keys, subscription, data, urgency(str(post.push.get("kind"))))
            except DeliveryFailed as exc:
                if exc.status in GONE:
                    log.info("push subscription %s is gone (%s): removed", subscription.id, exc)
                    self.forget(subscription)
                    continue
                (permanent if exc.permanent else transient).append(exc)
                continue
            now = self.clock.now()
            self.records.put_record(DELIVERIES, marker, {"state": "sent", "at": iso(now)})
            mark_success(self.records, subscription, now)
        if transient:
            waits = [e.retry_after for e in transient if e.retry_after is not None]
            raise DeliveryFailed(
                self.name,
                "; ".join(e.detail for e in transient),
                permanent=False,
                retry_after=max(waits) if waits else None,
                status=transient[0].status,
            )
        if permanent:
            raise DeliveryFailed(
                self.name,
                "; ".join(e.detail for e in permanent),
                permanent=True,
                status=permanent[0].status,
            )

    def _push(self, keys: VapidKeys, subscription: Subscription, data: str, urgent: str) -> None:
        import requests
        from pywebpush import WebPushException, webpush

        host = subscription.endpoint_host
        try:
            webpush(
                subscription.info(),
                data,
                vapid_private_key=keys.vapid,
                vapid_claims={"sub": self.subject},  # a fresh dict: webpush adds aud and exp
                content_encoding="aes128gcm",
                timeout=self.timeout,
                ttl=self.ttl,
                headers={"Urgency": urgent},
                requests_session=self._session,
            )
        except WebPushException as exc:
            response = exc.response
            if response is None:
                raise DeliveryFailed(self.name, f"{host}: {exc}", permanent=True) from exc
            status = response.status_code
            text = (response.text or "").strip()[:100]
            raise DeliveryFailed(
                self.name,
                f"{host} answered {status} {text}".strip(),
                permanent=not (status == 429 or status >= 500),
                retry_after=header_seconds(response.headers) if status in (429, 503) else None,
                status=status,
            ) from exc
        except requests.RequestException as exc:
            raise DeliveryFailed(self.name, f"{host} unreachable: {exc}", permanent=False) from exc
