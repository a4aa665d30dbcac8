"""The Gmail API, one client for every use: the add-on reading the open message, the sent-mail
watch acting as each user, and email alerts sent as the user.

google-api-python-client built from the gmail v1 discovery document it ships (no discovery
fetch at run time), pointed at MAILBEACON_GMAIL_API_URL in tests. Two identities:
- ``GmailReader``: the add-on event's ``userOAuthToken`` plus the per-message
  ``X-Goog-Gmail-Access-Token`` (add-ons-samples; "Extending the message UI");
- ``GmailMailbox`` and ``GmailSender``: a domain-wide-delegated service account
  (MAILBEACON_GMAIL_CREDENTIALS) acting as each user.
Reference: https://developers.google.com/gmail/api/reference/rest (users.watch,
users.history.list, users.messages.get/list/modify/send, users.labels.list/create).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import getaddresses, parseaddr
from typing import Any

from ..errors import MailbeaconError
from ..replies import REPLY_HEADERS, ThreadMail
from ..sentwatch import PIXEL_PATH, HistoryExpired, SentMail
from ..threads import Added
from .api import build_service, transport_errors
from .credentials import delegated, user_token

READONLY = "https://www.googleapis.com/auth/gmail.readonly"
MODIFY = "https://www.googleapis.com/auth/gmail.modify"
SEND = "https://www.googleapis.com/auth/gmail.send"
MAX_PARTS = 200


class GmailUnavailable(MailbeaconError):
    """Gmail would not answer us (expired token, delegation refused, quota, network)."""


def _run(request: Any, *, what: str) -> Any:
    """Execute one request; every failure is GmailUnavailable naming the call."""
    from google.auth.exceptions import RefreshError
    from googleapiclient.errors import HttpError

    try:
        return request.execute(num_retries=1)
    except HttpError as exc:
        raise GmailUnavailable(f"Gmail {what}: HTTP {exc.resp.status}") from exc
    except (RefreshError, *transport_errors()) as exc:
        raise GmailUnavailable(f"Gmail {what}: {exc}") from exc


@dataclass(frozen=True)
class GmailMessage:
    """The parts of a Gmail message the add-on reads."""

    id: str
    sender: str
    label_ids: tuple[str, ...]
    html: str
    thread_id: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    internal_date: datetime | None = None

    @property
    def is_sent(self) -> bool:
        """Gmail labels the sender's own copy SENT."""
        return "SENT" in self.label_ids

    def thread_mail(self) -> ThreadMail:
        """The message as a possible reply (threads.py, replies.py)."""
        at = self.internal_date or datetime.fromtimestamp(0, UTC)
        return ThreadMail(self.id, self.thread_id, self.label_ids, self.headers, at)


class GmailReader:
    """Fetches the message open in Gmail with the add-on's per-event credentials."""

    def __init__(self, api_url: str, timeout: float = 10.0) -> None:
        root = api_url.rstrip("/").removesuffix("/gmail/v1")  # the service URL works too
        self.api_url = root + "/"
        self.timeout = timeout

    def fetch(self, message_id: str, oauth_token: str, access_token: str) -> GmailMessage:
        """users.messages.get(format=full) for the open message; GmailUnavailable otherwise."""
        if not message_id or not oauth_token or not access_token:
            raise GmailUnavailable("the event carries no message id or Gmail tokens")
        service = build_service(
            "gmail",
            "v1",
            endpoint=self.api_url,
            credentials=user_token(oauth_token),
            timeout=self.timeout,
        )
        request = service.users().messages().get(userId="me", id=message_id, format="full")
        request.headers["X-Goog-Gmail-Access-Token"] = access_token
        return parse_message(_run(request, what="messages.get"))


def _decode(data: str) -> str:
    try:
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""


def _text_parts(payload: dict[str, Any], mime_prefix: str) -> list[str]:
    """Decoded bodies of the parts whose type starts with ``mime_prefix``, at most MAX_PARTS
    parts visited (a hostile message can nest without end)."""
    bodies: list[str] = []
    stack, seen = [payload], 0
    while stack and seen < MAX_PARTS:
        part = stack.pop()
        seen += 1
        body = part.get("body") if isinstance(part.get("body"), dict) else {}
        if str(part.get("mimeType", "")).startswith(mime_prefix) and isinstance(
            body.get("data"), str
        ):
            bodies.append(_decode(body["data"]))
        stack.extend(p for p in reversed(part.get("parts") or []) if isinstance(p, dict))
    return bodies


def headers_of(payload: dict[str, Any]) -> dict[str, str]:
    """A message's headers by lower-cased name (the first of each)."""
    found: dict[str, str] = {}
    for header in payload.get("headers") or []:
        if isinstance(header, dict):
            found.setdefault(str(header.get("name", "")).lower(), str(header.get("value", "")))
    return found


def _internal_date(data: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(data["internalDate"]) / 1000, UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return None


def parse_message(data: dict[str, Any]) -> GmailMessage:
    """Pick the sender, labels, headers, thread and every text body out of a full message."""
    payload = data.get("payload") if isinstance(data.get("payload"), dict) else {}
    headers = headers_of(payload)
    sender = parseaddr(headers.get("from", ""))[1].lower()
    labels = tuple(x for x in data.get("labelIds") or [] if isinstance(x, str))
    return GmailMessage(
        str(data.get("id", "")),
        sender,
        labels,
        "\n".join(_text_parts(payload, "text/")),
        thread_id=str(data.get("threadId") or ""),
        headers=headers,
        internal_date=_internal_date(data),
    )


def thread_mail(data: dict[str, Any]) -> ThreadMail:
    """A format=metadata (or full) message as a possible reply."""
    payload = data.get("payload") if isinstance(data.get("payload"), dict) else {}
    labels = tuple(x for x in data.get("labelIds") or [] if isinstance(x, str))
    at = _internal_date(data) or datetime.fromtimestamp(0, UTC)
    thread = str(data.get("threadId") or "")
    return ThreadMail(str(data.get("id", "")), thread, labels, headers_of(payload), at)


def pixel_tokens(html: str) -> list[str]:
    """Candidate pixel tokens in ``html``, in order, each once. Only the signature decides
    whether one is ours, so a look-alike URL on another host cannot fool the caller."""
    return list(dict.fromkeys(m.group(1) for m in PIXEL_PATH.finditer(html)))


@dataclass
class GmailMailbox:
    """The sent-mail watch's Mailbox port (mailbeacon/sentwatch.py) as each user: users.watch,
    history.list, messages.get, labels, messages.modify. ``gmail.readonly`` to watch and read;
    ``gmail.modify`` instead when labels are on (it includes reading)."""

    credentials_file: str
    api_url: str
    labels: bool = False
    timeout: float = 10.0
    _label_ids: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    def _users(self, user: str) -> Any:
        scopes = [MODIFY if self.labels else READONLY]
        credentials = delegated(self.credentials_file, scopes, user)
        service = build_service(
            "gmail", "v1", endpoint=self.api_url, credentials=credentials, timeout=self.timeout
        )
        return service.users()

    def watch(self, user: str, topic: str) -> tuple[str, datetime]:
        body = {
            "topicName": topic
        }  # every label: replies land in INBOX, or wherever filters put them
        answer = _run(self._users(user).watch(userId="me", body=body), what="watch")
        expires = datetime.fromtimestamp(int(answer["expiration"]) / 1000, UTC)
        return str(answer["historyId"]), expires

    def added_since(self, user: str, history_id: str) -> tuple[list[Added], str]:
        from googleapiclient.errors import HttpError

        history = self._users(user).history()
        found: dict[str, Added] = {}
        newest, page = history_id, None
        while True:
            request = history.list(
                userId="me",
                startHistoryId=history_id,
                historyTypes="messageAdded",
                maxResults=500,
                pageToken=page,
            )
            try:
                answer = request.execute(num_retries=1)
            except HttpError as exc:
                if int(exc.resp.status) == 404:  # "history id too old": documented as 404
                    raise HistoryExpired(f"history from {history_id} is gone") from exc
                raise GmailUnavailable(f"Gmail history.list: HTTP {exc.resp.status}") from exc
            except transport_errors() as exc:
                raise GmailUnavailable(f"Gmail history.list: {exc}") from exc
            for record in answer.get("history", []):
                for added in record.get("messagesAdded", []):  # ``messages`` may repeat them
                    message = added["message"]
                    labels = tuple(message.get("labelIds") or ())
                    thread = str(message.get("threadId") or "")
                    found.setdefault(message["id"], Added(message["id"], thread, labels))
            newest = str(answer.get("historyId", newest))
            page = answer.get("nextPageToken")
            if not page:  # the newest id is only safe to store after the last page
                return list(found.values()), newest

    def recent_sent(self, user: str, limit: int) -> list[str]:
        request = (
            self._users(user).messages().list(userId="me", labelIds=["SENT"], maxResults=limit)
        )
        answer = _run(request, what="messages.list")
        return [m["id"] for m in answer.get("messages", [])]

    def get_sent(self, user: str, gmail_id: str) -> SentMail:
        request = self._users(user).messages().get(userId="me", id=gmail_id, format="full")
        data = _run(request, what="messages.get")
        payload = data.get("payload", {})
        headers = headers_of(payload)
        return SentMail(
            gmail_id=data["id"],
            rfc_message_id=headers.get("message-id", ""),
            sent_at=datetime.fromtimestamp(int(data["internalDate"]) / 1000, UTC),
            to=_addresses(headers.get("to", "")),
            cc=_addresses(headers.get("cc", "")),
            html="".join(_text_parts(payload, "text/html")),
            thread_id=str(data.get("threadId") or ""),
        )

    def get_thread_mail(self, user: str, gmail_id: str) -> ThreadMail:
        request = (
            self._users(user)
            .messages()
            .get(userId="me", id=gmail_id, format="metadata", metadataHeaders=list(REPLY_HEADERS))
        )
        return thread_mail(_run(request, what="messages.get"))

    def label_id(self, user: str, name: str) -> str:
        known = self._label_ids.get((user, name))
        if known:
            return known
        labels = self._users(user).labels()
        listed = _run(labels.list(userId="me"), what="labels.list")
        found = next((lb["id"] for lb in listed.get("labels", []) if lb["name"] == name), None)
        if found is None:
            body = {
                "name": name,
                "labelListVisibility": "labelShow",
                "messageListVisibility": "show",
            }
            found = _run(labels.create(userId="me", body=body), what="labels.create")["id"]
        self._label_ids[(user, name)] = found
        return found

    def add_label(self, user: str, gmail_id: str, label_id: str) -> None:
        body = {"addLabelIds": [label_id]}
        request = self._users(user).messages().modify(userId="me", id=gmail_id, body=body)
        _run(request, what="messages.modify")


@dataclass
class GmailSender:
    """users.messages.send as the user (``gmail.send``, domain-wide delegation)."""

    credentials_file: str
    api_url: str
    timeout: float = 10.0

    def request(self, user: str, raw_message: bytes) -> Any:
        """The send request, for the caller to execute (its errors are the caller's to map)."""
        credentials = delegated(self.credentials_file, [SEND], user)
        service = build_service(
            "gmail", "v1", endpoint=self.api_url, credentials=credentials, timeout=self.timeout
        )
        raw = base64.urlsafe_b64encode(raw_message).decode()
        return service.users().messages().send(userId="me", body={"raw": raw})


def _addresses(value: str) -> tuple[str, ...]:
    return tuple(addr.lower() for _, addr in getaddresses([value]) if "@" in addr)
