"""Cluster mode's consumer: `mailbeacon serve` pulls the bus's Pub/Sub subscriptions itself.

On Cloud Functions, Pub/Sub pushes each message into an entry point. A server on Cloud Run,
GKE or a VM has no push endpoint to offer, so it runs this Worker: per subscribed topic, a
loop of Pull calls (google-cloud-pubsub's SubscriberClient) that hands each message to a pool
of handler threads, with flow control (at most ``concurrency`` messages held per topic and
process) and a leaser that keeps extending the deadline of every message still in a handler.

A message is acknowledged only after its handler returned, that is after the event's write
committed; a handler that raises gets a nack, and Pub/Sub redelivers it with the
subscription's backoff, to whichever process pulls next. After ``max_delivery_attempts`` the
message goes to the topic's dead-letter topic. A process that dies holding messages loses
nothing: their leases lapse (at most ``LEASE_SECONDS`` later) and another process gets them.
Handlers are idempotent (an event's id is its hit's id), so a redelivery
records nothing twice.

Why unary Pull and not the library's streaming pull: on the Pub/Sub emulator, messages held
by a streaming pull whose process is killed are never handed out again (reproduced with the
library alone: SIGKILL one of two subscribers during 1,500 messages and 74 to 82 of them never
come back, against none with Pull), so the one guarantee cluster mode exists for could not be
shown here. Pull is the same API on Google's service, and at our rates (a Pull call returns up
to ``concurrency`` messages) it costs nothing measurable.

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
from . import DEAD, DEFAULT_TOPIC_PREFIX, BatchHandler, Handler, kept_ids, topic_ids
from .pubsub import parse

log = logging.getLogger(__name__)

SUBSCRIPTION_SUFFIX = "-pull"
KEPT_RETENTION_SECONDS = 7 * 86400
MAX_DELIVERY_ATTEMPTS = 50
MIN_BACKOFF_SECONDS = 10
MAX_BACKOFF_SECONDS = 600
"""The same retry and dead-letter settings as the deploy plan's push subscriptions."""
LEASE_SECONDS = 20
"""The pull subscriptions' ack deadline, and how far the leaser extends it every half of it:
a killed process's messages go to another within this (a push subscription's deadline is how
long one call may take, 60 s; here the leaser covers slow handlers)."""
DEFAULT_CONCURRENCY = 64
"""Handlers at once per topic and process. A hit's handler spends most of its time waiting:
the Firestore store coalesces each hot document's writes to about one a second and the
handler waits for the write that carries its event, so throughput is about this many hits a
second per process, for little CPU."""


def subscription_ids(prefix: str = DEFAULT_TOPIC_PREFIX) -> dict[str, str]:
    """Each topic's pull subscription id: the topic id plus ``-pull``."""
    return {topic: f"{tid}{SUBSCRIPTION_SUFFIX}" for topic, tid in topic_ids(prefix).items()}


class PubsubPullWorker:
    """The Worker protocol on Pub/Sub subscriptions consumed by Pull calls."""

    def __init__(
        self,
        project: str | None,
        *,
        topic_prefix: str = DEFAULT_TOPIC_PREFIX,
        emulator_host: str | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        lease_seconds: int = LEASE_SECONDS,
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
        self.kept = kept_ids(topic_prefix)
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.max_delivery_attempts = max_delivery_attempts
        self.min_backoff, self.max_backoff = min_backoff, max_backoff
        self.handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._clients: tuple[Any, Any] | None = None
        self._stopping = threading.Event()
        self._consumers: list[_Consumer] = []
        self._threads: list[threading.Thread] = []

    def topic_path(self, topic: str) -> str:
        return f"projects/{self.project}/topics/{self.topics[topic]}"

    def dead_letter_path(self, topic: str) -> str:
        return f"{self.topic_path(topic)}{DEAD}"

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
                with contextlib.suppress(AlreadyExists):  # what is dead-lettered is kept
                    subscriber.create_subscription(
                        request={
                            "name": f"projects/{self.project}/subscriptions/{self.kept[topic]}",
                            "topic": self.dead_letter_path(topic),
                            "message_retention_duration": {"seconds": KEPT_RETENTION_SECONDS},
                            "expiration_policy": {},  # set without a ttl: never expires
                        },
                        timeout=30,
                    )
                with contextlib.suppress(AlreadyExists):
                    subscriber.create_subscription(
                        request={
                            "name": self.subscription_path(topic),
                            "topic": self.topic_path(topic),
                            "ack_deadline_seconds": self.lease_seconds,
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

    def start(self) -> None:
        """Create what is missing, then start one pull loop per subscribed topic and the
        leaser."""
        self.ensure()
        self._api()
        self._stopping.clear()
        for topic in self.handlers:
            consumer = _Consumer(self, topic)
            self._consumers.append(consumer)
            consumer.start()
        leaser = threading.Thread(target=self._lease, name="pull-leaser", daemon=True)
        self._threads.append(leaser)
        leaser.start()
        names = ", ".join(self.subscriptions[t] for t in self.handlers)
        log.info("consuming %s by pull", names)

    def _lease(self) -> None:
        """Every half lease, extend the deadline of every message a handler still holds."""
        _, subscriber = self._api()
        while not self._stopping.wait(self.lease_seconds / 2):
            for consumer in self._consumers:
                consumer.extend(subscriber, self.lease_seconds)

    def stop(self) -> None:
        """Stop pulling; handlers already running finish and are acknowledged."""
        self._stopping.set()
        consumers, self._consumers = self._consumers, []
        for consumer in consumers:
            consumer.stop()
        threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout=30)
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


class _Consumer:
    """One topic's pull loop and the messages its handlers hold."""

    PULL_TIMEOUT = 10.0
    """How long one Pull call may wait for messages (so stop() is noticed soon)."""
    BATCH = 500
    """Ack ids per ModifyAckDeadline call."""

    def __init__(self, worker: PubsubPullWorker, topic: str) -> None:
        self.worker = worker
        self.topic = topic
        self.path = worker.subscription_path(topic)
        self.slots = threading.Semaphore(worker.concurrency)
        self.pool = ThreadPoolExecutor(worker.concurrency, thread_name_prefix=f"pull-{topic}")
        self.held: set[str] = set()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, name=f"pull-{topic}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.thread.join(timeout=self.PULL_TIMEOUT + 5)
        self.pool.shutdown(wait=True)  # running handlers finish and ack

    def _free_slots(self) -> int:
        """Block until at least one slot is free (or stopping), then take all that are."""
        if not self.slots.acquire(timeout=1.0):
            return 0
        taken = 1
        while taken < self.worker.concurrency and self.slots.acquire(blocking=False):
            taken += 1
        return taken

    def _loop(self) -> None:
        from google.api_core.exceptions import DeadlineExceeded, GoogleAPICallError, RetryError

        _, subscriber = self.worker._api()
        stopping = self.worker._stopping
        while not stopping.is_set():
            slots = self._free_slots()
            if not slots:
                continue
            try:
                response = subscriber.pull(
                    request={"subscription": self.path, "max_messages": slots},
                    timeout=self.PULL_TIMEOUT,
                )
                received = list(response.received_messages)
            except DeadlineExceeded:
                received = []
            except (GoogleAPICallError, RetryError) as exc:
                log.warning("pulling %s failed, trying again: %s", self.path, exc)
                received = []
                stopping.wait(1.0)  # back off, but wake at once on stop
            for _ in range(slots - len(received)):
                self.slots.release()
            with self.lock:
                self.held.update(r.ack_id for r in received)
            for message in received:
                self.pool.submit(self._handle, subscriber, message)

    def _handle(self, subscriber: Any, received: Any) -> None:
        try:
            message = received.message
            later = self.worker._run(self.topic, message.data, message.message_id)
            request = {"subscription": self.path, "ack_ids": [received.ack_id]}
            try:
                if later is None:  # after the handler returned: its writes are committed
                    subscriber.acknowledge(request=request)
                else:  # 0: redeliver with the subscription's backoff; else after ``later``
                    subscriber.modify_ack_deadline(
                        request={**request, "ack_deadline_seconds": int(later)}
                    )
            except Exception as exc:  # it comes back when its lease lapses: handlers are idempotent
                log.warning(
                    "could not settle %s message %s: %s", self.topic, message.message_id, exc
                )
        finally:
            with self.lock:
                self.held.discard(received.ack_id)
            self.slots.release()

    def extend(self, subscriber: Any, seconds: int) -> None:
        with self.lock:
            held = list(self.held)
        for i in range(0, len(held), self.BATCH):
            try:
                subscriber.modify_ack_deadline(
                    request={
                        "subscription": self.path,
                        "ack_ids": held[i : i + self.BATCH],
                        "ack_deadline_seconds": seconds,
                    }
                )
            except Exception as exc:  # the message may be handed out twice: handlers are idempotent
                log.warning("could not extend leases on %s: %s", self.path, exc)
