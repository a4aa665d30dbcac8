"""What a tracked message may be made of: addresses, links and subjects, checked before
anything is written (the CLI checks before it even opens a store)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote, urlsplit

from .clock import iso
from .errors import FieldError, InvalidInput
from .json_input import valid_text
from .model import Link

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"


_EMAIL = re.compile(rf"^[^@\s<>()\[\],;:\"]+@{_LABEL}(?:\.{_LABEL})+$")


MAX_URL_CHARS = 2000


MAX_SUBJECT_CHARS = 500


MAX_RECIPIENTS = 500


SENT_AT_SKEW = timedelta(minutes=5)
"""How far ahead of this machine's clock a given send time may be (another machine's clock).
Further ahead, every open before that time would be taken for the sender's own, while writing
(``before-send``): a real reader's open would count for nothing."""


# Tracked links per message: the add-on lists each in one card (100 widgets at most).
MAX_LINKS = 50


def whole_number(text: str, digits: int = 6) -> int | None:
    """``text`` as a whole number when it is 1 to ``digits`` ASCII digits; None otherwise.

    ``str.isdigit`` is true of "²" and "٣" too, and ``int`` refuses the first and reads the
    second, so a form, a query or an add-on field checked with it reached ``int`` and failed
    with a 500; and thousands of digits cost a conversion each."""
    if 0 < len(text) <= digits and text.isascii() and text.isdigit():
        return int(text)
    return None


def check_text(value: object, what: str) -> str:
    """``value`` if it is a string that can be stored and shown: text with lone surrogates
    (from JSON's ``\\ud800`` escapes or undecodable bytes) passes every pattern below, then
    fails in the store's or the page's UTF-8 encoder, so it is refused here, at the boundary."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be text")
    if not valid_text(value):
        raise InvalidInput(f"{what} is not valid Unicode text")
    return value


def check_email(value: str) -> str:
    """A plausible single address, lower-cased; anything else is InvalidInput."""
    address = check_text(value, "an email address").strip()
    if len(address) > 254 or not _EMAIL.match(address):
        raise InvalidInput(f"not an email address: {value[:80]!r}")
    return address.lower()


def check_link(value: str) -> str:
    """An absolute http(s) URL with a host; javascript:, data: and relative links are refused."""
    url = check_text(value, "a link").strip()
    if not url.isascii():  # an IRI: keep what the browser would send, percent-encoded
        url = quote(url, safe=":/?#[]@!$&'()*+,;=%~")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port over 65535, or not a number, raises here)
    except ValueError:  # "http://[::1", "http://x:99999/": every click would have failed
        raise InvalidInput(f"not a valid link: {value[:80]!r}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"not an absolute http(s) link: {value[:80]!r}")
    if len(url) > MAX_URL_CHARS or any(ch in url for ch in "\r\n\t "):
        raise InvalidInput(f"link too long or contains white space: {value[:80]!r}")
    return url


@dataclass(frozen=True)
class TrackRequest:
    """A message to track, every field checked."""

    owner: str
    recipients: tuple[str, ...]
    subject: str
    links: tuple[Link, ...]


def check_subject(subject: str) -> str:
    """The subject, stripped; refused (never cut) when too long or holding control characters.

    It ends up in alert emails' Subject header, where a line break makes every send fail.
    """
    text = check_text(subject, "the subject").strip()
    if len(text) > MAX_SUBJECT_CHARS:
        raise InvalidInput(f"subject longer than {MAX_SUBJECT_CHARS} characters")
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text):
        raise InvalidInput("subject contains line breaks or control characters")
    return text


def check_track(
    *, sender: str, recipients: Sequence[str], subject: str = "", links: Sequence[str] = ()
) -> TrackRequest:
    """Validate a track request without touching any store (the CLI checks before it opens
    one, so a refused command creates nothing)."""
    owner = check_email(sender)
    to = tuple(dict.fromkeys(check_email(r) for r in recipients))
    if not to:
        raise InvalidInput("a tracked message needs at least one recipient")
    if len(to) > MAX_RECIPIENTS:
        raise InvalidInput(f"at most {MAX_RECIPIENTS} recipients")
    if len(links) > MAX_LINKS:
        raise InvalidInput(f"a message tracks at most {MAX_LINKS} links")
    checked = tuple(Link(i, check_link(url)) for i, url in enumerate(links, start=1))
    return TrackRequest(owner, to, check_subject(subject), checked)


def check_sent_at(sent_at: datetime | None, now: datetime, field: str = "sent_at") -> None:
    """Refuse a send time more than SENT_AT_SKEW ahead of ``now``: the one rule of the API,
    the add-on and `mailbeacon track --sent-at` (``field`` is the name the caller gave it)."""
    if sent_at is not None and sent_at > now + SENT_AT_SKEW:
        raise FieldError(field, f"is in the future ({iso(sent_at)}): give when the email left")
