"""One contract for every notifier Channel, each against its platform on loopback: Slack webhook
and Slack app (functions/standins/webhooks.py, slack.py), Chat webhook and Chat app (webhooks.py,
google_chat.py), email over SMTP (aiosmtpd) and through the Gmail API (gmail.py).

Every channel: ``send`` delivers once, in the wire format the platform documents; a transient
failure (429 with Retry-After, 5xx, SMTP 4xx) raises DeliveryFailed(permanent=False) carrying
the server's Retry-After; a permanent one (a 4xx that retrying cannot fix, a revoked webhook,
token or delegation, SMTP 5xx) raises DeliveryFailed(permanent=True); ``enabled(settings)`` is
true exactly when the user's settings name that channel.

Wire formats, as documented:
- Slack incoming webhook: POST JSON ``{"text", "blocks"}`` to the hook's URL; errors 400
  invalid_payload, 403 action_prohibited, 404 no_service, 410 channel_is_archived, 500
  rollup_error (https://api.slack.com/messaging/webhooks#handling_errors); 429 + Retry-After
  (https://api.slack.com/apis/rate-limits).
- Slack chat.postMessage: bearer bot token, ``channel`` + ``text`` + ``blocks``, errors as
  ``{"ok": false, "error": ...}`` e.g. token_revoked, invalid_auth
  (https://api.slack.com/methods/chat.postMessage).
- Chat incoming webhook: POST ``Content-Type: application/json; charset=UTF-8`` to the URL with
  its key and token, ``thread.threadKey`` in the body, ``messageReplyOption`` in the query
  (https://developers.google.com/workspace/chat/quickstart/webhooks).
- Chat API spaces.messages.create: ``POST /v1/{parent}/messages?messageId=client-...&
  messageReplyOption=...`` with a Message body
  (https://developers.google.com/workspace/chat/api/reference/rest/v1/spaces.messages/create).
- SMTP: 4yz replies are transient, 5yz permanent (RFC 5321 section 4.2.1).
- Gmail users.messages.send: ``{"raw": base64url(RFC 2822)}`` as the user, by domain-wide
  delegation (https://developers.google.com/gmail/api/reference/rest/v1/users.messages/send).
"""

from __future__ import annotations

import base64
import contextlib
import email
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email import policy as email_policy
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from functions.standins.gmail import Gmail
from functions.standins.google_chat import Chat
from functions.standins.loopback import google_error
from functions.standins.slack import Slack
from functions.standins.webhooks import WebhookReceiver
from mailbeacon.clock import FixedClock
from mailbeacon.errors import DeliveryFailed
from mailbeacon.model import Settings
from mailbeacon.records import Namespace
from mailbeacon.settings import AlertRules
from mailbeacon.store.memory import MemoryStore
from notifier.config import NotifierConfig
from notifier.delivery import Channel
from notifier.post import Post
from notifier.render import AlertView
from notifier.retry import RetryPolicy
from tests.support.smtp import SmtpServer

USER = "ana@example.com"
TEAM = "T0EXAMPLE"
BOT_TOKEN = f"xoxb-{TEAM}-bot"
DM_SPACE = "spaces/AAAADMana"
REPLY_OPTION = "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"
RETRY_AFTER = 30  # longer than the policy's inline wait: handed back, not slept through

VIEW = AlertView(
    headline="bo@example.org opened “Quarterly plan”",
    subject="Quarterly plan",
    who="bo@example.org",
    when="Mon 2 Mar 10:00",
    client="gmail",
    link=None,
    dashboard_url="https://mb.example/dashboard/messages/m1?k=v",
    thread_key="mailbeacon-m1",
    message_id="m1",
)
POST = Post.of_alert("alert/m1/e1", VIEW)

# The one Settings field that turns each channel on.
ENABLING: dict[str, dict[str, Any]] = {
    "slack-webhook": {"slack_webhook": "https://hooks.slack.com/services/T/B/x"},
    "slack-app": {"slack_app_dm": True},
    "chat-webhook": {"chat_webhook": "https://chat.googleapis.com/v1/spaces/S/messages?key=k"},
    "chat-app": {"chat_app_dm": True},
    "email-smtp": {"email_to": "ana+alerts@example.com"},
    "email-gmail": {"email_to": "ana+alerts@example.com"},
}


@dataclass
class Rig:
    """A channel, the settings that point it at its loopback platform, and that platform."""

    kind: str
    channel: Channel
    settings: Settings
    deliveries: Callable[[], list[Any]]  # what the platform accepted
    attempts: Callable[[], int]  # send requests that reached it, whatever the answer
    check_wire: Callable[[Any], None]
    # name -> (script the platform to fail that way, the Retry-After the channel should report)
    transient: dict[str, tuple[Callable[[], None], float | None]] = field(default_factory=dict)
    permanent: dict[str, Callable[[], None]] = field(default_factory=dict)
    sleeps: list[float] = field(default_factory=list)


def accepted(server: Any) -> Callable[[], list[dict[str, Any]]]:
    """The requests a LoopbackServer answered with 2xx (it records requests, not answers)."""
    statuses: list[int] = []
    respond = server.respond

    def recording(*args: Any) -> tuple[int, dict[str, str], bytes]:
        answer = respond(*args)
        statuses.append(answer[0])
        return answer

    server.respond = recording
    return lambda: [r for r, st in zip(server.requests, statuses, strict=False) if st < 300]


def loopback_rules(url: str) -> AlertRules:
    """The webhook allow-list (MAILBEACON_WEBHOOK_ALLOW_HOSTS) naming this loopback receiver."""
    return AlertRules(allow_hosts=(urlsplit(url).netloc,))


def policy(sleeps: list[float]) -> RetryPolicy:
    """The production policy, with its sleeps recorded instead of slept."""
    return RetryPolicy(retries=2, max_inline_wait=5.0, sleep=sleeps.append)


def json_answer(status: int, body: Any, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(body).encode()


def slack_webhook_rig(stack: list[Any], _tmp: Path) -> Rig:
    from notifier.channels.slack_webhook import SlackWebhookChannel

    hook = WebhookReceiver()
    stack.append(hook)
    sleeps: list[float] = []
    settings = Settings(user=USER, slack_webhook=hook.url + "/services/T0/B0/secret")

    def always(status: int, body: bytes, **headers: str) -> Callable[[], None]:
        def script() -> None:
            hook.default = (status, {"Content-Type": "text/plain", **headers}, body)

        return script

    def check(request: dict[str, Any]) -> None:
        assert request["method"] == "POST" and request["path"] == "/services/T0/B0/secret"
        assert request["headers"]["Content-Type"].startswith("application/json")
        body = json.loads(request["body"])
        assert body == POST.slack and body["text"].startswith(VIEW.headline)
        assert VIEW.headline in body["blocks"][0]["text"]["text"]
        # A webhook cannot call us back: no interactive button but the dashboard link.
        assert action_ids(body["blocks"]) == ["mailbeacon_dashboard"]

    channel = SlackWebhookChannel(policy(sleeps), timeout=5, rules=loopback_rules(hook.url))

    def host_not_allowed() -> None:
        channel.rules = AlertRules()  # only hooks.slack.com: checked again before the send

    return Rig(
        "slack-webhook",
        channel,
        settings,
        accepted(hook.server),
        lambda: len(hook.requests),
        check,
        transient={
            "429": (always(429, b"rate_limited", **{"Retry-After": str(RETRY_AFTER)}), RETRY_AFTER),
            "500": (always(500, b"rollup_error"), None),
            "503": (always(503, b"service unavailable"), None),
        },
        permanent={
            "400 invalid_payload": always(400, b"invalid_payload"),
            "403 action_prohibited": always(403, b"action_prohibited"),
            "404 no_service (revoked)": always(404, b"no_service"),
            "410 channel_is_archived": always(410, b"channel_is_archived"),
            "host not allowed": host_not_allowed,
        },
        sleeps=sleeps,
    )


def slack_app_rig(stack: list[Any], _tmp: Path) -> Rig:
    from slack_sdk.oauth.installation_store import Installation

    from notifier.channels.slack_app import SlackAppChannel
    from notifier.slack_install import StoreInstallationStore

    slack = Slack()
    stack.append(slack)
    slack.tokens[BOT_TOKEN] = TEAM
    slack.users[USER] = "U0ANA"
    store = MemoryStore()
    StoreInstallationStore(store).save(
        Installation(
            app_id="A0MAILBEACON",
            team_id=TEAM,
            bot_token=BOT_TOKEN,
            bot_id="B0BOT",
            bot_user_id="U0BOT",
            user_id="U0ADMIN",
        )
    )
    sleeps: list[float] = []
    config = NotifierConfig(slack_api_url=slack.api_url, timeout_seconds=5)

    def fail(error: str, status: int = 200, **headers: str) -> Callable[[], None]:
        return lambda: slack.fail("chat.postMessage", error, status=status, times=10, **headers)

    def check(params: dict[str, Any]) -> None:
        [request] = slack.calls("chat.postMessage")
        assert request["headers"]["Authorization"] == f"Bearer {BOT_TOKEN}"
        assert request["headers"]["Content-Type"].startswith("application/json")
        assert json.loads(request["body"]) == params
        assert params["channel"] == "D0ANA"  # the DM conversations.open gave for the user
        assert params["text"] == POST.slack_app["text"]
        assert params["text"].startswith(VIEW.headline)
        assert params["blocks"] == POST.slack_app["blocks"]
        assert action_ids(params["blocks"]) == ["mailbeacon_dashboard", "mailbeacon_mute"]

    return Rig(
        "slack-app",
        SlackAppChannel(store, config, policy(sleeps)),
        Settings(user=USER, slack_app_dm=True),
        lambda: slack.posts,
        lambda: len(slack.calls("chat.postMessage")),
        check,
        transient={
            "429": (fail("ratelimited", 429, Retry_After=str(RETRY_AFTER)), RETRY_AFTER),
            "500": (fail("internal_error", 500), None),
            "503": (fail("service_unavailable", 503), None),
        },
        permanent={
            "token_revoked": fail("token_revoked"),
            "invalid_auth": fail("invalid_auth"),
            "channel_not_found": fail("channel_not_found"),
            "403 HTTP": fail("forbidden", 403),
        },
        sleeps=sleeps,
    )


def chat_webhook_rig(stack: list[Any], _tmp: Path) -> Rig:
    from notifier.channels.chat_webhook import ChatWebhookChannel

    hook = WebhookReceiver(json_answer(200, {"name": "spaces/S/messages/1"}))
    stack.append(hook)
    url = hook.url + "/v1/spaces/AAAA/messages?key=KEY&token=TOKEN"

    def always(status: int, reason: str, **headers: str) -> Callable[[], None]:
        def script() -> None:
            hook.default = google_error(status, reason, "scripted", **headers)

        return script

    def check(request: dict[str, Any]) -> None:
        parts = urlsplit(request["path"])
        assert request["method"] == "POST" and parts.path == "/v1/spaces/AAAA/messages"
        assert parse_qs(parts.query) == {
            "key": ["KEY"],
            "token": ["TOKEN"],
            "messageReplyOption": [REPLY_OPTION],
        }
        assert request["headers"]["Content-Type"] == "application/json; charset=UTF-8"
        body = json.loads(request["body"])
        assert body == POST.chat and body["thread"] == {"threadKey": "mailbeacon-m1"}
        assert body["text"] == VIEW.headline
        assert body["cardsV2"][0]["card"]["header"]["title"] == VIEW.headline

    channel = ChatWebhookChannel(timeout=5, rules=loopback_rules(hook.url))

    def host_not_allowed() -> None:
        channel.rules = AlertRules()  # only chat.googleapis.com: checked again before the send

    return Rig(
        "chat-webhook",
        channel,
        Settings(user=USER, chat_webhook=url),
        accepted(hook.server),
        lambda: len(hook.requests),
        check,
        transient={
            "429": (
                always(429, "RESOURCE_EXHAUSTED", **{"Retry-After": str(RETRY_AFTER)}),
                RETRY_AFTER,
            ),
            "500": (always(500, "INTERNAL"), None),
            "503": (always(503, "UNAVAILABLE"), None),
        },
        permanent={
            "400 INVALID_ARGUMENT": always(400, "INVALID_ARGUMENT"),
            "403 PERMISSION_DENIED (revoked)": always(403, "PERMISSION_DENIED"),
            "404 NOT_FOUND (deleted)": always(404, "NOT_FOUND"),
            "host not allowed": host_not_allowed,
        },
    )


CHAT_USER_ID = "users/112233445566778899"


def chat_app_rig(stack: list[Any], _tmp: Path) -> Rig:
    from notifier.channels.chat_app import ChatAppChannel

    chat = Chat()
    stack.append(chat)
    # With app authentication findDirectMessage takes users/{id} only; the id is learned from
    # the user's Chat events (or the add-on's verified token) and kept as a record.
    chat.dms[CHAT_USER_ID] = DM_SPACE
    store = MemoryStore()
    store.put_record(Namespace.CHAT_USERS, USER, {"name": CHAT_USER_ID})
    config = NotifierConfig(chat_api_url=chat.url, timeout_seconds=5)
    channel = ChatAppChannel(store, config, FixedClock(datetime(2026, 3, 2, tzinfo=UTC)))

    def fail(status: int, reason: str, **headers: str) -> Callable[[], None]:
        return lambda: chat.failures.extend([google_error(status, reason, "scripted", **headers)])

    def check(created: dict[str, Any]) -> None:
        body = {k: v for k, v in created.items() if k not in ("name", "_query")}
        assert body == POST.chat and body["text"] == VIEW.headline
        assert body["thread"] == {"threadKey": "mailbeacon-m1"}
        assert created["_query"]["messageId"] == POST.chat_message_id
        assert created["_query"]["messageReplyOption"] == REPLY_OPTION
        assert created["name"].startswith(DM_SPACE + "/messages/client-")

    def lookups_then_revoked() -> None:
        chat.dms.clear()  # the user removed the app: no DM any more

    return Rig(
        "chat-app",
        channel,
        Settings(user=USER, chat_app_dm=True),
        lambda: chat.created,
        lambda: sum(r["method"] == "POST" for r in chat.server.requests),
        check,
        transient={
            "429": (
                fail(429, "RESOURCE_EXHAUSTED", **{"Retry-After": str(RETRY_AFTER)}),
                RETRY_AFTER,
            ),
            "500": (fail(500, "INTERNAL"), None),
            "503": (fail(503, "UNAVAILABLE"), None),
        },
        permanent={
            "400 INVALID_ARGUMENT": fail(400, "INVALID_ARGUMENT"),
            "403 PERMISSION_DENIED": fail(403, "PERMISSION_DENIED"),
            "app removed (no DM)": lookups_then_revoked,
        },
    )


def smtp_rig(stack: list[Any], _tmp: Path) -> Rig:
    from notifier.channels.email import SmtpChannel

    server = SmtpServer().start()
    stack.append(server)
    config = NotifierConfig(
        smtp_host="127.0.0.1",
        smtp_port=server.port,
        mail_from="Mailbeacon <alerts@mb.test>",
        timeout_seconds=5,
    )
    channel = SmtpChannel(config, FixedClock(datetime(2026, 3, 2, 9, tzinfo=UTC)))

    def refuse(reply: str, stage: str = "refuse") -> Callable[[], None]:
        return lambda: setattr(server.inbox, stage, reply)

    def relay_down() -> None:
        server.stop()

    def check(envelope: Any) -> None:
        assert envelope.mail_from == "alerts@mb.test"
        assert envelope.rcpt_tos == ["ana+alerts@example.com"]
        message = email.message_from_bytes(envelope.original_content, policy=email_policy.default)
        check_email(message, sender="Mailbeacon <alerts@mb.test>")

    return Rig(
        "email-smtp",
        channel,
        Settings(user=USER, email_to="ana+alerts@example.com"),
        lambda: server.inbox.messages,
        lambda: server.inbox.attempts,
        check,
        transient={
            "451 greylisted": (refuse("451 4.7.1 try again later"), None),
            "452 mailbox full": (refuse("452 4.2.2 over quota"), None),
            "451 at DATA": (refuse("451 4.3.0 local error", "refuse_data"), None),
            "relay unreachable": (relay_down, None),
        },
        permanent={
            "550 no such user": refuse("550 5.1.1 no such user"),
            "553 relaying denied": refuse("553 5.7.1 relaying denied"),
            "554 at DATA": refuse("554 5.7.1 rejected as spam", "refuse_data"),
        },
    )


def gmail_rig(stack: list[Any], tmp: Path) -> Rig:
    from notifier.channels.email import GmailChannel

    gmail = Gmail()
    stack.append(gmail)
    config = NotifierConfig(
        gmail_credentials=str(gmail.key_file(tmp)), gmail_api_url=gmail.url, timeout_seconds=5
    )
    channel = GmailChannel(config, FixedClock(datetime(2026, 3, 2, 9, tzinfo=UTC)))

    def fail(status: int, reason: str, **headers: str) -> Callable[[], None]:
        return lambda: gmail.failures.extend([google_error(status, reason, "scripted", **headers)])

    def revoked() -> None:
        gmail.refuse_grant = True

    def check(sent: dict[str, Any]) -> None:
        assert gmail.grants[-1]["sub"] == USER  # acting as the user: domain-wide delegation
        assert gmail.grants[-1]["scope"] == "https://www.googleapis.com/auth/gmail.send"
        raw = base64.urlsafe_b64decode(sent["raw"])
        message = email.message_from_bytes(raw, policy=email_policy.default)
        check_email(message, sender=USER)

    return Rig(
        "email-gmail",
        channel,
        Settings(user=USER, email_to="ana+alerts@example.com"),
        lambda: gmail.sent,
        lambda: gmail.attempts,
        check,
        transient={
            "429": (
                fail(429, "RESOURCE_EXHAUSTED", **{"Retry-After": str(RETRY_AFTER)}),
                RETRY_AFTER,
            ),
            "500": (fail(500, "INTERNAL"), None),
            "503": (fail(503, "UNAVAILABLE"), None),
        },
        permanent={
            "400 failedPrecondition": fail(400, "FAILED_PRECONDITION"),
            "403 PERMISSION_DENIED": fail(403, "PERMISSION_DENIED"),
            "delegation revoked": revoked,
        },
    )


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [
        element["action_id"]
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def check_email(message: Any, *, sender: str) -> None:
    """RFC 5322 multipart/alternative with the alert's subject, text and HTML."""
    assert message["From"] == sender and message["To"] == "ana+alerts@example.com"
    assert message["Subject"] == POST.subject == f"[Mailbeacon] {VIEW.headline}"
    assert message["Message-ID"] and message["Date"]
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.strip() == POST.text.strip()
    html = message.get_body(("html",)).get_content()
    assert "Quarterly plan" in html and "https://mb.example/dashboard/messages/m1?k=v" in html


RIGS: dict[str, Callable[[list[Any], Path], Rig]] = {
    "slack-webhook": slack_webhook_rig,
    "slack-app": slack_app_rig,
    "chat-webhook": chat_webhook_rig,
    "chat-app": chat_app_rig,
    "email-smtp": smtp_rig,
    "email-gmail": gmail_rig,
}


# The failures each rig scripts (kept here so every one is its own test case).
FAILURE_NAMES: dict[str, dict[str, list[str]]] = {
    "slack-webhook": {
        "transient": ["429", "500", "503"],
        "permanent": [
            "400 invalid_payload",
            "403 action_prohibited",
            "404 no_service (revoked)",
            "410 channel_is_archived",
            "host not allowed",
        ],
    },
    "slack-app": {
        "transient": ["429", "500", "503"],
        "permanent": ["token_revoked", "invalid_auth", "channel_not_found", "403 HTTP"],
    },
    "chat-webhook": {
        "transient": ["429", "500", "503"],
        "permanent": [
            "400 INVALID_ARGUMENT",
            "403 PERMISSION_DENIED (revoked)",
            "404 NOT_FOUND (deleted)",
            "host not allowed",
        ],
    },
    "chat-app": {
        "transient": ["429", "500", "503"],
        "permanent": ["400 INVALID_ARGUMENT", "403 PERMISSION_DENIED", "app removed (no DM)"],
    },
    "email-smtp": {
        "transient": ["451 greylisted", "452 mailbox full", "451 at DATA", "relay unreachable"],
        "permanent": ["550 no such user", "553 relaying denied", "554 at DATA"],
    },
    "email-gmail": {
        "transient": ["429", "500", "503"],
        "permanent": ["400 failedPrecondition", "403 PERMISSION_DENIED", "delegation revoked"],
    },
}


def make_rig(kind: str, tmp_path: Path) -> Iterator[Rig]:
    stack: list[Any] = []
    try:
        yield RIGS[kind](stack, tmp_path)
    finally:
        for server in reversed(stack):
            with contextlib.suppress(Exception):  # the relay-down case stopped it already
                server.stop()


@pytest.fixture(params=sorted(RIGS))
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    yield from make_rig(request.param, tmp_path)


def test_a_send_is_delivered_once_in_the_platforms_wire_format(rig: Rig) -> None:
    rig.channel.send(POST, rig.settings)
    [delivered] = rig.deliveries()
    rig.check_wire(delivered)
    assert rig.attempts() == 1 and rig.sleeps == []  # once: no retry on the happy path


def failure_cases(which: str) -> list[Any]:
    """(channel, failure) pairs for parametrising."""
    return [
        pytest.param(kind, name, id=f"{kind}:{name}")
        for kind in sorted(RIGS)
        for name in FAILURE_NAMES[kind][which]
    ]


@pytest.mark.parametrize(("kind", "failure"), failure_cases("transient"))
def test_transient_failures_are_retryable_and_carry_retry_after(
    kind: str, failure: str, tmp_path: Path
) -> None:
    for rig in make_rig(kind, tmp_path):
        assert sorted(rig.transient) == sorted(FAILURE_NAMES[kind]["transient"])
        script, retry_after = rig.transient[failure]
        script()
        with pytest.raises(DeliveryFailed) as caught:
            rig.channel.send(POST, rig.settings)
        assert caught.value.permanent is False, caught.value
        assert caught.value.channel == rig.channel.name
        assert caught.value.retry_after == retry_after
        assert rig.deliveries() == []
        # A long Retry-After goes back to the bus; only short waits are slept in place.
        assert all(wait <= 5.0 for wait in rig.sleeps), rig.sleeps


@pytest.mark.parametrize(("kind", "failure"), failure_cases("permanent"))
def test_permanent_failures_are_final(kind: str, failure: str, tmp_path: Path) -> None:
    for rig in make_rig(kind, tmp_path):
        assert sorted(rig.permanent) == sorted(FAILURE_NAMES[kind]["permanent"])
        rig.permanent[failure]()
        with pytest.raises(DeliveryFailed) as caught:
            rig.channel.send(POST, rig.settings)
        assert caught.value.permanent is True, caught.value
        assert caught.value.channel == rig.channel.name
        assert rig.deliveries() == []
        assert rig.attempts() <= 1 and rig.sleeps == []  # given up at once, not retried


def test_enabled_agrees_with_the_settings(rig: Rig) -> None:
    assert rig.channel.enabled(rig.settings) is True
    assert rig.channel.enabled(Settings(user=USER)) is False
    for kind, fields in ENABLING.items():
        settings = replace(Settings(user=USER), **fields)
        own = fields.keys() == ENABLING[rig.kind].keys()
        assert rig.channel.enabled(settings) is own, f"{rig.kind} with {kind}'s setting"
