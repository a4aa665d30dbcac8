"""Keep secrets out of logs and stored errors.

A Slack or Chat webhook URL is a credential (whoever has it can post), and so are Slack tokens
and the ``key``/``token`` parameters of a Chat webhook. They reach log lines and error texts
through our own messages, through exception texts of requests/urllib3, and through slack_sdk's
own logging of the URL it posts to. ``redact`` keeps what helps an operator (the scheme and the
host) and drops the rest; ``install_log_redaction`` applies it to every log record the process
makes, whichever library logs it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "…"
# A URL's path and query can hold the secret (hooks.slack.com/services/T/B/SECRET,
# chat.googleapis.com/...?key=K&token=T): keep scheme and host only.
_URL = re.compile(r"(?P<base>[A-Za-z][A-Za-z0-9+.-]*://[^/\s?#'\"<>]+)[^\s'\"<>]*")
# Pieces of URLs that appear without their scheme (urllib3: "Max retries exceeded with url: ...").
_PARAM = re.compile(
    r"(?P<name>[?&;](?:key|token|access_token|client_secret|code|sig|signature|state)=)"
    r"[^&\s'\"<>]+",
    re.IGNORECASE,
)
_SLACK_PATH = re.compile(r"/services/[A-Za-z0-9]+/[A-Za-z0-9]+/[A-Za-z0-9]+")
_SLACK_TOKEN = re.compile(r"\bxox[a-z]-[A-Za-z0-9-]+")
_BEARER = re.compile(r"(?P<scheme>\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def redact(text: Any) -> str:
    """``text`` with URLs cut to scheme://host and tokens masked."""
    value = str(text)
    value = _URL.sub(lambda m: f"{m.group('base')}/{MASK}", value)
    value = _PARAM.sub(lambda m: m.group("name") + MASK, value)
    value = _SLACK_PATH.sub("/services/" + MASK, value)
    value = _SLACK_TOKEN.sub(lambda m: m.group(0)[:5] + MASK, value)
    return _BEARER.sub(lambda m: m.group("scheme") + MASK, value)


_exception_text = logging.Formatter().formatException


def install_log_redaction() -> None:
    """Redact every log record at creation (idempotent): filters on handlers would miss
    handlers added later, and records of loggers with their own handlers."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: leave it to the handler to report
            return record
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact(_exception_text(record.exc_info))
        return record

    factory.redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
