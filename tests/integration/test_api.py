"""/api/v1 through the real WSGI app on the embedded store: every endpoint, every error."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient

from functions.app import create_app
from functions.bootstrap import App, bootstrap
from functions.config import AppConfig
from functions.standins.google_signin import GoogleSignIn
from mailbeacon.bus import HITS
from mailbeacon.bus.memory import MemoryBus
from mailbeacon.clock import FixedClock
from mailbeacon.pipeline import process_hit
from mailbeacon.validation import SENT_AT_SKEW

from .conftest import signin_config

GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
ANN = {"Authorization": "Bearer dev:ann@acme.test"}
EVE = {"Authorization": "Bearer dev:eve@acme.test"}
ROW_KEYS = {
    "message_id", "subject", "recipients", "created_at", "sent_at", "status", "opens", "clicks",
    "last_activity_at", "replies",
}  # fmt: skip


class Api:
    def __init__(self, app: App, client: FlaskClient) -> None:
        self.app, self.client, self.done = app, client, 0

    def track(self, who: dict[str, str] = ANN, **body: Any) -> dict[str, Any]:
        body.setdefault("to", ["bo@example.org"])
        answer = self.client.post("/api/v1/messages", json=body, headers=who)
        assert answer.status_code == 201, answer.get_json()
        return answer.get_json()  # type: ignore[no-any-return]

    def hit(self, url: str, ua: str = GMAIL) -> None:
        assert self.client.get(
            url.split("mb.test", 1)[1], headers={"User-Agent": ua}
        ).status_code in (200, 302)
        bus: MemoryBus = self.app.bus  # type: ignore[assignment]
        for topic, payload in bus.published[self.done :]:
            if topic == HITS:
                process_hit(self.app.store, bus, self.app.classifier, payload)
        self.done = len(bus.published)

    def get(self, path: str, who: dict[str, str] = ANN) -> Any:
        return self.client.get(path, headers=who)


def make(tmp_path: Path, clock: FixedClock, *, dev: bool, google: GoogleSignIn) -> Api:
    config = AppConfig.local(
        tmp_path / ("dev" if dev else "prod"), public_url="https://mb.test", insecure_dev_auth=dev
    )
    config = replace(config, dashboard=signin_config(google))
    app = bootstrap(config, clock=clock, bus=MemoryBus())
    return Api(app, create_app(app).test_client())


@pytest.fixture
def api(tmp_path: Path, clock: FixedClock, google: GoogleSignIn) -> Api:
    return make(tmp_path, clock, dev=True, google=google)


def test_post_tracks_for_the_caller_and_answers_like_track_json(api: Api) -> None:
    made = api.track(to=["Bo@Example.org"], subject="Plan", links=["https://example.com/a"],
                     sent_at="2026-01-05T10:00:00Z")  # fmt: skip
    assert set(made) == {"message_id", "pixel_url", "links", "html"}
    assert made["links"][0]["url"] == "https://example.com/a"
    detail = api.get(f"/api/v1/messages/{made['message_id']}").get_json()
    assert detail["owner"] == "ann@acme.test" and detail["recipients"] == ["bo@example.org"]
    assert detail["sent_at"] == "2026-01-05T10:00:00.000Z"
    assert api.get(f"/api/v1/messages/{made['message_id']}", EVE).status_code == 404


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("not json", "JSON object"),
        ({"subject": "x"}, '"to"'),
        ({"to": ["not an address"]}, "not an email address"),
        ({"to": []}, "at least one recipient"),
        ({"to": ["a@b.org"], "links": ["javascript:alert(1)"]}, "http(s)"),
        ({"to": ["a@b.org"], "links": "https://x.org"}, '"links"'),
        ({"to": ["a@b.org"], "sent_at": "yesterday"}, '"sent_at"'),
        ({"to": ["a@b.org"], "subject": 5}, '"subject"'),
    ],
)
def test_bad_bodies_are_400_with_a_message_and_write_nothing(
    api: Api, body: Any, says: str
) -> None:
    if isinstance(body, str):
        answer = api.client.post("/api/v1/messages", data=body, headers=ANN)
    else:
        answer = api.client.post("/api/v1/messages", json=body, headers=ANN)
    assert answer.status_code == 400 and says in answer.get_json()["error"]
    assert api.get("/api/v1/messages").get_json() == {"messages": [], "next_cursor": None}


def test_a_send_time_ahead_of_the_clock_is_refused_as_track_refuses_it(
    api: Api, clock: FixedClock
) -> None:
    """One rule with `mailbeacon track --sent-at` (tests/e2e/test_cli_people.py): up to five
    minutes ahead (another machine's clock) passes; further ahead, every real open would be
    taken for the sender's own, so nothing is written."""
    ahead = clock.now() + SENT_AT_SKEW
    made = api.track(subject="Close enough", sent_at=ahead.isoformat())
    assert api.get(f"/api/v1/messages/{made['message_id']}").get_json()["sent_at"]
    refused = api.client.post(
        "/api/v1/messages",
        json={
            "to": ["bo@example.org"],
            "subject": "Later",
            "sent_at": (ahead + timedelta(seconds=1)).isoformat(),
        },
        headers=ANN,
    )
    assert refused.status_code == 400
    assert refused.get_json()["error"].startswith("sent_at is in the future")
    listed = api.get("/api/v1/messages").get_json()["messages"]
    assert [m["subject"] for m in listed] == ["Close enough"]


def test_the_list_filters_searches_and_pages_newest_first(api: Api, clock: FixedClock) -> None:
    made = []
    for i in range(5):
        made.append(api.track(subject=f"Offer {i}", to=[f"r{i}@example.org"],
                              links=["https://example.com/x"]))  # fmt: skip
        clock.advance(minutes=10)
    api.hit(made[1]["pixel_url"])
    api.hit(made[3]["links"][0]["tracked_url"], ua="Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0")
    api.track(EVE, subject="Offer from eve")

    page = api.get("/api/v1/messages").get_json()
    assert [m["subject"] for m in page["messages"]] == [f"Offer {i}" for i in range(4, -1, -1)]
    assert page["next_cursor"] is None and all(set(m) == ROW_KEYS for m in page["messages"])
    opened = page["messages"][3]
    assert opened["status"] == "opened" and opened["opens"] == {
        "human": 1,
        "unique_human": 1,
        "machine": 0,
    }
    assert opened["last_activity_at"] is not None

    def subjects(query: str) -> list[str]:
        return [m["subject"] for m in api.get("/api/v1/messages?" + query).get_json()["messages"]]

    assert subjects("status=opened") == ["Offer 3", "Offer 1"]  # a click implies an open
    assert subjects("status=clicked") == ["Offer 3"]
    assert subjects("status=sent") == ["Offer 4", "Offer 2", "Offer 0"]
    assert subjects("q=R2@EXAMPLE") == ["Offer 2"] and subjects("q=offer+3") == ["Offer 3"]
    since = (
        made[1] and api.get("/api/v1/messages?limit=200").get_json()["messages"][3]["created_at"]
    )
    assert subjects(f"since={since}&limit=2") == ["Offer 4", "Offer 3"]
    assert subjects(f"until={since}") == ["Offer 0"]

    walked, cursor = [], ""
    while True:
        page = api.get(f"/api/v1/messages?limit=2&cursor={cursor}").get_json()
        walked += [m["subject"] for m in page["messages"]]
        if not (cursor := page["next_cursor"]):
            break
    assert walked == [f"Offer {i}" for i in range(4, -1, -1)]


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("limit=0", "limit"), ("limit=201", "limit"), ("limit=ten", "limit"),
        ("status=bounced", "status"), ("since=notatime", "since"), ("until=2026-13-01", "until"),
        ("since=2026-02-01&until=2026-01-01", "before"), ("cursor=%%%", "cursor"),
        ("cursor=eyJ4IjoxfQ", "cursor"), ("sort=random", "sort"), ("q=" + "x" * 300, "q"),
        ("cursor=eyJzIjoibmV3ZXN0IiwiayI6Im5vdC1hLXRpbWUiLCJpIjoieCJ9", "cursor"),
        ("since=0001-01-01", "1970"), ("until=9999-12-31T23:59:59", "9000"),
    ],
)  # fmt: skip
def test_bad_list_parameters_are_400(api: Api, query: str, says: str) -> None:
    answer = api.get("/api/v1/messages?" + query)
    assert answer.status_code == 400 and says in answer.get_json()["error"]
    assert api.get("/api/v1/messages.csv?" + query).status_code == 400


def test_a_cursor_from_another_sort_is_refused(api: Api) -> None:
    for _ in range(3):
        api.track()
    cursor = api.get("/api/v1/messages?limit=1").get_json()["next_cursor"]
    answer = api.get(f"/api/v1/messages?limit=1&sort=oldest&cursor={cursor}")
    assert answer.status_code == 400 and "sort" in answer.get_json()["error"]


def test_detail_has_the_newest_100_events_and_the_rest_page(api: Api, clock: FixedClock) -> None:
    made = api.track(subject="Busy")
    for i in range(130):
        clock.advance(minutes=1)
        api.hit(made["pixel_url"], ua=f"{GMAIL} {i % 7}")
    mid = made["message_id"]
    detail = api.get(f"/api/v1/messages/{mid}").get_json()
    assert detail["opens"]["human"] == 130 and detail["status"] == "opened"
    assert len(detail["events"]) == 100 and detail["events_next_cursor"]
    times = [e["at"] for e in detail["events"]]
    assert times == sorted(times, reverse=True)
    rest = api.get(
        f"/api/v1/messages/{mid}/events?cursor={detail['events_next_cursor']}"
    ).get_json()
    assert len(rest["events"]) == 30 and rest["next_cursor"] is None
    assert rest["events"][0]["at"] < times[-1]
    small = api.get(f"/api/v1/messages/{mid}/events?limit=7").get_json()
    assert len(small["events"]) == 7 and small["next_cursor"]
    assert api.get(f"/api/v1/messages/{mid}/events?limit=500").status_code == 400
    assert api.get(f"/api/v1/messages/{mid}/events?cursor=bad!").status_code == 400


def test_another_users_or_an_unknown_message_is_404_everywhere(api: Api) -> None:
    mine = api.track(subject="Secret")["message_id"]
    base = f"/api/v1/messages/{mine}"
    for path in (base, f"{base}/events", f"{base}/events.csv", "/api/v1/messages/AAAAAAAAAAAA"):
        answer = api.get(path, EVE)
        assert answer.status_code == 404 and answer.get_json() == {"error": "no such message"}
    assert api.get("/api/v1/messages", EVE).get_json()["messages"] == []
    assert b"Secret" not in api.get("/api/v1/messages.csv", EVE).data
    assert api.get("/api/v1/overview", EVE).get_json()["messages"] == 0


def test_csv_exports_messages_and_events_without_formulas(api: Api) -> None:
    made = api.track(subject='=HYPERLINK("http://evil")', links=["https://example.com/a"])
    api.hit(made["pixel_url"])
    rows = list(csv.reader(io.StringIO(api.get("/api/v1/messages.csv").get_data(as_text=True))))
    assert rows[0][:3] == ["Message ID", "Subject", "Recipients"]  # headers in words
    assert rows[1][1] == '\'=HYPERLINK("http://evil")' and rows[1][5] == "Opened"
    answer = api.get(f"/api/v1/messages/{made['message_id']}/events.csv")
    assert answer.mimetype == "text/csv" and "attachment" in answer.headers["Content-Disposition"]
    events = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))
    assert events[0][:6] == ["When (UTC)", "When (your time)", "What", "Who", "Why", "Client"]
    assert events[1][2:4] == ["Open", "Person"] and events[1][5] == "Gmail"
    assert events[1][-2:] == ["human", "gmail-image-proxy"]  # the codes, last
    paris = api.get(f"/api/v1/messages/{made['message_id']}/events.csv?tz=Europe/Paris")
    at = datetime.fromisoformat(events[1][0].replace("Z", "+00:00"))
    local = at.astimezone(ZoneInfo("Europe/Paris")).strftime("%Y-%m-%d %H:%M")
    assert list(csv.reader(io.StringIO(paris.get_data(as_text=True))))[1][1] == local
    bad = api.get("/api/v1/overview?tz=Mars/Base")
    assert bad.status_code == 400 and bad.get_json()["error"].startswith("tz must be")


def test_the_overview_counts_the_period(api: Api, clock: FixedClock) -> None:
    made = [api.track(subject=f"m{i}", links=["https://example.com/a"]) for i in range(4)]
    clock.advance(hours=1)
    api.hit(made[0]["pixel_url"])
    api.hit(made[1]["links"][0]["tracked_url"], ua="Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0")
    data = api.get("/api/v1/overview").get_json()
    assert {k: data[k] for k in ("messages", "opened", "clicked", "human_opens")} == {
        "messages": 4, "opened": 2, "clicked": 1, "human_opens": 2,
    }  # fmt: skip  # the click implies an open, as the list counts it (one count, #23)
    assert data["open_rate"] == 0.5 and data["clients"] == {"gmail": 1}
    assert len(data["by_day"]) == 31 and sum(d["human_opens"] for d in data["by_day"]) == 2
    assert len(data["opens_by_hour_of_week"]) == 7 and all(
        len(r) == 24 for r in data["opens_by_hour_of_week"]
    )
    assert sum(map(sum, data["opens_by_hour_of_week"])) == 2
    assert 3000 <= data["time_to_first_open_s"]["p50"] <= 4300  # an hour, within a bucket
    assert set(data["machine_hits"]["by_verdict"]) == {"self", "prefetch", "scanner", "bot"}
    old = api.get("/api/v1/overview?since=2020-01-01&until=2020-02-01").get_json()
    assert old["messages"] == 0 and old["time_to_first_open_s"] == {"p50": None, "p90": None}
    for bad in (
        "since=2026-02-01&until=2026-01-01",
        "since=2020-01-01&until=2026-01-01",
        "since=x",
    ):
        assert api.get("/api/v1/overview?" + bad).status_code == 400


def test_credentials_google_id_tokens_access_tokens_and_dev(
    api: Api, google: GoogleSignIn, tmp_path: Path, clock: FixedClock
) -> None:
    from mailbeacon.access_tokens import create_token, revoke_token

    api.track(subject="Mine")

    def status(token: str, client: Api = api) -> int:
        return client.get("/api/v1/messages", {"Authorization": f"Bearer {token}"}).status_code

    good = google.id_token("ann@acme.test", "acme.test")
    assert (
        api.get("/api/v1/messages", {"Authorization": f"Bearer {good}"}).get_json()["messages"][0][
            "subject"
        ]
        == "Mine"
    )
    assert status(google.id_token("ann@gmail.com", None)) == 401  # not a Workspace account
    assert status(google.id_token("ann@other.test", "other.test")) == 401
    assert (
        status(google.issuer.token(audience="someone-else", email="ann@acme.test", hd="acme.test"))
        == 401
    )
    assert status(google.id_token("ann@acme.test", "acme.test", issued_at=0)) == 401  # expired
    assert status(google.id_token("ann@acme.test", "acme.test", iss="https://evil.test")) == 401
    assert status(good[:-4] + "AAAA") == 401

    token, secret = create_token(api.app.store, "ann@acme.test", "script", clock.now())
    assert status(secret) == 200
    assert status(secret + "x") == 401
    revoke_token(api.app.store, "ann@acme.test", token.id)
    assert status(secret) == 401

    missing = api.client.get("/api/v1/messages")
    assert missing.status_code == 401 and "error" in missing.get_json()
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert (
        api.client.get("/api/v1/messages", headers={"Authorization": "Basic eDp5"}).status_code
        == 401
    )
    prod = make(tmp_path, clock, dev=False, google=google)
    assert status("dev:ann@acme.test", prod) == 401  # dev tokens only with --insecure-dev-auth


def test_unknown_paths_and_methods_answer_json(api: Api) -> None:
    assert api.get("/api/v1/nothing").get_json() == {"error": "not found"}
    answer = api.client.delete("/api/v1/messages", headers=ANN)
    assert answer.status_code == 405 and answer.get_json()["error"]
