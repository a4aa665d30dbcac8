"""Google-style ID tokens signed with a local RSA key, and a loopback server for its certs.

The verifier fetches certificates from ``certs_url`` exactly as it would from Google, so tests
exercise the real verification path.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt

from .http import LoopbackServer


class TokenIssuer:
    """Mints ID tokens and serves the matching certificates like googleapis.com/oauth2/v1/certs."""

    def __init__(self, key_id: str = "test-key-1") -> None:
        self.key_id = key_id
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-google")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .sign(key, hashes.SHA256())
        )
        self.certs = {key_id: cert.public_bytes(serialization.Encoding.PEM).decode()}
        self._signer = crypt.RSASigner.from_string(self._pem, key_id)
        self.server = LoopbackServer(self._serve)

    def _serve(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        return 200, {"Content-Type": "application/json"}, json.dumps(self.certs).encode()

    @property
    def certs_url(self) -> str:
        return self.server.url + "/oauth2/v1/certs"

    def token(
        self,
        *,
        audience: str,
        email: str,
        issuer: str = "https://accounts.google.com",
        lifetime: int = 3600,
        issued_at: float | None = None,
        **claims: Any,
    ) -> str:
        now = int(issued_at if issued_at is not None else time.time())
        # Google adds ``hd`` (the hosted domain) to tokens of Workspace accounts, never to
        # consumer or service accounts: a Workspace user unless told otherwise (hd=None).
        domain = email.rsplit("@", 1)[-1]
        if "hd" not in claims and not domain.endswith("gserviceaccount.com"):
            claims["hd"] = domain
        if claims.get("hd") is None:
            claims.pop("hd", None)
        payload = {
            "iss": issuer,
            "aud": audience,
            "sub": claims.pop("sub", str(abs(hash(email)))),
            "email": email,
            "email_verified": True,
            "iat": now,
            "exp": now + lifetime,
            **claims,
        }
        return jwt.encode(self._signer, payload).decode()

    def start(self) -> TokenIssuer:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()
