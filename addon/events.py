"""The add-on event object (the JSON body Google POSTs), reduced to what the handlers read.

Field names follow the HTTP runtime's event object: ``commonEventObject`` (timeZone, formInputs,
parameters, hostApp), ``authorizationEventObject`` (userOAuthToken, userIdToken) and the ``gmail``
host object (messageId, accessToken, to/cc/bccRecipients). Anything malformed is InvalidInput,
never a crash: the body comes from the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import getaddresses
from typing import Any

from mailbeacon.errors import InvalidInput
from mailbeacon.json_input import read_json

MAX_BODY = 1 << 20


@dataclass(frozen=True)
class AddonEvent:
    """One trigger or button press."""

    host_app: str = ""
    timezone: str = ""
    locale: str = ""
    form: dict[str, tuple[str, ...]] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    invoked_function: str = ""
    message_id: str = ""
    thread_id: str = ""
    gmail_access_token: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    user_oauth_token: str = ""
    user_id_token: str = ""
    system_id_token: str = ""
    authorized_scopes: tuple[str, ...] | None = None
    """What the user granted, when the consent was granular (None: not reported)."""

    def value(self, name: str, default: str = "") -> str:
        """The first string a form widget sent (a missing switch or empty input is ``default``)."""
        values = self.form.get(name) or ()
        return values[0].strip() if values else default

    def checked(self, name: str) -> bool:
        """A switch or checkbox: Gmail leaves an unselected one out of formInputs."""
        return bool(self.form.get(name))

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every address the draft goes to, To then Cc then Bcc, each once."""
        return tuple(dict.fromkeys(self.to + self.cc + self.bcc))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _addresses(value: Any) -> tuple[str, ...]:
    """Recipients arrive as strings ("a@b.c" or "Name <a@b.c>") or {"email": ...} objects."""
    raw: list[str] = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, str):
            raw.append(item)
        elif isinstance(item, dict) and isinstance(item.get("email"), str):
            raw.append(item["email"])
    found = [addr.strip().lower() for _name, addr in getaddresses(raw) if "@" in addr]
    return tuple(dict.fromkeys(found))


def _form_inputs(value: Any) -> dict[str, tuple[str, ...]]:
    """``{name: {"stringInputs": {"value": [...]}}}``; other input kinds become strings too."""
    form: dict[str, tuple[str, ...]] = {}
    for name, entry in _dict(value).items():
        entry = _dict(entry)
        strings = _dict(entry.get("stringInputs")).get("value")
        if isinstance(strings, list):
            form[name] = tuple(s for s in strings if isinstance(s, str))
        elif "dateTimeInput" in entry or "dateInput" in entry:
            ms = _dict(entry.get("dateTimeInput") or entry.get("dateInput")).get("msSinceEpoch")
            form[name] = (str(ms),) if ms is not None else ()
        elif "timeInput" in entry:
            t = _dict(entry["timeInput"])
            form[name] = (f"{t.get('hours', 0)}:{t.get('minutes', 0)}",)
    return form


def parse_event(body: bytes | str | dict[str, Any]) -> AddonEvent:
    """Parse a request body; an empty body is an empty event (Google always sends one)."""
    if isinstance(body, dict):
        data = body
    else:
        if len(body) > MAX_BODY:
            raise InvalidInput("event body too large")
        if not body.strip():
            return AddonEvent()
        data = read_json(body, what="the event body")
    if not isinstance(data, dict):
        raise InvalidInput("event body is not a JSON object")
    common = _dict(data.get("commonEventObject"))
    auth = _dict(data.get("authorizationEventObject"))
    gmail = _dict(data.get("gmail"))
    draft = _dict(data.get("draftMetadata"))  # the older Apps Script name for the same lists
    parameters = {
        str(k): v for k, v in _dict(common.get("parameters")).items() if isinstance(v, str)
    }
    return AddonEvent(
        host_app=_text(common.get("hostApp")),
        timezone=_text(_dict(common.get("timeZone")).get("id")),
        locale=_text(common.get("userLocale")),
        form=_form_inputs(common.get("formInputs")),
        parameters=parameters,
        invoked_function=_text(common.get("invokedFunction")),
        message_id=_text(gmail.get("messageId")),
        thread_id=_text(gmail.get("threadId")),
        gmail_access_token=_text(gmail.get("accessToken")),
        to=_addresses(gmail.get("toRecipients") or draft.get("toRecipients")),
        cc=_addresses(gmail.get("ccRecipients") or draft.get("ccRecipients")),
        bcc=_addresses(gmail.get("bccRecipients") or draft.get("bccRecipients")),
        user_oauth_token=_text(auth.get("userOAuthToken")),
        user_id_token=_text(auth.get("userIdToken")),
        system_id_token=_text(auth.get("systemIdToken")),
        authorized_scopes=(
            tuple(s for s in auth["authorizedScopes"] if isinstance(s, str))
            if isinstance(auth.get("authorizedScopes"), list)
            else None
        ),
    )
