"""One error tree, so edges can map failures to responses without knowing which adapter failed."""

from __future__ import annotations


class MailbeaconError(Exception):
    """Base of every error Mailbeacon raises on purpose."""


class InvalidToken(MailbeaconError):
    """A token was malformed, truncated, forged or signed by an unknown key."""


class InvalidInput(MailbeaconError):
    """A caller gave a value Mailbeacon will not accept (bad address, non-http link...)."""


class FieldError(InvalidInput):
    """Bad input in one named field: ``field`` (the parameter's or form field's name) and
    ``reason``. The API says "since must be ..."; a page names the field as the form labels it
    (mailbeacon.words.field)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field} {reason}")
        self.field = field
        self.reason = reason


class UnknownMessage(MailbeaconError):
    """No tracked message has that id (or it belongs to someone else)."""


class StoreUnavailable(MailbeaconError):
    """The store could not be reached or written in time; the caller may retry."""


class BusUnavailable(MailbeaconError):
    """A message could not be made durable on the bus."""


class DeliveryFailed(MailbeaconError):
    """A notification could not be delivered.

    ``permanent`` says whether retrying can help; ``retry_after`` is the server's hint in seconds.
    """

    def __init__(
        self,
        channel: str,
        detail: str,
        *,
        permanent: bool,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        from .redact import redact

        detail = redact(detail)  # it is logged and stored: no webhook URL or token in it
        super().__init__(f"{channel}: {detail}")
        self.channel = channel
        self.detail = detail
        self.permanent = permanent
        # The server's hint, sane: NaN or a negative says nothing (None); +inf stays, and
        # means "longer than anyone waits" (RetryPolicy.gives_up).
        self.retry_after = retry_after if retry_after is None or retry_after >= 0 else None
        self.status = status


class Unauthorized(MailbeaconError):
    """An inbound request could not be verified as coming from Google or Slack."""


MAX_RETRY_LATER = 86400.0


class RetryLater(MailbeaconError):
    """A consumer asks the bus to deliver this message again after ``seconds``."""

    def __init__(self, seconds: float, reason: str = "") -> None:
        # Whatever a caller computed (a server's hint, a clock difference), a bus waits a
        # finite, non-negative time: NaN or a negative is "now", more than a day is a day.
        if not (seconds >= 0):  # (NaN is not >= 0)
            seconds = 0.0
        seconds = min(float(seconds), MAX_RETRY_LATER)
        super().__init__(reason or f"retry in {seconds:.0f}s")
        self.seconds = seconds
