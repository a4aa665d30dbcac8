"""Retry-After, as every channel reads it: one parser, so no header value can break a sender.

RFC 9110 section 10.2.3 allows delay-seconds or an HTTP-date. Servers also send what the RFC
does not: fractions, ``nan``, ``inf``, negatives, dates in the past, garbage. Each becomes a
finite, non-negative number of seconds, or None (no usable hint: the caller's own backoff).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from .clock import SystemClock

MAX_RETRY_AFTER = 30 * 86400.0
"""Longer hints are cut to this; whoever retries decides whether to wait that long."""


def retry_after_seconds(value: Any, now: datetime | None = None) -> float | None:
    """Seconds to wait for a Retry-After header value, or None when it says nothing usable."""
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except (TypeError, ValueError, OverflowError):
        return _from_date(text, now)
    if math.isnan(seconds):
        return None
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


def header_seconds(headers: Any) -> float | None:
    """Retry-After from a header mapping of any case (values may be lists), or None."""
    for key, value in dict(headers or {}).items():
        if str(key).lower() == "retry-after":
            return retry_after_seconds(value)
    return None


def _from_date(text: str, now: datetime | None) -> float | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or SystemClock().now())).total_seconds()
    return min(MAX_RETRY_AFTER, max(0.0, seconds))
