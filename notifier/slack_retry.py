"""slack_sdk retry handlers that follow our RetryPolicy: its sleep, its limits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler

from mailbeacon.retry_after import header_seconds

from .retry import TRANSIENT_ERRORS

if TYPE_CHECKING:
    from .retry import RetryPolicy


def retry_after(response: Any) -> float | None:
    """Retry-After in seconds from a slack_sdk response."""
    return header_seconds(response.headers) if response is not None else None


class _PolicySleep(RetryHandler):
    policy: RetryPolicy

    def prepare_for_next_attempt(self, *, state: Any, request: Any, response=None, error=None):  # type: ignore[no-untyped-def]
        state.next_attempt_requested = True
        hint = (
            retry_after(response) if response is not None and response.status_code == 429 else None
        )
        self.policy.sleep(self.policy.delay(state.current_attempt + 1, hint))
        state.increment_current_attempt()


class ShortRateLimitRetryHandler(_PolicySleep, RateLimitErrorRetryHandler):
    """Retries a 429 only when Slack asks for a short wait; longer ones go back to the bus."""

    def __init__(self, policy: RetryPolicy) -> None:
        RateLimitErrorRetryHandler.__init__(self, max_retry_count=policy.retries)
        self.policy = policy

    def _can_retry(self, *, state: Any, request: Any, response=None, error=None) -> bool:  # type: ignore[no-untyped-def]
        if response is None or response.status_code != 429:
            return False
        wait = retry_after(response)
        return wait is None or wait <= self.policy.max_inline_wait


class PolicyServerErrorRetryHandler(_PolicySleep, ServerErrorRetryHandler):
    def __init__(self, policy: RetryPolicy) -> None:
        ServerErrorRetryHandler.__init__(self, max_retry_count=policy.retries)
        self.policy = policy


class PolicyConnectionErrorRetryHandler(_PolicySleep, ConnectionErrorRetryHandler):
    def __init__(self, policy: RetryPolicy) -> None:
        ConnectionErrorRetryHandler.__init__(
            self, max_retry_count=policy.retries, error_types=list(TRANSIENT_ERRORS)
        )
        self.policy = policy


def slack_handlers(policy: RetryPolicy) -> list[RetryHandler]:
    return [
        PolicyConnectionErrorRetryHandler(policy),
        PolicyServerErrorRetryHandler(policy),
        ShortRateLimitRetryHandler(policy),
    ]
