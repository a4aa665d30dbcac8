"""The Google Chat app: verified events remember the DM; alerts go through the Chat API."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from functions.standins.google_chat import Chat
from functions.standins.google_tokens import TokenIssuer
from mailbeacon.bus import NOTIFY

from .conftest import Rig

AUDIENCE = "http://mb.test/chat"
CHAT_SA = "chat@system.gserviceaccount.com"


@pytest.fixture
def issuer() -> Iterator[TokenIssuer]:
    google = TokenIssuer()
    yield google
    google.stop()


@pytest.fixture
def chat() -> Iterator[Chat]:
    fake = Chat()
    yield fake
    fake.stop()


@pytest.fixture
def chat_signer() -> Iterator[TokenIssuer]:
    """Chat's own key, served like .../service_accounts/v1/metadata/x509/chat@system...."""
    signer = TokenIssuer(key_id="chat-key-1")
    yield signer
    signer.stop()


PROJECT_NUMBER = "123456789012"
ADDON_AGENT = f"service-{PROJECT_NUMBER}@gcp-sa-gsuiteaddons.iam.gserviceaccount.com"


@pytest.fixture
def rig(make_rig, issuer: TokenIssuer, chat: Chat, chat_signer: TokenIssuer) -> Rig:  # type: ignore[no-untyped-def]
    return make_rig(
        chat_audience=AUDIENCE,
        google_certs_url=issuer.certs_url,
        chat_api_url=chat.url,
        chat_project_number=PROJECT_NUMBER,
        chat_certs_url=chat_signer.certs_url,
        addon_service_account=ADDON_AGENT,
    )


def added_to_dm(email: str = "ana@example.com", kind: str = "ADDED_TO_SPACE") -> dict:
    return {
        "type": kind,
        "eventTime": "2026-03-02T09:00:00Z",
        "space": {"name": "spaces/DM123", "type": "DM", "spaceType": "DIRECT_MESSAGE"},
        "user": {"name": "users/1111", "email": email, "displayName": "Ana", "type": "HUMAN"},
    }


def post_event(rig: Rig, event: dict, token: str):  # type: ignore[no-untyped-def]
    return rig.web.post("/chat", json=event, headers={"Authorization": f"Bearer {token}"})


def test_added_to_a_dm_then_alerts_arrive_there_threaded_and_idempotent(
    rig: Rig, issuer: TokenIssuer, chat: Chat
) -> None:
    chat.dms["users/1111"] = "spaces/DM123"
    token = issuer.token(audience=AUDIENCE, email=CHAT_SA)
    reply = post_event(rig, added_to_dm(), token)
    assert reply.status_code == 200 and "Mailbeacon" in reply.get_json()["text"]
    assert rig.app.store.get_settings("ana@example.com").chat_app_dm is True
    tracked = rig.track()
    rig.open(tracked)
    rig.settle()
    [message] = chat.created
    event = rig.app.store.list_events(tracked.message.id)[0]
    message_id = message["_query"]["messageId"]
    assert re.fullmatch(r"client-[a-z0-9-]+", message_id) and len(message_id) <= 63
    assert event.id.lower().replace("_", "-")[:20] in message_id
    assert message["name"] == f"spaces/DM123/messages/{message_id}"
    assert message["_query"]["messageReplyOption"] == "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"
    assert message["thread"]["threadKey"] == f"mailbeacon-{tracked.message.id}"
    assert message["cardsV2"][0]["card"]["header"]["title"].startswith("bo@example.org opened")
    # a crash after the post but before the delivery log: the resend is absorbed by Chat (409)
    rig.app.store.delete_record("notify-delivery", f"{event.id}/chat-app")
    rig.app.bus.publish(NOTIFY, {"event_id": event.id, "message_id": tracked.message.id})
    rig.settle()
    assert len(chat.created) == 1 and rig.problems() == ()


@pytest.mark.parametrize(
    "token",
    [
        lambda issuer: issuer.token(audience="https://elsewhere.example/chat", email=CHAT_SA),
        lambda issuer: issuer.token(audience=AUDIENCE, email="mallory@example.com"),
        lambda issuer: issuer.token(audience=AUDIENCE, email=CHAT_SA, issued_at=0),
        lambda issuer: "not-a-token",
        lambda issuer: "",
    ],
    ids=["wrong-audience", "wrong-signer", "expired", "garbage", "missing"],
)
def test_unverified_chat_events_are_refused_and_change_nothing(
    rig: Rig, issuer: TokenIssuer, token
) -> None:  # type: ignore[no-untyped-def]
    response = post_event(rig, added_to_dm(), token(issuer))
    assert response.status_code == 401
    assert rig.app.store.get_record("chat-dm", "ana@example.com") is None
    assert rig.app.store.get_settings("ana@example.com").chat_app_dm is False


def test_without_a_known_dm_find_direct_message_is_used(rig: Rig, chat: Chat) -> None:
    chat.dms["users/1111"] = "spaces/DMFOUND"
    rig.app.store.put_record("chat-user", "ana@example.com", {"name": "users/1111"})
    rig.settings(chat_app_dm=True)
    rig.open(rig.track())
    rig.settle()
    assert [m["name"].split("/messages/")[0] for m in chat.created] == ["spaces/DMFOUND"]
    assert any(
        "spaces:findDirectMessage?name=users%2F1111" in r["path"] for r in chat.server.requests
    )


def test_find_direct_message_is_never_called_with_an_email(rig: Rig, chat: Chat) -> None:
    # With app authentication spaces.findDirectMessage takes users/{id}; the email alias is
    # documented for user authentication only ("Find a direct message", Chat API guide).
    chat.dms["users/ana@example.com"] = "spaces/DMBYEMAIL"
    rig.settings(chat_app_dm=True)
    rig.open(rig.track())
    rig.settle()
    assert chat.created == [] and chat.server.requests == []
    [problem] = rig.problems()
    assert "does not know your Chat user yet" in problem


def test_not_installed_is_recorded_for_the_user_and_not_retried(rig: Rig, chat: Chat) -> None:
    rig.app.store.put_record("chat-user", "ana@example.com", {"name": "users/1111"})
    rig.settings(chat_app_dm=True)
    rig.open(rig.track())
    rig.settle()
    assert chat.created == []
    [problem] = rig.problems()
    assert "chat-app: the Chat app is not installed for you" in problem
    assert rig.app.bus.pending(NOTIFY) == 0 and len(chat.server.requests) == 1


def test_removed_from_the_dm_forgets_it(rig: Rig, issuer: TokenIssuer) -> None:
    token = issuer.token(audience=AUDIENCE, email=CHAT_SA)
    post_event(rig, added_to_dm(), token)
    assert post_event(rig, added_to_dm(kind="REMOVED_FROM_SPACE"), token).status_code == 200
    assert rig.app.store.get_record("chat-dm", "ana@example.com") is None
    assert rig.app.store.get_settings("ana@example.com").chat_app_dm is False


def test_chat_api_429_is_retried(rig: Rig, chat: Chat) -> None:
    import json

    chat.dms["users/1111"] = "spaces/DM9"
    rig.app.store.put_record("chat-user", "ana@example.com", {"name": "users/1111"})
    rig.settings(chat_app_dm=True)
    error = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "slow"}}
    headers = {"Content-Type": "application/json", "Retry-After": "3"}
    chat.failures.append((429, headers, json.dumps(error).encode()))
    rig.open(rig.track())
    rig.settle()
    assert len(chat.created) == 1 and rig.sleeps == [3.0]


def test_add_on_shaped_events_are_understood_and_answered_in_kind(
    rig: Rig, issuer: TokenIssuer
) -> None:
    event = {
        "commonEventObject": {"hostApp": "CHAT"},
        "chat": {
            "user": {"name": "users/2222", "email": "cy@example.com", "type": "HUMAN"},
            "eventTime": "2026-03-02T09:00:00Z",
            "addedToSpacePayload": {
                "space": {"name": "spaces/DMCY", "spaceType": "DIRECT_MESSAGE"}
            },
        },
    }
    reply = post_event(rig, event, issuer.token(audience=AUDIENCE, email=CHAT_SA))
    assert reply.status_code == 200
    message = reply.get_json()["hostAppDataAction"]["chatDataAction"]["createMessageAction"][
        "message"
    ]
    assert "Mailbeacon" in message["text"]
    assert rig.app.store.get_record("chat-dm", "cy@example.com") == {"space": "spaces/DMCY"}


def chat_jwt(signer: TokenIssuer, audience: str = PROJECT_NUMBER, **claims) -> str:  # type: ignore[no-untyped-def]
    """The bearer token of an app whose authentication audience is the project number, as in
    Google's "Verify requests from Google Chat" guide: iss chat@system.gserviceaccount.com,
    aud the project number, signed with a key listed at the account's x509 URL."""
    return signer.token(audience=audience, email=CHAT_SA, issuer=CHAT_SA, **claims)


def test_a_project_number_token_from_chat_is_accepted(rig: Rig, chat_signer: TokenIssuer) -> None:
    response = post_event(rig, added_to_dm(), chat_jwt(chat_signer))
    assert response.status_code == 200
    assert rig.app.store.get_record("chat-dm", "ana@example.com") == {"space": "spaces/DM123"}
    assert rig.app.store.get_record("chat-user", "ana@example.com") == {"name": "users/1111"}


@pytest.mark.parametrize(
    "forge",
    [
        # Chat's issuer and audience, but signed with Google's OIDC key, not Chat's.
        lambda google, chat: google.token(audience=PROJECT_NUMBER, email=CHAT_SA, issuer=CHAT_SA),
        lambda google, chat: chat_jwt(chat, audience="999999999999"),
        lambda google, chat: chat.token(audience=PROJECT_NUMBER, email=CHAT_SA),  # wrong iss
        lambda google, chat: chat_jwt(chat, issued_at=0),  # expired
    ],
    ids=["wrong-key", "other-project", "wrong-issuer", "expired"],
)
def test_forged_project_number_tokens_are_refused(
    rig: Rig, issuer: TokenIssuer, chat_signer: TokenIssuer, forge
) -> None:  # type: ignore[no-untyped-def]
    assert post_event(rig, added_to_dm(), forge(issuer, chat_signer)).status_code == 401
    assert rig.app.store.get_record("chat-dm", "ana@example.com") is None


def test_a_chat_app_built_as_an_add_on_is_signed_by_the_add_on_agent(
    rig: Rig, issuer: TokenIssuer
) -> None:
    # add-ons-samples python/chat/secured-app/main.py: verify_oauth2_token(bearer, ...,
    # HTTP_ENDPOINT) and compare ``email`` with the add-on's service account.
    event = {
        "commonEventObject": {"hostApp": "CHAT"},
        "chat": {
            "user": {"name": "users/3333", "email": "di@example.com", "type": "HUMAN"},
            "addedToSpacePayload": {
                "space": {"name": "spaces/DMDI", "spaceType": "DIRECT_MESSAGE"}
            },
        },
    }
    token = issuer.token(audience=AUDIENCE, email=ADDON_AGENT)
    assert post_event(rig, event, token).status_code == 200
    assert rig.app.store.get_record("chat-dm", "di@example.com") == {"space": "spaces/DMDI"}
    other = issuer.token(
        audience=AUDIENCE, email="service-1@gcp-sa-gsuiteaddons.iam.gserviceaccount.com"
    )
    assert post_event(rig, event, other).status_code == 401
