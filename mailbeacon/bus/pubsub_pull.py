"""Cluster mode's consumer: `mailbeacon serve` pulls the bus's Pub/Sub subscriptions itself.

On Cloud Functions, Pub/Sub pushes each message into an entry point. A server on Cloud Run,
GKE or a VM has no push endpoint to offer, so it runs this Worker: one streaming pull per
subscribed topic (google-cloud-pubsub's subscriber, which keeps each message's lease extended
while its handler runs), with flow control bounding how many messages one process holds.

A message is acknowledged only after its handler returned, that is after the event's write
committed; a handler that raises gets a nack, and Pub/Sub redelivers it with the
subscription's backoff, to whichever process pulls next. After ``max_delivery_attempts`` the
message goes to the topic's dead-letter topic. A process that dies holding messages loses
nothing: their leases lapse (at most ``lease_seconds`` later) and another process gets them.
Handlers are idempotent (an event's id is its hit's id), so a redelivery records nothing twice.

Any number of processes share one subscription per topic: Pub/Sub hands each message to one
of them. The subscriptions are ``<topic id>-pull``, beside the deploy plan's push
subscriptions (``<topic id>-<function>``), and dead-letter into the plan's ``<topic id>-dead``.
Missing topics and subscriptions are created at start.

Publishing stays on PubsubBus's REST call (one POST, no gRPC stack to import at cold start).
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import BusUnavailable, RetryLater
from . import DEFAULT_TOPIC_PREFIX, BatchHandler, Handler, topic_ids
from .pubsub import parse

log = logging.getLogger(__name__)

SUBSCRIPTION_SUFFIX = "-pull"
DEAD_LETTER_SUFFIX = "-dead"
MAX_DELIVERY_ATTEMPTS = 10
MIN_BACKOFF_SECONDS = 10
MAX_BACKOFF_SECONDS = 600
ACK_DEADLINE_SECONDS = 60
"""The same retry, dead-letter and deadline settings as the deploy plan's push subscriptions."""
DEFAULT_CONCURRENCY = 64
"""Handlers at once per topic and process. A hit's handler spends most of its time waiting:
the Firestore store coalesces each hot document's writes to about one a second and the
handler waits for the write that carries its event, so throughput is about this many hits a
second per process, for little CPU."""


def subscription_ids(prefix: str = DEFAULT_TOPIC_PREFIX) -> dict[str, str]:
    """Each topic's pull subscription id: the topic id plus ``-pull``."""
    return {topic: f"{tid}{SUBSCRIPTION_SUFFIX}" for topic, tid in topic_ids(prefix).items()}


class PubsubPullWorker:
    """The Worker protocol on Pub/Sub subscriptions consumed by streaming pull."""

    def __init__(
        self,
        project: str | None,
        *,
        topic_prefix: str = DEFAULT_TOPIC_PREFIX,
        emulator_host: str | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        lease_seconds: int = 20,
        max_delivery_attempts: int = MAX_DELIVERY_ATTEMPTS,
        min_backoff: int = MIN_BACKOFF_SECONDS,
        max_backoff: int = MAX_BACKOFF_SECONDS,
    ) -> None:
        """``concurrency``: messages one process holds and handles at once per topic (flow
        control); ``lease_seconds``: how long each lease extension lasts, hence how soon a
        dead process's messages go to another."""
        if not project:
            raise BusUnavailable("Pub/Sub needs a project: set GOOGLE_CLOUD_PROJECT")
        self.project = project
        self.emulator_host = emulator_host
        self.topics = topic_ids(topic_prefix)
        self.subscriptions = subscription_ids(topic_prefix)
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.max_delivery_attempts = max_delivery_attempts
        self.min_backoff, self.max_backoff = min_backoff, max_backoff
        self.handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._clients: tuple[Any, Any] | None = None
        self._streams: list[Any] = []

    def topic_path(self, topic: str) -> str:
        return f"projects/{self.project}/topics/{self.topics[topic]}"

    def dead_letter_path(self, topic: str) -> str:
        return f"{self.topic_path(topic)}{DEAD_LETTER_SUFFIX}"

    def subscription_path(self, topic: str) -> str:
        return f"projects/{self.project}/subscriptions/{self.subscriptions[topic]}"

    def subscribe(self, topic: str, handler: Handler, *, batch: BatchHandler | None = None) -> None:
        """Each message is handled (and acknowledged) on its own: ``batch`` is not used."""
        self.handlers[topic] = handler

    def pending_hits(self, message_id: str | None = None) -> list[dict[str, Any]]:
        """Unknowable here: the messages wait in Pub/Sub, not in this process."""
        return []

    def _api(self) -> tuple[Any, Any]:
        """(publisher, subscriber) clients, made once; on the emulator over plain gRPC."""
        with self._lock:
            if self._clients is None:
                from google.cloud import pubsub_v1

                if self.emulator_host:
                    import grpc
                    from google.pubsub_v1.services.publisher.transports import (
                        PublisherGrpcTransport,
                    )
                    from google.pubsub_v1.services.subscriber.transports import (
                        SubscriberGrpcTransport,
                    )

                    self._clients = (
                        pubsub_v1.PublisherClient(
                            transport=PublisherGrpcTransport(
                                channel=grpc.insecure_channel(self.emulator_host)
                            )
                        ),
                        pubsub_v1.SubscriberClient(
                            transport=SubscriberGrpcTransport(
                                channel=grpc.insecure_channel(self.emulator_host)
                            )
                        ),
                    )
                else:
                    self._clients = (pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient())
            return self._clients

    def ensure(self, topics: Iterable[str] | None = None) -> None:
        """Create whatever is missing: each topic, its dead-letter topic, its pull subscription
        (ack deadline, retry backoff, dead-letter policy). Existing ones are left as they are.
        Raises BusUnavailable when Pub/Sub cannot be reached or refuses."""
        from google.api_core.exceptions import AlreadyExists, GoogleAPICallError

        publisher, subscriber = self._api()
        try:
            for topic in self.handlers if topics is None else topics:
                for path in (self.topic_path(topic), self.dead_letter_path(topic)):
                    with contextlib.suppress(AlreadyExists):
                        publisher.create_topic(request={"name": path}, timeout=30)
                with contextlib.suppress(AlreadyExists):
                    subscriber.create_subscription(
                        request={
                            "name": self.subscription_path(topic),
                            "topic": self.topic_path(topic),
                            "ack_deadline_seconds": ACK_DEADLINE_SECONDS,
                            "retry_policy": {
                                "minimum_backoff": {"seconds": self.min_backoff},
                                "maximum_backoff": {"seconds": self.max_backoff},
                            },
                            "dead_letter_policy": {
                                "dead_letter_topic": self.dead_letter_path(topic),
                                "max_delivery_attempts": self.max_delivery_attempts,
                            },
                        },
                        timeout=30,
                    )
        except GoogleAPICallError as exc:
            raise BusUnavailable(f"setting up Pub/Sub subscriptions: {exc}") from exc

    def _run(self, topic: str, data: bytes, message_id: str) -> float | None:
        """Run ``topic``'s handler on one message. Returns None to acknowledge it, 0 to have it
        redelivered with the subscription's backoff, or the seconds a RetryLater asked for."""
        payload = parse(data)
        if payload is None:
            log.error("acknowledging malformed %s message %s: not a JSON object", topic, message_id)
            return None
        try:
            self.handlers[topic](payload)
        except RetryLater as exc:  # the lease is the delay: Pub/Sub allows up to 600 s
            return float(min(600, max(1, math.ceil(exc.seconds))))
        except Exception as exc:
            log.warning("handler for %s failed on message %s: %r", topic, message_id, exc)
            return 0
        return None

    def _callback(self, topic: str) -> Any:
        def received(message: Any) -> None:
            later = self._run(topic, message.data, message.message_id)
            if later is None:
                message.ack()  # after the handler returned: its writes are committed
            elif later == 0:
                message.nack()
            else:  # hold it for the asked time, then let Pub/Sub hand it out again
                message.modify_ack_deadline(int(later))
                message.drop()

        return received

    def start(self) -> None:
        """Create what is missing, then open one streaming pull per subscribed topic."""
        from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler
        from google.cloud.pubsub_v1.types import FlowControl

        self.ensure()
        _, subscriber = self._api()
        flow = FlowControl(
            max_messages=self.concurrency,
            max_duration_per_lease_extension=self.lease_seconds,
        )
        for topic in self.handlers:
            executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"pull-{topic}")
            stream = subscriber.subscribe(
                self.subscription_path(topic),
                self._callback(topic),
                flow_control=flow,
                scheduler=ThreadScheduler(executor),
                await_callbacks_on_shutdown=True,  # stop() lets running handlers finish
            )
            stream.add_done_callback(self._ended(topic))
            self._streams.append(stream)
        names = ", ".join(self.subscriptions[t] for t in self.handlers)
        log.info("consuming %s by streaming pull", names)

    def _ended(self, topic: str) -> Any:
        def ended(stream: Any) -> None:
            if not stream.cancelled() and stream.exception() is not None:
                log.error("streaming pull of %s stopped: %s", topic, stream.exception())

        return ended

    def stop(self) -> None:
        """Close the streams; handlers already running finish and are acknowledged."""
        streams, self._streams = self._streams, []
        for stream in streams:
            stream.cancel()
        for stream in streams:
            with contextlib.suppress(Exception):  # cancelled, or failed (logged when it ended)
                stream.result(timeout=30)
        with self._lock:
            clients, self._clients = self._clients, None
        if clients is not None:
            clients[1].close()

    def drain(self, topics: Iterable[str] | None = None, *, include_leased: bool = False) -> int:
        """Pull and handle every message available now, in this thread; returns how many.

        ``include_leased`` cannot be honoured: a message another process holds comes back
        only when its lease lapses."""
        from google.api_core.exceptions import DeadlineExceeded

        _, subscriber = self._api()
        handled = 0
        for topic in [t for t in (topics or list(self.handlers)) if t in self.handlers]:
            path = self.subscription_path(topic)
            while True:
                try:
                    response = subscriber.pull(
                        request={
                            "subscription": path,
                            "max_messages": self.concurrency,
                            "return_immediately": True,
                        },
                        timeout=30,
                    )
                except DeadlineExceeded:
                    break
                if not response.received_messages:
                    break
                acks: list[str] = []
                for received in response.received_messages:
                    message = received.message
                    later = self._run(topic, message.data, message.message_id)
                    if later is None:
                        acks.append(received.ack_id)
                    else:
                        subscriber.modify_ack_deadline(
                            request={
                                "subscription": path,
                                "ack_ids": [received.ack_id],
                                "ack_deadline_seconds": int(later),
                            }
                        )
                handled += len(response.received_messages)
                if acks:
                    subscriber.acknowledge(request={"subscription": path, "ack_ids": acks})
        return handled
