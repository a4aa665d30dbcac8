"""The sent-mail watch's Mailbox port on the Gmail API, acting as each user through a
domain-wide-delegated service account (MAILBEACON_GMAIL_CREDENTIALS).

Scopes: ``gmail.readonly`` to watch SENT and read sent messages; ``gmail.modify`` instead when
labels are on (it includes reading). The client is google-api-python-client built from the
discovery document it ships (gmail v1), pointed at MAILBEACON_GMAIL_API_URL in tests.
Reference: https://developers.google.com/gmail/api/reference/rest/v1/users/watch,
users.history/list, users.messages/get, users.labels/create, users.messages/modify.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import getaddresses
from typing import Any

from mailbeacon.errors import MailbeaconError
from mailbeacon.sentwatch import HistoryExpired, SentMail
from notifier.channels.google_api import build_service

READONLY = "https://www.googleapis.com/auth/gmail.readonly"
MODIFY = "https://www.googleapis.com/auth/gmail.modify"


@dataclass(frozen=True)
class SentWatchConfig:
    """MAILBEACON_GMAIL_WATCH_TOPIC (``projects/P/topics/T``; empty: no watch),
    MAILBEACON_GMAIL_LABELS (on: ask for gmail.modify and label opened mail) and
    MAILBEACON_GMAIL_PUSH_SERVICE_ACCOUNT (who Pub/Sub's push to /gmail/push signs as)."""

    topic: str | None = None
    labels: bool = False
    push_service_accounts: tuple[str, ...] = ()


class GmailUnavailable(MailbeaconError):
    """A Gmail API call failed (delegation refused, quota, network)."""


@dataclass
class GmailMailbox:
    """users.watch / history.list / messages.get / labels / messages.modify as ``user``."""

    credentials_file: str
    api_url: str
    labels: bool = False
    timeout: float = 10.0

    def __post_init__(self) -> None:
        self._base: Any = None
        self._label_ids: dict[tuple[str, str], str] = {}

    def _service(self, user: str) -> Any:
        from google.oauth2 import service_account

        if self._base is None:
            scopes = [MODIFY if self.labels else READONLY]
            self._base = service_account.Credentials.from_service_account_file(
                self.credentials_file, scopes=scopes
            )
        return build_service(
            "gmail",
            "v1",
            endpoint=self.api_url,
            credentials=self._base.with_subject(user),
            timeout=self.timeout,
        ).users()

    def _run(self, request: Any, *, what: str) -> Any:
        from google.auth.exceptions import RefreshError
        from googleapiclient.errors import HttpError

        try:
            return request.execute(num_retries=1)
        except HttpError as exc:
            raise GmailUnavailable(f"Gmail {what}: HTTP {exc.resp.status}") from exc
        except (RefreshError, OSError) as exc:
            raise GmailUnavailable(f"Gmail {what}: {exc}") from exc

    def watch(self, user: str, topic: str) -> tuple[str, datetime]:
        body = {"topicName": topic, "labelIds": ["SENT"], "labelFilterBehavior": "include"}
        answer = self._run(self._service(user).watch(userId="me", body=body), what="watch")
        expires = datetime.fromtimestamp(int(answer["expiration"]) / 1000, UTC)
        return str(answer["historyId"]), expires

    def sent_since(self, user: str, history_id: str) -> tuple[list[str], str]:
        from googleapiclient.errors import HttpError

        history = self._service(user).history()
        ids: list[str] = []
        newest, page = history_id, None
        while True:
            request = history.list(
                userId="me",
                startHistoryId=history_id,
                labelId="SENT",
                historyTypes="messageAdded",
                pageToken=page,
            )
            try:
                answer = request.execute(num_retries=1)
            except HttpError as exc:
                if int(exc.resp.status) == 404:  # "history id too old": documented as 404
                    raise HistoryExpired(f"history from {history_id} is gone") from exc
                raise GmailUnavailable(f"Gmail history.list: HTTP {exc.resp.status}") from exc
            for record in answer.get("history", []):
                for added in record.get("messagesAdded", []):
                    message = added["message"]
                    if "SENT" in message.get("labelIds", ["SENT"]) and message["id"] not in ids:
                        ids.append(message["id"])
            newest = str(answer.get("historyId", newest))
            page = answer.get("nextPageToken")
            if not page:
                return ids, newest

    def recent_sent(self, user: str, limit: int) -> list[str]:
        messages = self._service(user).messages()
        request = messages.list(userId="me", labelIds=["SENT"], maxResults=limit)
        answer = self._run(request, what="messages.list")
        return [m["id"] for m in answer.get("messages", [])]

    def get_sent(self, user: str, gmail_id: str) -> SentMail:
        request = self._service(user).messages().get(userId="me", id=gmail_id, format="full")
        data = self._run(request, what="messages.get")
        payload = data.get("payload", {})
        headers = {h["name"].lower(): h["value"] for h in payload.get("headers", [])}
        return SentMail(
            gmail_id=data["id"],
            rfc_message_id=headers.get("message-id", ""),
            sent_at=datetime.fromtimestamp(int(data["internalDate"]) / 1000, UTC),
            to=_addresses(headers.get("to", "")),
            cc=_addresses(headers.get("cc", "")),
            html=_html(payload),
        )

    def label_id(self, user: str, name: str) -> str:
        known = self._label_ids.get((user, name))
        if known:
            return known
        labels = self._service(user).labels()
        listed = self._run(labels.list(userId="me"), what="labels.list")
        found = next((lb["id"] for lb in listed.get("labels", []) if lb["name"] == name), None)
        if found is None:
            body = {
                "name": name,
                "labelListVisibility": "labelShow",
                "messageListVisibility": "show",
            }
            found = self._run(labels.create(userId="me", body=body), what="labels.create")["id"]
        self._label_ids[(user, name)] = found
        return found

    def add_label(self, user: str, gmail_id: str, label_id: str) -> None:
        body = {"addLabelIds": [label_id]}
        request = self._service(user).messages().modify(userId="me", id=gmail_id, body=body)
        self._run(request, what="messages.modify")


def _addresses(value: str) -> tuple[str, ...]:
    return tuple(addr.lower() for _, addr in getaddresses([value]) if "@" in addr)


def _html(part: dict[str, Any]) -> str:
    """The text/html parts of a message payload, decoded (base64url, as Gmail sends them)."""
    if part.get("mimeType") == "text/html" and part.get("body", {}).get("data"):
        data = part["body"]["data"]
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode("utf-8", "replace")
    return "".join(_html(child) for child in part.get("parts", []))
