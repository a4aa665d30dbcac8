"""Cluster mode's pull subscriptions sit beside the deploy plan's push subscriptions: the same
topics, dead-letter topics and retry settings, and names that never collide."""

from __future__ import annotations

from functions.deploy import RETRY, SUBSCRIBERS, TOPIC_IDS
from mailbeacon.bus import DEFAULT_TOPIC_PREFIX, TOPICS, pubsub_pull
from mailbeacon.bus.pubsub_pull import PubsubPullWorker, subscription_ids


def test_pull_subscriptions_never_collide_with_the_plans_push_subscriptions() -> None:
    push = {f"{TOPIC_IDS[t]}-{fn.replace('_', '-')}" for t, fn in SUBSCRIBERS.items()}
    pull = subscription_ids(DEFAULT_TOPIC_PREFIX)
    assert set(pull) == set(TOPICS) == set(SUBSCRIBERS)
    assert pull == {t: f"mailbeacon-{t}-pull" for t in TOPICS}
    assert not push & set(pull.values())


def test_pull_subscriptions_dead_letter_and_retry_as_the_plan_does() -> None:
    worker = PubsubPullWorker("demo-proj")
    for topic in TOPICS:
        assert worker.topic_path(topic) == f"projects/demo-proj/topics/{TOPIC_IDS[topic]}"
        assert worker.dead_letter_path(topic).endswith(f"/topics/{TOPIC_IDS[topic]}-dead")
    assert worker.max_delivery_attempts == RETRY["attempts"]
    assert f"{worker.min_backoff}s" == RETRY["min"] and f"{worker.max_backoff}s" == RETRY["max"]
    # A dead process's messages come back within one lease, sooner than a push deadline.
    assert worker.lease_seconds == pubsub_pull.LEASE_SECONDS < RETRY["ack_deadline"]
