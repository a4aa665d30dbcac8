"""Helpers for add-on tests: realistic event fixtures, the card schema, and a tiny "Gmail"
that finds buttons in a card and presses them the way Google does (POST to the action's URL
with its parameters and the form's inputs)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "addon"
SCHEMA = ROOT / "addon" / "schema" / "addon-response.schema.json"
ALLOWED_MARKUP = re.compile(r'<font color="#[0-9a-f]{6}">|</font>')
ENTITY = re.compile(r"&(?:amp|lt|gt|quot|#x27|#39);")


def event(name: str) -> dict[str, Any]:
    """A fresh copy of a fixture event (tests fill in tokens and parameters)."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


@cache
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def user_texts(node: Any) -> Iterator[str]:
    """Every string Gmail renders as simple HTML."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "textParagraph":
                yield value["text"]
            elif key == "decoratedText":
                for field in ("text", "topLabel", "bottomLabel"):
                    if field in value:
                        yield value[field]
            yield from user_texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from user_texts(item)


def check_response(response: Any) -> Any:
    """Schema-valid (unknown keys rejected, limits held) and every rendered text escaped."""
    errors = sorted(validator().iter_errors(response), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message[:300]}" for e in errors[:5])
    for text in user_texts(response):
        bare = ALLOWED_MARKUP.sub("", text)
        assert "<" not in bare and ">" not in bare, f"unescaped markup in {text!r}"
        assert "&" not in ENTITY.sub("", bare), f"unescaped ampersand in {text!r}"
    return response


def cards(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The cards a response shows (pushCard or updateCard)."""
    action = response.get("action") or response.get("renderActions", {}).get("action") or {}
    found = []
    for nav in action.get("navigations", []):
        found += [nav[k] for k in ("pushCard", "updateCard") if k in nav]
    return found


def the_card(response: dict[str, Any]) -> dict[str, Any]:
    (card,) = cards(response)
    return card


def draft_update(response: dict[str, Any]) -> dict[str, Any]:
    host = response["renderActions"]["hostAppAction"]
    return host["gmailAction"]["updateDraftActionMarkup"]["updateBody"]


def text_of(card: dict[str, Any]) -> str:
    """All visible text of a card, for assertions about what a user reads."""
    return " | ".join(user_texts(card)) + " | " + json.dumps(card.get("header", {}))


def buttons(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Button text -> its action, plus clickable decoratedTexts keyed by their text."""
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "text" in node and "onClick" in node and "action" in node["onClick"]:
                found.setdefault(node["text"], node["onClick"]["action"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return found


def press(action: dict[str, Any], base_event: dict[str, Any], **inputs: str) -> dict[str, Any]:
    """The event Google sends when the button with ``action`` is pressed with ``inputs`` typed."""
    sent = copy.deepcopy(base_event)
    common = sent.setdefault("commonEventObject", {})
    common["parameters"] = {p["key"]: p["value"] for p in action.get("parameters", [])}
    common["formInputs"] = {k: {"stringInputs": {"value": [v]}} for k, v in inputs.items()}
    return sent


def path_of(url: str) -> str:
    """``https://host/base/addon/x`` -> ``/addon/x`` (what to POST to a local server)."""
    return "/addon/" + url.split("/addon/", 1)[1]
