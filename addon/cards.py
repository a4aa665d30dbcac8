"""Card v1 JSON builders for the add-on HTTP runtime. Plain dicts, checked as they are built.

Every builder takes *plain* user text and escapes it itself (subjects, recipients and URLs are
user-controlled and Gmail renders textParagraph/decoratedText as simple HTML), so a caller cannot
forget. Markup the add-on writes on purpose goes through ``markup=`` arguments only.
Limits are enforced here rather than discovered in Gmail: a card with a 101st widget or a
10,000-character paragraph fails loudly in tests, not silently for a user.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Json = dict[str, Any]

MAX_SECTIONS = 100
MAX_WIDGETS = 100
MAX_ITEMS = 100
MAX_TEXT = 4000  # characters of one textParagraph / decoratedText text, after escaping
MAX_LABEL = 200  # topLabel / bottomLabel / header / input label
MAX_BUTTON = 60


class CardError(ValueError):
    """A builder was asked for something the platform would reject."""


def esc(text: object, limit: int = MAX_TEXT) -> str:
    """Escape user text for Gmail's simple HTML, shortening it (before escaping) to fit."""
    value = str(text)
    escaped = html.escape(value, quote=True)
    if len(escaped) <= limit:
        return escaped
    low, high = 0, min(len(value), limit)  # the longest prefix whose escaped form fits
    while low < high:
        mid = (low + high + 1) // 2
        if len(html.escape(value[:mid], quote=True)) + 1 <= limit:
            low = mid
        else:
            high = mid - 1
    return html.escape(value[:low], quote=True) + "…"


def shorten(text: str, limit: int) -> str:
    """Plain text cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fit(value: str, limit: int, what: str) -> str:
    if len(value) > limit:
        raise CardError(f"{what} is {len(value)} characters; the limit is {limit}")
    return value


def action(function: str, parameters: Mapping[str, str] | None = None) -> Json:
    """An Action calling ``function`` (a full HTTPS URL in an HTTP deployment)."""
    result: Json = {"function": function, "loadIndicator": "SPINNER"}
    if parameters:
        result["parameters"] = [{"key": k, "value": str(v)} for k, v in parameters.items()]
    return result


PRIMARY_COLOR: Json = {"red": 0.10, "green": 0.45, "blue": 0.91, "alpha": 1}


def button(text: str, on_click: Json, *, filled: bool = False, disabled: bool = False) -> Json:
    """A text button; ``filled`` marks the one primary action of a card."""
    result: Json = {"text": _fit(text, MAX_BUTTON, "button text"), "onClick": on_click}
    if filled:
        result["color"] = PRIMARY_COLOR
    if disabled:
        result["disabled"] = True
    return result


def on_action(function: str, parameters: Mapping[str, str] | None = None) -> Json:
    """An onClick that calls the add-on back at ``function``."""
    return {"action": action(function, parameters)}


def open_link(url: str) -> Json:
    """An onClick that opens ``url`` in a new tab."""
    return {"openLink": {"url": url, "openAs": "FULL_SIZE", "onClose": "NOTHING"}}


def buttons(*items: Json) -> Json:
    """A buttonList widget."""
    if not items:
        raise CardError("a button list needs a button")
    return {"buttonList": {"buttons": list(items)}}


def paragraph(text: str = "", *, markup: str = "") -> Json:
    """A textParagraph: plain ``text`` (escaped) followed by trusted ``markup``."""
    body = esc(text) + markup
    return {"textParagraph": {"text": _fit(body, MAX_TEXT, "paragraph")}}


def decorated(
    text: str,
    *,
    top: str = "",
    bottom: str = "",
    on_click: Json | None = None,
    end_button: Json | None = None,
    switch: Json | None = None,
) -> Json:
    """A decoratedText; all three texts are plain user text and get escaped."""
    widget: Json = {"text": esc(text), "wrapText": True}
    if top:
        widget["topLabel"] = esc(top, MAX_LABEL)
    if bottom:
        widget["bottomLabel"] = esc(bottom, MAX_LABEL)
    if on_click:
        widget["onClick"] = on_click
    if end_button and switch:
        raise CardError("a decoratedText has a button or a switch, not both")
    if end_button:
        widget["button"] = end_button
    if switch:
        widget["switchControl"] = switch
    return {"decoratedText": widget}


def text_input(name: str, label: str, *, value: str = "", hint: str = "") -> Json:
    """A single-line textInput; its value arrives as ``formInputs[name]``."""
    widget: Json = {"name": name, "label": esc(label, MAX_LABEL), "type": "SINGLE_LINE"}
    if value:
        widget["value"] = value
    if hint:
        widget["hintText"] = esc(hint, MAX_LABEL)
    return {"textInput": widget}


def selection(
    name: str, label: str, options: Sequence[tuple[str, str]], selected: str, *, kind: str
) -> Json:
    """A selectionInput (RADIO_BUTTON, DROPDOWN...) from (value, text) pairs."""
    if not options or len(options) > MAX_ITEMS:
        raise CardError(f"a selection needs 1 to {MAX_ITEMS} items, got {len(options)}")
    items = [
        {"text": esc(text, MAX_LABEL), "value": value, "selected": value == selected}
        for value, text in options
    ]
    return {
        "selectionInput": {
            "name": name,
            "label": esc(label, MAX_LABEL),
            "type": kind,
            "items": items,
        }
    }


def switch(name: str, selected: bool) -> Json:
    """A switchControl for a decoratedText (left out of formInputs when off)."""
    return {"name": name, "value": "on", "selected": selected, "controlType": "SWITCH"}


def divider() -> Json:
    """A thin line between widgets."""
    return {"divider": {}}


def section(widgets: Iterable[Json], header: str = "", *, collapsible: int | None = None) -> Json:
    """A section of 1 to 100 widgets; long ones collapse after ``collapsible``."""
    items = list(widgets)
    if not items:
        raise CardError("a section needs at least one widget")
    if len(items) > MAX_WIDGETS:
        raise CardError(f"a section holds at most {MAX_WIDGETS} widgets, got {len(items)}")
    result: Json = {"widgets": items}
    if header:
        result["header"] = esc(header, MAX_LABEL)
    if collapsible is not None and collapsible < len(items):
        result["collapsible"] = True
        result["uncollapsibleWidgetsCount"] = collapsible
    return result


def card(
    title: str,
    sections: Iterable[Json],
    *,
    subtitle: str = "",
    name: str = "",
    footer: Json | None = None,
) -> Json:
    """A Card. ``title`` and ``subtitle`` are plain text (headers do not render HTML)."""
    parts = list(sections)
    if not parts or len(parts) > MAX_SECTIONS:
        raise CardError(f"a card holds 1 to {MAX_SECTIONS} sections, got {len(parts)}")
    header: Json = {"title": shorten(title, MAX_LABEL) or "Untitled"}
    if subtitle:
        header["subtitle"] = shorten(subtitle, MAX_LABEL)
    result: Json = {"header": header, "sections": parts}
    if name:
        result["name"] = name
    if footer:
        # The card spec requires the fixed footer's primary button to carry a colour (Apps
        # Script: it must be FILLED); an unfilled one would not render.
        result["fixedFooter"] = {"primaryButton": {"color": PRIMARY_COLOR, **footer}}
    return result


# Responses -----------------------------------------------------------------------------------


def push_card(built: Json) -> Json:
    """What a homepage, contextual or compose trigger answers: show this card."""
    return {"action": {"navigations": [{"pushCard": built}]}}


def render(built: Json, *, push: bool = False, notify: str = "") -> Json:
    """What a button answers: replace (or push over) the current card, maybe with a toast."""
    act: Json = {"navigations": [{"pushCard" if push else "updateCard": built}]}
    if notify:
        act["notification"] = {"text": notify[:MAX_LABEL]}
    return {"renderActions": {"action": act}}


def update_draft(
    content: str, where: str, *, content_type: str, then: Json | None = None, notify: str = ""
) -> Json:
    """Insert ``content`` into the draft (updateDraftActionMarkup), then show ``then``."""
    if where not in ("IN_PLACE_INSERT", "INSERT_AT_START", "INSERT_AT_END"):
        raise CardError(f"unsupported draft update type {where!r}")
    markup = {
        "updateBody": {
            "insertContents": [{"content": content, "contentType": content_type}],
            "type": where,
        }
    }
    result: Json = {"hostAppAction": {"gmailAction": {"updateDraftActionMarkup": markup}}}
    act: Json = {}
    if then is not None:
        act["navigations"] = [{"updateCard": then}]
    if notify:
        act["notification"] = {"text": notify[:MAX_LABEL]}
    if act:
        result["action"] = act
    return {"renderActions": result}
