"""Read the email open in Gmail (contextual trigger) and find our pixel in it.

Uses google-api-python-client built from the discovery document bundled with the library
(no network fetch of the document), authorised with the event's ``userOAuthToken`` plus the
per-message ``X-Goog-Gmail-Access-Token`` the add-on runtime hands over. The endpoint is
configurable so tests answer with a loopback server speaking Gmail's JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from email.utils import parseaddr
from functools import cache
from pathlib import Path
from typing import Any

from mailbeacon.errors import MailbeaconError

PIXEL_PATH = re.compile(r"/p/([A-Za-z0-9_-]{20,600})\.gif")
MAX_PARTS = 200


class GmailError(MailbeaconError):
    """Gmail would not give us the message (expired token, no permission, unreachable)."""


@dataclass(frozen=True)
class GmailMessage:
    """The parts of a Gmail message the add-on reads."""

    id: str
    sender: str
    label_ids: tuple[str, ...]
    html: str

    @property
    def is_sent(self) -> bool:
        """Gmail labels the sender's own copy SENT."""
        return "SENT" in self.label_ids


@cache
def _discovery_document() -> str:
    import googleapiclient.discovery_cache as cache_pkg

    return (Path(cache_pkg.__file__).parent / "documents" / "gmail.v1.json").read_text()


class GmailReader:
    """Fetches one message with the add-on's per-event credentials."""

    def __init__(self, api_url: str, timeout: float = 10.0) -> None:
        root = api_url.rstrip("/")
        root = root.removesuffix("/gmail/v1")  # accept the service URL as well as the root
        self.api_url = root + "/"
        self.timeout = timeout

    def fetch(self, message_id: str, oauth_token: str, access_token: str) -> GmailMessage:
        """users.messages.get(format=full) for the open message; GmailError otherwise."""
        import google_auth_httplib2
        import httplib2
        from google.oauth2.credentials import Credentials
        from googleapiclient.discovery import build_from_document
        from googleapiclient.errors import HttpError

        if not message_id or not oauth_token or not access_token:
            raise GmailError("the event carries no message id or Gmail tokens")
        http = google_auth_httplib2.AuthorizedHttp(
            Credentials(oauth_token), http=httplib2.Http(timeout=self.timeout)
        )
        service = build_from_document(
            _discovery_document(), http=http, client_options={"api_endpoint": self.api_url}
        )
        request = service.users().messages().get(userId="me", id=message_id, format="full")
        request.headers["X-Goog-Gmail-Access-Token"] = access_token
        try:
            data = request.execute(num_retries=1)
        except HttpError as exc:
            raise GmailError(f"Gmail answered {exc.resp.status}") from exc
        except (OSError, httplib2.HttpLib2Error, json.JSONDecodeError) as exc:
            raise GmailError(f"Gmail could not be reached: {exc}") from exc
        return parse_message(data)


def _decode(data: str) -> str:
    try:
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""


def parse_message(data: dict[str, Any]) -> GmailMessage:
    """Pick the sender, labels and every text/html (and text/plain) body out of a full message."""
    payload = data.get("payload") if isinstance(data.get("payload"), dict) else {}
    sender = ""
    for header in payload.get("headers") or []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == "from":
            sender = parseaddr(str(header.get("value", "")))[1].lower()
    bodies: list[str] = []
    stack = [payload]
    seen = 0
    while stack and seen < MAX_PARTS:
        part = stack.pop()
        seen += 1
        mime = str(part.get("mimeType", ""))
        body = part.get("body") if isinstance(part.get("body"), dict) else {}
        if mime.startswith("text/") and isinstance(body.get("data"), str):
            bodies.append(_decode(body["data"]))
        stack.extend(p for p in part.get("parts") or [] if isinstance(p, dict))
    labels = tuple(x for x in data.get("labelIds") or [] if isinstance(x, str))
    return GmailMessage(str(data.get("id", "")), sender, labels, "\n".join(bodies))


def pixel_tokens(html: str) -> list[str]:
    """Candidate pixel tokens in ``html``, in order, each once. Only the signature decides
    whether one is ours, so a look-alike URL on another host cannot fool the caller."""
    found: list[str] = []
    for match in PIXEL_PATH.finditer(html):
        if match.group(1) not in found:
            found.append(match.group(1))
    return found
