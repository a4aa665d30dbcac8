"""A Web Push service stand-in on 127.0.0.1, and browsers' subscription keys made in the test.

It does what a push service does with an application server's request, from the documents:

- RFC 8030 (Generic Event Delivery Using HTTP Push), section 5: the push message is a POST to
  the subscription's endpoint with a ``TTL`` header (required) and optionally ``Urgency``
  (section 5.3: very-low, low, normal, high); success is 201 Created; section 7.3 and the
  services' docs: an expired or unsubscribed endpoint answers 404 or 410.
- RFC 8292 (VAPID), sections 2-4: ``Authorization: vapid t=<JWT>, k=<public key>``; the JWT is
  ES256-signed (JWS, the signature being the 64-byte r||s), its ``aud`` is the origin of the
  endpoint, ``exp`` at most 24 hours ahead, ``sub`` a ``mailto:`` or ``https:`` contact; ``k``
  is the uncompressed P-256 point the subscription was made with (else 403, section 4.2).
- RFC 8291 (Message Encryption for Web Push) with RFC 8188's ``aes128gcm`` coding: the body
  decrypts with the browser's private key (the ``p256dh`` pair) and its ``auth`` secret. We
  decrypt with ``http_ece`` (the reference implementation of RFC 8188) and the keys the test
  made, exactly as the browser would.
- W3C Push API (https://www.w3.org/TR/push-api/, ``PushSubscription.toJSON()``): the
  subscription a page sends to its server is ``{"endpoint", "keys": {"p256dh", "auth"}}``,
  both keys base64url.

Nothing here imports Mailbeacon: it checks what arrives on the wire.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .loopback import Answer, LoopbackServer

URGENCIES = ("very-low", "low", "normal", "high")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class BrowserKeys:
    """What a browser makes when a page subscribes: a P-256 key pair and a 16-byte secret."""

    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(raw)

    def subscription(self, endpoint: str) -> dict[str, Any]:
        """``PushSubscription.toJSON()``."""
        return {"endpoint": endpoint, "keys": {"p256dh": self.p256dh, "auth": b64url(self.auth)}}


class VapidRefused(ValueError):
    """An Authorization header a push service would refuse (the message says why)."""


def _require(condition: bool, why: str) -> None:
    if not condition:
        raise VapidRefused(why)


def verify_vapid(authorization: str, endpoint: str, now: float | None = None) -> dict[str, Any]:
    """Check an RFC 8292 Authorization header for ``endpoint``; returns the claims and ``k``.

    Raises VapidRefused naming what is wrong.
    """
    scheme, _, params = authorization.partition(" ")
    _require(scheme.lower() == "vapid", f"not a vapid Authorization: {authorization[:30]!r}")
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    _require(set(parts) >= {"t", "k"}, f"vapid needs t= and k=, got {sorted(parts)}")
    header_b64, claims_b64, signature_b64 = parts["t"].split(".")
    header = json.loads(unb64url(header_b64))
    _require(header.get("alg") == "ES256", f"alg {header.get('alg')!r} is not ES256")
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(parts["k"]))
    signature = unb64url(signature_b64)
    _require(len(signature) == 64, "a JWS ES256 signature is r||s, 64 bytes")
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise VapidRefused("the VAPID JWT signature does not verify with k") from None
    claims = json.loads(unb64url(claims_b64))
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(endpoint))
    _require(claims.get("aud") == origin, f"aud {claims.get('aud')!r} is not {origin!r}")
    moment = time.time() if now is None else now
    _require(moment < int(claims["exp"]) <= moment + 24 * 3600, "exp must be within 24 hours")
    sub = str(claims.get("sub", ""))
    _require(sub.startswith(("mailto:", "https://")), f"sub {sub!r} is no mailto: or https: URL")
    return {"claims": claims, "k": parts["k"]}


@dataclass
class Received:
    """One push message as the browser would get it."""

    path: str
    headers: dict[str, str]
    """Lower-cased names."""
    payload: Any
    vapid: dict[str, Any]


class PushService:
    """Endpoints ``{url}/push/{name}``, one per subscription made with ``subscribe``.

    Each request is checked (VAPID, headers) and decrypted; a request that fails a check is
    answered as a push service would (400/401/403) and recorded in ``refused``. Tests script
    other answers per endpoint (410 for an expired subscription, 429, 5xx).
    """

    def __init__(self, application_server_key: str | None = None) -> None:
        self.application_server_key = application_server_key
        self.browsers: dict[str, BrowserKeys] = {}
        self.received: list[Received] = []
        self.refused: list[str] = []
        self.script: dict[str, list[Answer]] = {}
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._respond)

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()

    def subscribe(self, name: str) -> dict[str, Any]:
        """A new browser subscription at this service: what the page would POST to us."""
        keys = BrowserKeys()
        self.browsers[f"/push/{name}"] = keys
        return keys.subscription(f"{self.url}/push/{name}")

    def then(self, name: str, status: int, **headers: str) -> PushService:
        with self._lock:
            answer = (status, {k.replace("_", "-"): v for k, v in headers.items()}, b"")
            self.script.setdefault(f"/push/{name}", []).append(answer)
        return self

    def _refuse(self, status: int, why: str) -> Answer:
        self.refused.append(why)
        return status, {"Content-Type": "text/plain"}, why.encode()

    def _respond(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        import http_ece

        lower = {k.lower(): v for k, v in headers.items()}
        keys = self.browsers.get(path)
        if method != "POST" or keys is None:
            return self._refuse(404, f"no subscription at {method} {path}")
        with self._lock:
            scripted = self.script.get(path)
            if scripted:
                return scripted.pop(0)
        if "ttl" not in lower or not lower["ttl"].isdigit():
            return self._refuse(400, "TTL header missing (RFC 8030 section 5.2)")
        if lower.get("urgency", "normal") not in URGENCIES:
            return self._refuse(400, f"bad Urgency {lower.get('urgency')!r}")
        try:
            vapid = verify_vapid(lower.get("authorization", ""), f"{self.url}{path}")
        except (ValueError, KeyError) as exc:
            return self._refuse(401, f"VAPID: {exc}")
        if self.application_server_key and vapid["k"] != self.application_server_key:
            return self._refuse(403, "k is not the key the subscription was made with")
        if lower.get("content-encoding") != "aes128gcm":
            return self._refuse(400, f"Content-Encoding {lower.get('content-encoding')!r}")
        try:
            plain = http_ece.decrypt(
                body, private_key=keys.private_key, auth_secret=keys.auth, version="aes128gcm"
            )
        except Exception as exc:
            return self._refuse(400, f"cannot decrypt: {exc}")
        with self.server.received:
            self.received.append(Received(path, lower, json.loads(plain), vapid))
        return 201, {"Location": f"{self.url}/message/{len(self.received)}"}, b""
