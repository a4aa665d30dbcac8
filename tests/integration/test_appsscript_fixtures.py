"""The Apps Script client's tests render card JSON that the Python add-on really produces.

This test regenerates those responses and checks the files in appsscript/tests/fixtures/ match
(ids and tokens normalised), so the JavaScript renderer is tested against today's cards, not a
hand-written guess. Run with MAILBEACON_WRITE_FIXTURES=1 to refresh them after changing a card.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from functions.app import create_app
from functions.bootstrap import bootstrap
from functions.config import AppConfig
from mailbeacon.clock import FixedClock
from tests.support import addon as ui

BASE = "https://mailbeacon.example.com"
OUT = ui.ROOT / "appsscript" / "tests" / "fixtures"
HEADERS = {"Authorization": "Bearer dev:sam@example.com"}


def normalise(data: Any, ids: dict[str, str]) -> Any:
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)
    for real, placeholder in ids.items():
        text = text.replace(real, placeholder)
    text = re.sub(r"/p/[A-Za-z0-9_-]+\.gif", "/p/PIXEL_TOKEN.gif", text)
    text = re.sub(r"/c/[A-Za-z0-9_-]+", "/c/LINK_TOKEN", text)
    return json.loads(text)


def generate(tmp_path: Path) -> dict[str, Any]:
    config = AppConfig.local(tmp_path / "data", public_url=BASE, insecure_dev_auth=True)
    app = bootstrap(config, clock=FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)))
    web = create_app(app).test_client()

    def post(path: str, event: dict[str, Any]) -> Any:
        response = web.post(path, json=event, headers=HEADERS)
        assert response.status_code == 200
        return ui.check_response(response.get_json())

    out: dict[str, Any] = {}
    compose = ui.event("compose")
    out["compose"] = post("/addon/compose", compose)
    card = ui.the_card(out["compose"])
    track = ui.buttons(card)["Track opens"]
    out["compose_track"] = post("/addon/compose/track", ui.press(track, compose, subject="Deck"))
    insert = ui.buttons(ui.the_card(out["compose_track"]))["Insert tracked link"]
    pressed = ui.press(insert, compose, link_url="https://example.com/a?b=1&c=2", link_text="A")
    out["compose_link"] = post("/addon/compose/link", pressed)
    out["homepage"] = post("/addon/homepage", ui.event("homepage"))
    out["settings"] = post("/addon/settings", ui.event("homepage"))
    bad = ui.event("settings_save_click")
    bad["commonEventObject"]["formInputs"]["slack_webhook"]["stringInputs"]["value"] = ["http://x"]
    out["settings_refused"] = post("/addon/settings/save", bad)
    app.close()
    ids = {
        p["value"]: "MESSAGE_ID" for p in insert.get("parameters", []) if p["key"] == "message_id"
    }
    ids |= {p["value"]: "DRAFT_KEY" for p in track.get("parameters", []) if p["key"] == "draft"}
    return {name: normalise(data, ids) for name, data in out.items()}


def test_fixtures_match_what_the_add_on_answers(tmp_path: Path) -> None:
    current = generate(tmp_path)
    if os.environ.get("MAILBEACON_WRITE_FIXTURES"):
        OUT.mkdir(parents=True, exist_ok=True)
        for name, data in current.items():
            (OUT / f"{name}.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    for name, data in current.items():
        stored = json.loads((OUT / f"{name}.json").read_text())
        assert stored == data, f"{name}.json is stale: run with MAILBEACON_WRITE_FIXTURES=1"
        ui.check_response(stored)
