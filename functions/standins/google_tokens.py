"""Google's token signing: RS256 ID tokens minted with a local key, and the certificates that
verify them served as Google serves its own.

Wire format: ``GET https://www.googleapis.com/oauth2/v1/certs`` (and Chat's
``.../service_accounts/v1/metadata/x509/chat@system.gserviceaccount.com``) answer
``{key id: PEM certificate}``; an ID token is a JWT whose header names that key id and whose
payload carries ``iss``, ``aud``, ``sub``, ``email``, ``email_verified``, ``iat``, ``exp`` and,
for a Workspace account, ``hd``
(https://developers.google.com/identity/openid-connect/openid-connect#an-id-tokens-payload).
The verifier under test fetches the certificates from ``certs_url`` exactly as it would from
Google, so the real verification path runs.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from typing import Any

from .loopback import Answer, LoopbackServer, json_answer

GOOGLE_ISSUER = "https://accounts.google.com"
_spare_keys: list[tuple[str, str]] = []
"""Keys of stopped issuers, given to the next ones: a 2048-bit RSA key costs ~50 ms of CPU to
make, and issuers alive at the same time still never share one."""
_spare_lock = threading.Lock()


def _key_and_certificate() -> tuple[str, str]:
    """An RSA key (PEM) and a self-signed certificate for it (PEM)."""
    with _spare_lock:
        if _spare_keys:
            return _spare_keys.pop()
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stand-in")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    return pem, cert.public_bytes(serialization.Encoding.PEM).decode()


class TokenIssuer:
    """Mints ID tokens with its key and serves the matching ``{kid: PEM}`` at ``certs_url``."""

    def __init__(self, key_id: str = "test-key-1") -> None:
        from google.auth import crypt

        self.key_id = key_id
        self._key = _key_and_certificate()
        pem, certificate = self._key
        self.certs = {key_id: certificate}
        self._signer = crypt.RSASigner.from_string(pem, key_id)
        self._instance = secrets.token_hex(4)
        self.server = LoopbackServer(self._serve)

    def _serve(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        return json_answer(200, self.certs)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def certs_url(self) -> str:
        """Google's path, and a query naming this issuer: the verifier's certificate cache
        is one per process and keyed on the URL, so an issuer started later on a port the
        kernel gave again would otherwise be answered with the earlier one's keys (a valid
        token refused, once in ten CI runs)."""
        return f"{self.server.url}/oauth2/v1/certs?issuer={self._instance}"

    def token(
        self,
        *,
        audience: str,
        email: str | None = None,
        issuer: str = GOOGLE_ISSUER,
        lifetime: int = 3600,
        issued_at: float | None = None,
        **claims: Any,
    ) -> str:
        """A signed JWT. With ``email``, an ID token for that account: a Workspace user's
        carries ``hd`` (its domain) unless told otherwise (``hd=None``); consumer and service
        accounts' never do. Without, only the registered claims (as Chat signs its requests
        with ``aud`` the project number)."""
        from google.auth import jwt

        now = int(issued_at if issued_at is not None else time.time())
        if email is not None:
            domain = email.rsplit("@", 1)[-1]
            if "hd" not in claims and not domain.endswith("gserviceaccount.com"):
                claims["hd"] = domain
            claims = {
                "sub": claims.pop("sub", str(abs(hash(email)))),
                "email": email,
                "email_verified": True,
                **claims,
            }
        for name in [k for k, v in claims.items() if v is None]:  # None: left out
            claims.pop(name)
        payload = {"iss": issuer, "aud": audience, "iat": now, "exp": now + lifetime, **claims}
        return jwt.encode(self._signer, payload).decode()

    def id_token(self, audience: str, email: str, sub: str, **claims: Any) -> str:
        """Google's ID token for ``email`` (its stable account id ``sub``)."""
        return self.token(audience=audience, email=email, sub=sub, **claims)

    def stop(self) -> None:
        self.server.stop()
        with _spare_lock:
            _spare_keys.append(self._key)
