"""The loopback Gmail (functions/standins/gmail.py) and our requests use only fields that
Google's published gmail v1 discovery document defines: the copy google-api-python-client
ships (googleapiclient/discovery_cache/documents/gmail.v1.json), which the real adapter also
builds its client from."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from functions.standins.gmail import Gmail


def discovery() -> dict[str, Any]:
    documents = resources.files("googleapiclient.discovery_cache") / "documents"
    return json.loads((documents / "gmail.v1.json").read_text())


def fields(schema: str) -> set[str]:
    return set(discovery()["schemas"][schema]["properties"])


def answer(fake: Gmail, method: str, path: str, body: Any = None) -> Any:
    box = fake.box("ann@acme.test")
    target, _, query = path.partition("?")
    from urllib.parse import parse_qs

    raw = json.dumps(body).encode() if body is not None else b""
    status, _, data = fake._route(box, method, target, parse_qs(query), raw)
    return status, json.loads(data)


def test_every_field_the_fake_answers_with_is_in_googles_schemas() -> None:
    fake = Gmail()  # not started: its router is called directly
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    gmail_id = fake.send("ann@acme.test", html="<p>x</p>", to="bo@x.org", cc="c@x.org",
                         at=at, rfc_id="<a@b>")  # fmt: skip
    watch_body = {"topicName": "projects/p/topics/t", "labelIds": ["SENT"],
                  "labelFilterBehavior": "include"}  # fmt: skip
    assert set(watch_body) <= fields("WatchRequest")
    status, watch = answer(fake, "POST", "watch", watch_body)
    assert status == 200 and set(watch) <= fields("WatchResponse")

    status, history = answer(fake, "GET", "history?startHistoryId=1&labelId=SENT")
    assert status == 200 and set(history) <= fields("ListHistoryResponse")
    (record,) = history["history"]
    assert set(record) <= fields("History")
    assert set(record["messagesAdded"][0]) <= fields("HistoryMessageAdded")
    assert set(record["messagesAdded"][0]["message"]) <= fields("Message")

    status, listed = answer(fake, "GET", "messages?labelIds=SENT&maxResults=5")
    assert status == 200 and set(listed) <= fields("ListMessagesResponse")

    status, message = answer(fake, "GET", f"messages/{gmail_id}")
    assert status == 200 and set(message) <= fields("Message")
    assert set(message["payload"]) <= fields("MessagePart")
    assert all(set(h) <= fields("MessagePartHeader") for h in message["payload"]["headers"])
    for part in message["payload"]["parts"]:
        assert set(part) <= fields("MessagePart") and set(part["body"]) <= fields("MessagePartBody")

    label_body = {"name": "Mailbeacon/Opened", "labelListVisibility": "labelShow",
                  "messageListVisibility": "show"}  # fmt: skip
    assert set(label_body) <= fields("Label")
    status, label = answer(fake, "POST", "labels", label_body)
    assert status == 200 and set(label) <= fields("Label")
    status, labels = answer(fake, "GET", "labels")
    assert status == 200 and set(labels) <= fields("ListLabelsResponse")
    assert {"addLabelIds"} <= fields("ModifyMessageRequest")
    status, modified = answer(fake, "POST", f"messages/{gmail_id}/modify",
                              {"addLabelIds": [label["id"]]})  # fmt: skip
    assert status == 200 and set(modified) <= fields("Message")

    fake.forget_history_before("ann@acme.test", 10**9)
    status, error = answer(fake, "GET", "history?startHistoryId=1")
    assert status == 404 and set(error["error"]) == {"code", "message", "status"}


def test_the_paths_and_parameters_we_call_exist() -> None:
    users = discovery()["resources"]["users"]
    assert users["methods"]["watch"]["path"] == "gmail/v1/users/{userId}/watch"
    history = users["resources"]["history"]["methods"]["list"]
    assert {"startHistoryId", "labelId", "historyTypes", "pageToken"} <= set(history["parameters"])
    messages = users["resources"]["messages"]["methods"]
    assert {"format"} <= set(messages["get"]["parameters"])
    assert {"labelIds", "maxResults"} <= set(messages["list"]["parameters"])
    assert messages["modify"]["path"] == "gmail/v1/users/{userId}/messages/{id}/modify"
    assert {"create", "list"} <= set(users["resources"]["labels"]["methods"])
