"""The plan's functions: each entry point deployed as a 2nd gen function, who may invoke it,
and the push subscriptions that feed the consumers."""

from __future__ import annotations

import shlex
from pathlib import Path

from .declaration import DeployConfig
from .resources import (
    ADDON,
    DEAD_IDS,
    FUNCTIONS,
    PUBLIC,
    PUSHED,
    RETRY,
    RUNTIME,
    SUBSCRIBERS,
    TOPIC_IDS,
    Function,
    ack_deadline,
    build_account,
    function,
)
from .shell import env_flag, secrets_flag


def function_commands(config: DeployConfig, source: Path, sa: str, p: str) -> list[str]:
    """The add-on's identity (the environment names it), then every entry point as a 2nd gen
    function, each with the whole declared environment, built as the build account, and
    invocable by exactly who calls it."""
    lines = [
        "# The add-on's identity: the service agent that signs Google's requests, and the OAuth"
        " client the user's ID token is issued to",
        f"ADDON_SA=$(gcloud workspace-add-ons get-authorization {p} "
        "--format='value(serviceAccountEmail)')",
        f"ADDON_CLIENT_ID=$(gcloud workspace-add-ons get-authorization {p} "
        "--format='value(oauthClientId)')",
        "# Every entry point as a 2nd gen function, each with the whole declared environment",
    ]
    env, secrets = config.environment(), secrets_flag(config.secrets())
    build = f"projects/{config.project}/serviceAccounts/{build_account(config.project)}"
    for fn in FUNCTIONS:
        lines.append(
            f"gcloud functions deploy {fn.name} --gen2 --runtime={RUNTIME} "
            f"--region={config.region} "
            f"--source={shlex.quote(str(source))} --entry-point={fn.name} --trigger-http "
            f"--no-allow-unauthenticated --service-account={sa} --build-service-account={build} "
            f"--memory={fn.memory} --cpu=1 "
            f"--concurrency={fn.concurrency} --min-instances={fn.min_instances} "
            f"--max-instances={fn.max_instances} --timeout={fn.timeout} "
            f"{env_flag(env, {'THREADS': str(fn.concurrency)})} {secrets} {p} --quiet"
        )
        lines.append(_access(fn, config.region, sa, p))
    return lines


def _access(fn: Function, region: str, sa: str, p: str) -> str:
    """Who may invoke ``fn``. Public: Cloud Run's invoker check off, Google's recommended way
    to make a service public where domain-restricted sharing refuses an ``allUsers`` binding
    (https://cloud.google.com/run/docs/authenticating/public); `gcloud functions deploy` has
    no such flag, the function's Cloud Run service (same name) takes it. Otherwise the one
    Google identity that calls it gets roles/run.invoker on that service."""
    if fn.access == PUBLIC:
        return (
            f"gcloud run services update {fn.name} --region={region} --no-invoker-iam-check "
            f"{p} --quiet >/dev/null"
        )
    member = {PUSHED: f"serviceAccount:{sa}", ADDON: '"serviceAccount:${ADDON_SA}"'}[fn.access]
    return (
        f"gcloud functions add-invoker-policy-binding {fn.name} --region={region} "
        f"--member={member} {p} >/dev/null"
    )


def subscription_name(topic: str) -> str:
    return f"{TOPIC_IDS[topic]}-{SUBSCRIBERS[topic].replace('_', '-')}"


def subscription_commands(region: str, sa: str, p: str) -> list[str]:
    """Each topic's push subscription into its function, retried with backoff and
    dead-lettered; its ack deadline covers the function's timeout."""
    lines = [
        f"# Push subscriptions: retried with backoff, dead-lettered after {RETRY['attempts']}"
        " attempts"
    ]
    for topic, fn_name in SUBSCRIBERS.items():
        sub, dead = subscription_name(topic), DEAD_IDS[topic]
        url = (
            f"$(gcloud functions describe {fn_name} --gen2 --region={region} {p} "
            "--format='value(serviceConfig.uri)')"
        )
        lines += [
            f"gcloud pubsub subscriptions describe {sub} {p} >/dev/null 2>&1 || "
            f"gcloud pubsub subscriptions create {sub} --topic={TOPIC_IDS[topic]} {p}",
            f'gcloud pubsub subscriptions update {sub} --push-endpoint="{url}" '
            f"--push-auth-service-account={sa} --ack-deadline={ack_deadline(function(fn_name))} "
            f"--min-retry-delay={RETRY['min']} --max-retry-delay={RETRY['max']} "
            f"--dead-letter-topic={dead} --max-delivery-attempts={RETRY['attempts']} {p}",
            f'gcloud pubsub topics add-iam-policy-binding {dead} --member="$PUBSUB_AGENT" '
            f"--role=roles/pubsub.publisher {p} >/dev/null",
            f'gcloud pubsub subscriptions add-iam-policy-binding {sub} --member="$PUBSUB_AGENT" '
            f"--role=roles/pubsub.subscriber {p} >/dev/null",
        ]
    return lines
