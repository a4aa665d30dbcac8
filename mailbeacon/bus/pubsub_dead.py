"""Dead letters on Pub/Sub: what each ``<topic>-dead`` topic received, kept by its own pull
subscription (``<topic>-dead-kept``), listed and replayed through Pub/Sub's REST API.

Pub/Sub cannot move messages from one subscription to another (``seek`` works within one
subscription only), so a replay is: pull from the kept subscription, publish each message's
data and attributes again to the original topic, then acknowledge it
(https://cloud.google.com/pubsub/docs/reference/rest: subscriptions.pull, topics.publish,
subscriptions.acknowledge). Listing pulls without acknowledging and hands the messages back
at once (``modifyAckDeadline`` to 0). Handling is idempotent, so a message replayed twice (a
replay interrupted between publishing and acknowledging) counts once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import BusUnavailable
from . import DEFAULT_TOPIC_PREFIX, TOPICS, kept_ids, topic_ids
from .pubsub import BearerAuth, decode


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    message_id: str
    published: str
    attempts: str
    payload: dict[str, Any] | None
    data: str
    attributes: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "message_id": self.message_id,
            "published": self.published,
            "delivery_attempts": self.attempts,
            "payload": self.payload,
        }


class PubsubDeadLetters:
    """``project``'s dead letters; the emulator when ``emulator_host`` is given."""

    def __init__(
        self,
        project: str,
        *,
        topic_prefix: str = DEFAULT_TOPIC_PREFIX,
        emulator_host: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.project = project
        self.topics = topic_ids(topic_prefix)
        self.kept = kept_ids(topic_prefix)
        self.base = (
            f"http://{emulator_host}/v1" if emulator_host else "https://pubsub.googleapis.com/v1"
        )
        self.emulator = emulator_host is not None
        self.timeout = timeout
        self._auth = BearerAuth()

    def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        import requests

        headers = {} if self.emulator else self._auth.headers()
        try:
            response = requests.post(
                f"{self.base}/projects/{self.project}/{path}",
                json=body,
                headers=headers,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise BusUnavailable(f"Pub/Sub: {exc}") from exc
        if response.status_code != 200:
            raise BusUnavailable(
                f"Pub/Sub {path}: HTTP {response.status_code} {response.text[:200]}"
            )
        return dict(response.json() or {})

    def _pull(self, topic: str, limit: int) -> list[tuple[str, DeadLetter]]:
        answer = self._call(
            f"subscriptions/{self.kept[topic]}:pull",
            {"maxMessages": limit, "returnImmediately": True},
        )
        found = []
        for item in answer.get("receivedMessages") or ():
            message = item["message"]
            data = message.get("data", "")
            found.append(
                (
                    item["ackId"],
                    DeadLetter(
                        topic=topic,
                        message_id=str(message.get("messageId", "")),
                        published=str(message.get("publishTime", "")),
                        attempts=str(item.get("deliveryAttempt", "")),
                        payload=decode(message),
                        data=data,
                        attributes=dict(message.get("attributes") or {}),
                    ),
                )
            )
        return found

    def list(self, topics: tuple[str, ...] = TOPICS, limit: int = 100) -> list[DeadLetter]:
        """Up to ``limit`` dead letters per topic, left where they are."""
        letters = []
        for topic in topics:
            pulled = self._pull(topic, limit)
            if pulled:  # handed back at once: listing takes nothing away
                self._call(
                    f"subscriptions/{self.kept[topic]}:modifyAckDeadline",
                    {"ackIds": [a for a, _ in pulled], "ackDeadlineSeconds": 0},
                )
            letters += [letter for _, letter in pulled]
        return letters

    def replay(self, topics: tuple[str, ...] = TOPICS, limit: int = 1000) -> int:
        """Publish up to ``limit`` dead letters per topic to their topic again; returns how
        many. Each is acknowledged only after its publish succeeded."""
        replayed = 0
        for topic in topics:
            done = 0
            while done < limit:
                pulled = self._pull(topic, min(100, limit - done))
                if not pulled:
                    break
                messages = [_republished(letter) for _, letter in pulled]
                self._call(f"topics/{self.topics[topic]}:publish", {"messages": messages})
                self._call(
                    f"subscriptions/{self.kept[topic]}:acknowledge",
                    {"ackIds": [a for a, _ in pulled]},
                )
                done += len(pulled)
            replayed += done
        return replayed


def _republished(letter: DeadLetter) -> dict[str, Any]:
    """The message as first published: its data and its own attributes, without those
    Pub/Sub adds when it dead-letters (``CloudPubSubDeadLetter...``; names as observed, not
    documented)."""
    own = {k: v for k, v in letter.attributes.items() if not k.startswith("CloudPubSubDeadLetter")}
    return {"data": letter.data, **({"attributes": own} if own else {})}


__all__ = ["DeadLetter", "PubsubDeadLetters"]
