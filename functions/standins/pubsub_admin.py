"""Topics, subscriptions, pulls and acks on the Pub/Sub emulator, through its REST API
(https://cloud.google.com/pubsub/docs/reference/rest): what `gcloud pubsub` and Pub/Sub's
push delivery would do around Mailbeacon, for the rehearsal, the tests and the benches."""

from __future__ import annotations

import base64
from typing import Any


class PubsubAdmin:
    def __init__(self, host: str, project: str) -> None:
        self.host = host
        self.project = project
        self.base = f"http://{host}/v1/projects/{project}"

    def _call(self, method: str, path: str, body: Any = None, timeout: float | None = 30) -> Any:
        import requests

        response = requests.request(method, f"{self.base}/{path}", json=body, timeout=timeout)
        if response.status_code == 409:  # already exists: creating is idempotent, as plans are
            return {}
        response.raise_for_status()
        return response.json() if response.content else {}

    def topic(self, topic: str) -> None:
        self._call("PUT", f"topics/{topic}")

    def subscription(
        self, name: str, topic: str, ack_deadline: int = 10, *, push_endpoint: str | None = None
    ) -> None:
        body: dict[str, Any] = {
            "topic": f"projects/{self.project}/topics/{topic}",
            "ackDeadlineSeconds": ack_deadline,
        }
        if push_endpoint:
            body["pushConfig"] = {"pushEndpoint": push_endpoint}
        self._call("PUT", f"subscriptions/{name}", body)

    def publish(self, topic: str, data: bytes, attributes: dict[str, str] | None = None) -> str:
        message: dict[str, Any] = {"data": base64.b64encode(data).decode()}
        if attributes:
            message["attributes"] = attributes
        answer = self._call("POST", f"topics/{topic}:publish", {"messages": [message]})
        return str(answer["messageIds"][0])

    def pull(
        self, sub: str, max_messages: int = 20, *, immediately: bool = False
    ) -> list[dict[str, Any]]:
        """Up to ``max_messages``; unless ``immediately``, waits for one as a pull would, for
        as long as it takes. A waiting pull is never given up on this side: the emulator keeps
        an abandoned one open and hands it the next message, which then waits out its ack
        deadline unseen (the rehearsal's digest, published after the relay had idled 40 s,
        was not delivered in 90 s). It ends when a message comes or the emulator stops."""
        body = {"maxMessages": max_messages, "returnImmediately": immediately}
        wait = 30 if immediately else None
        answer = self._call("POST", f"subscriptions/{sub}:pull", body, timeout=wait)
        return list(answer.get("receivedMessages", []))

    def ack(self, sub: str, *ack_ids: str) -> None:
        self._call("POST", f"subscriptions/{sub}:acknowledge", {"ackIds": list(ack_ids)})

    def retry_in(self, sub: str, ack_id: str, seconds: int) -> None:
        """Redeliver after ``seconds`` (0: now, as a failed push is)."""
        body = {"ackIds": [ack_id], "ackDeadlineSeconds": seconds}
        self._call("POST", f"subscriptions/{sub}:modifyAckDeadline", body)


def push_envelope(received: dict[str, Any], subscription: str) -> dict[str, Any]:
    """The JSON body Pub/Sub's push delivery POSTs for one received message
    (https://cloud.google.com/pubsub/docs/push#receive_push)."""
    return {"message": received["message"], "subscription": subscription}
