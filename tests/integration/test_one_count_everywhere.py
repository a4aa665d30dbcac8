"""One count on every screen (#23, item 1): hit sequences driven through the real pipeline (the
edge's routes, the bus, the worker's classification and hindsight relabelling, the store's
summary and day counters), then every place that shows a number is read and compared with
figures derived once, independently, from the stored events themselves.

The sequences: a scanner walking an email's links, a burst of clicks from three networks, a
click pair (a time-of-click checker beside the reader), Gmail's and Apple's pre-fetch, the
sender's own view at send time, repeated opens from two devices, a reply and an auto-reply.
The places: the list (HTML, /api/v1/messages, CSV), the email's page, its API detail and its
events CSV, the overview (HTML and API), `mailbeacon stats` (text and --json) and `mailbeacon
export`, the add-on's home and detail cards, the digest. On SQLite (the CLI itself runs on the
data dir) and on the Firestore emulator (the CLI's own functions on the app's store: the CLI
cannot be pointed at an emulator project's prefixed collections).
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from addon import views as cards
from functions.app import create_app
from functions.bootstrap import App, bootstrap
from functions.cli.show import stats_text
from functions.config import load_config
from mailbeacon.bus import HITS, NOTIFY
from mailbeacon.clock import FixedClock
from mailbeacon.model import Event
from mailbeacon.privacy import export_user
from mailbeacon.replies import ThreadMail
from mailbeacon.settings import SettingsChange
from mailbeacon.stats import get_stats_with_pending
from mailbeacon.tracking import TrackedMessage, track_message
from notifier.digest import build_digest
from tests.support.processes import TEST_DEFAULTS, run_cli

from .conftest import START

ANN = "ann@acme.test"
TZ = "Asia/Tokyo"
GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
GMAIL_PREFETCH = (  # mailbeacon/classify/useragent.py (GMass [G1])
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Mozilla/5.0"
)
APPLE_MPP = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Mobile/15E148"
)
CHROME_WIN = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/126.0.0.0 Safari/537.36"
)
CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/125.0.0.0 Safari/537.36"
)
LINKS = ["https://example.com/a", "https://example.com/b", "https://example.com/c"]


@dataclass
class Rig:
    app: App
    clock: FixedClock
    data: Path
    firestore: bool

    def __post_init__(self) -> None:
        self.web = create_app(self.app).test_client()
        page = self.web.get("/dashboard/signin").get_data(as_text=True)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        signed = self.web.post("/dashboard/signin/dev", data={"email": ANN, "csrf": csrf})
        assert signed.status_code == 303

    def track(self, subject: str, sent_ago: timedelta, links: int = 0) -> TrackedMessage:
        return track_message(
            self.app.store, self.app.urls, self.clock, records=self.app.records, sender=ANN,
            recipients=["bo@example.org"], subject=subject, links=LINKS[:links],
            sent_at=self.clock.now() - sent_ago,
        )  # fmt: skip

    def hit(self, url: str, ua: str, ip: str, after: float = 0) -> None:
        self.clock.advance(seconds=after)
        path = url.removeprefix(self.app.urls.base_url.rstrip("/"))
        answer = self.web.get(path, headers={"User-Agent": ua}, environ_base={"REMOTE_ADDR": ip})
        assert answer.status_code in (200, 302), answer.status_code

    def get(self, path: str) -> Any:
        answer = self.web.get(path, headers={"Authorization": f"Bearer dev:{ANN}"})
        assert answer.status_code == 200, (path, answer.status_code)
        return answer


@pytest.fixture(params=["sqlite", pytest.param("firestore", marks=pytest.mark.emulators)])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    data = tmp_path / "data"
    config = load_config({**TEST_DEFAULTS}, data_dir=data, public_url="http://mb.test",
                         insecure_dev_auth=True)  # fmt: skip
    clock = FixedClock(START)
    store = None
    if request.param == "firestore":
        request.getfixturevalue("emulators")
        from mailbeacon.store.firestore import FirestoreStore
        from tests.support.emulators import PROJECT

        prefix = f"one{secrets.token_hex(4)}_"
        store = FirestoreStore(project=PROJECT, prefix=prefix, flush_interval=0.01)
    app = bootstrap(config, clock=clock, store=store)
    app.settings.update(ANN, SettingsChange(timezone=TZ))
    yield Rig(app, clock, data, request.param == "firestore")
    app.close()


def drive(rig: Rig) -> dict[str, str]:
    """Every sequence, each on its own email; the worker drains the bus after each."""
    day, made = timedelta(days=2), {}

    def settle() -> None:
        assert rig.app.worker is not None
        rig.app.worker.drain([HITS, NOTIFY])

    walk = rig.track("Scanner walk", day, links=3)  # three links within a second: a walk
    rig.hit(walk.pixel_url, GMAIL, "66.249.84.1")
    for n, (_url, tracked) in enumerate(walk.links):
        rig.hit(tracked, CHROME_WIN, "192.0.2.150", after=60 if n == 0 else 0.3)
    burst = rig.track("Burst", day, links=1)  # one link, three networks, seconds apart
    for ip in ("203.0.113.5", "198.51.100.9", "192.0.2.44"):
        rig.hit(burst.links[0][1], CHROME_WIN, ip, after=2)
    pair = rig.track("Pair", day, links=1)  # the reader opens, a checker and the reader click
    rig.hit(pair.pixel_url, CHROME_WIN, "203.0.113.80", after=300)
    rig.hit(pair.links[0][1], CHROME_LINUX, "52.12.0.3", after=120)
    rig.hit(pair.links[0][1], CHROME_WIN, "203.0.113.80", after=2)
    settle()
    fresh = rig.track("Prefetched", timedelta(seconds=30))  # minutes after delivery
    rig.hit(fresh.pixel_url, GMAIL_PREFETCH, "66.102.8.9", after=1)
    rig.hit(fresh.pixel_url, APPLE_MPP, "17.58.100.1", after=1)
    own = rig.track("Own view", timedelta(seconds=0))  # the sender's Sent copy, at once
    rig.hit(own.pixel_url, GMAIL, "66.249.84.2", after=3)
    devices = rig.track("Two devices", day)
    for ua, ip, after in (
        (GMAIL, "66.249.84.3", 600),
        (IPHONE, "198.51.100.200", 900),
        (GMAIL, "66.249.84.3", 1800),
        (IPHONE, "198.51.100.200", 3600),
    ):
        rig.hit(devices.pixel_url, ua, ip, after=after)  # fmt: skip
    blocked = rig.track("Images blocked", day, links=1)  # a person's click, no pixel fetch
    rig.hit(blocked.links[0][1], CHROME_WIN, "203.0.113.90", after=3600)
    rig.track("Nobody yet", day)
    settle()
    replied = rig.track("Replied", day)
    message = rig.app.store.get_message(replied.message.id)
    assert message is not None
    now = rig.clock.advance(seconds=60)
    away = {"from": "bo@example.org", "auto-submitted": "auto-replied", "x-autoreply": "yes"}
    rig.app.replies.record(message, ThreadMail("g1", "t1", ("INBOX",), away, now))
    now = rig.clock.advance(seconds=600)
    person = {"from": "Bo <bo@example.org>", "subject": "Re: Replied"}
    rig.app.replies.record(message, ThreadMail("g2", "t1", ("INBOX",), person, now))
    settle()
    for tracked in (walk, burst, pair, fresh, own, devices, blocked, replied):
        made[tracked.message.subject] = tracked.message.id
    made["Nobody yet"] = next(
        m.id for m in rig.app.store.list_messages(ANN) if m.subject == "Nobody yet"
    )
    return made


def derive(events: list[Event]) -> dict[str, Any]:
    """The figures, from the events alone: what every view must say."""
    human = [e for e in events if e.is_human]
    opens = [e for e in human if e.kind == "open"]
    clicks = [e for e in human if e.kind == "click"]
    replies = [e for e in events if e.kind == "reply"]
    implied = 1 if (clicks or any(e.is_human for e in replies)) and not opens else 0
    machine = [e for e in events if not e.is_human and e.kind in ("open", "click")]
    status = (
        "replied" if any(e.is_human for e in replies)
        else "clicked" if clicks else "opened" if opens or implied else "sent"
    )  # fmt: skip
    by_verdict: dict[str, int] = {}
    for e in machine:
        by_verdict[e.verdict.value] = by_verdict.get(e.verdict.value, 0) + 1
    return {
        "status": status,
        "opens": len(opens) + implied,
        "devices": len({e.device for e in opens}) + implied,
        "event_opens": len(opens),
        "machine_opens": sum(e.kind == "open" for e in machine),
        "clicks": len(clicks),
        "machine_clicks": sum(e.kind == "click" for e in machine),
        "replies": sum(e.is_human for e in replies),
        "auto_replies": sum(not e.is_human for e in replies),
        "by_verdict": by_verdict,
        "events": len(events),
    }


def counts(data: dict[str, Any]) -> tuple[Any, ...]:
    """An API row's, a detail's, `stats --json`'s or the export's counts, in one shape."""
    replies = data.get("replies") or {}
    return (
        data["status"], data["opens"]["human"], data["opens"]["unique_human"],
        data["opens"]["machine"], data["clicks"]["human"], data["clicks"]["machine"],
        replies.get("human", 0), replies.get("machine", 0),
    )  # fmt: skip


def want(x: dict[str, Any]) -> tuple[Any, ...]:
    return (x["status"], x["opens"], x["devices"], x["machine_opens"], x["clicks"],
            x["machine_clicks"], x["replies"], x["auto_replies"])  # fmt: skip


def cell(row: str, label: str) -> str:
    found = re.search(rf'data-label="{label}"[^>]*>(.*?)</td>', row, re.S)
    assert found, label
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def number(text: str) -> int:
    return int(re.match(r"[\d,]+", text.strip()).group(0).replace(",", ""))  # type: ignore[union-attr]


def test_every_view_shows_the_figures_the_events_give(rig: Rig) -> None:
    from mailbeacon import words

    made = drive(rig)
    store = rig.app.store
    truth = {s: derive(store.list_events(i)) for s, i in made.items()}
    # the sequences did what they were built to show (else this test would compare nothing)
    assert truth["Scanner walk"]["clicks"] == 0 and truth["Scanner walk"]["machine_clicks"] == 3
    # three networks within seconds: a fleet, every click of it (the pair rule's checker too)
    assert truth["Burst"]["clicks"] == 0 and truth["Burst"]["machine_clicks"] == 3
    assert truth["Pair"]["clicks"] == 1 and truth["Pair"]["machine_clicks"] == 1
    assert truth["Images blocked"]["clicks"] == 1 and truth["Images blocked"]["opens"] == 1
    assert truth["Prefetched"]["opens"] == 0 and truth["Prefetched"]["machine_opens"] == 2
    assert truth["Own view"]["opens"] == 0 and truth["Own view"]["by_verdict"] == {"self": 1}
    assert truth["Two devices"]["opens"] == 4 and truth["Two devices"]["devices"] == 2
    assert truth["Replied"]["replies"] == 1 and truth["Replied"]["auto_replies"] == 1
    seen: dict[str, dict[str, tuple[Any, ...]]] = {s: {} for s in made}

    rows = {r["subject"]: r for r in rig.get("/api/v1/messages?limit=100").get_json()["messages"]}
    listing = rig.web.get("/dashboard/messages").get_data(as_text=True)
    table = list(
        csv.DictReader(io.StringIO(rig.web.get("/dashboard/messages.csv").get_data(as_text=True)))
    )
    by_subject = {r["Subject"]: r for r in table}
    if not rig.firestore:
        exported = json.loads(run_cli("export", "--user", ANN, data_dir=rig.data).stdout)
    else:
        exported = export_user(store, ANN, lambda i, o: get_stats_with_pending(
            store, rig.app.classifier, i, [], owner=o))  # fmt: skip
    exports = {m["subject"]: m for m in exported["messages"]}
    home = json.dumps(cards.home_card(
        rig.app.config.addon, [(m, store.get_summary(m.id)) for m in store.list_messages(ANN)], TZ
    ))  # fmt: skip
    digest = build_digest(store, ANN, rig.clock.now(), since=START - timedelta(days=7),
                          unopened_days=1, timezone=TZ)  # fmt: skip

    def sent_before(message_id: str, days: int) -> bool:
        message = store.get_message(message_id)
        assert message is not None
        return message.reference_time <= rig.clock.now() - timedelta(days=days)

    assert any(sent_before(i, days=1) for i in made.values())  # else "Not opened" is untested
    for subject, message_id in made.items():
        x, views = truth[subject], seen[subject]
        views["api list"] = counts(rows[subject])
        detail = rig.get(f"/api/v1/messages/{message_id}").get_json()
        views["api detail"] = counts(detail)
        assert len(detail["events"]) == x["events"], subject
        views["export"] = counts(exports[subject])
        if not rig.firestore:
            cli = run_cli("stats", message_id, "--json", data_dir=rig.data)
            stats, text = (
                json.loads(cli.stdout),
                run_cli("stats", message_id, data_dir=rig.data).stdout,
            )
        else:
            stats = get_stats_with_pending(store, rig.app.classifier, message_id, [])
            text = stats_text(stats, TZ, rig.clock.now())
        views["stats --json"] = counts(stats)
        assert stats["machine"]["by_verdict"] == x["by_verdict"], subject
        opens_line = re.search(
            r"Opens: +([\d,]+) by people \(([\d,]+) devices?\), ([\d,]+) by machines", text
        )
        clicks_line = re.search(r"Clicks: +([\d,]+) by people, ([\d,]+) by machines", text)
        assert opens_line and clicks_line, text
        status_line = re.search(r"Status: +(.+)", text).group(1)  # type: ignore[union-attr]
        views["stats text"] = (
            status_line,
            *map(int, opens_line.groups()),
            int(clicks_line[1]),
            int(clicks_line[2]),
        )
        row = re.search(rf'<tr data-message-id="{message_id}">(.*?)</tr>', listing, re.S)
        assert row, subject
        views["list html"] = (
            cell(row[1], "Status"), number(cell(row[1], "Opens by people")),
            number(cell(row[1], "Clicks by people")), number(cell(row[1], "Machine hits")),
        )  # fmt: skip
        page = rig.web.get(f"/dashboard/messages/{message_id}").get_data(as_text=True)

        def shown(name: str, page: str = page) -> str:
            return re.search(rf'id="{name}"[^>]*>([^<]*)<', page).group(1)  # type: ignore[union-attr]

        views["email page"] = (
            shown("status"), number(shown("human-opens")), number(shown("human-clicks")),
            number(shown("machine-hits")), number(shown("replies")),
        )  # fmt: skip
        timeline = re.findall(r'<tr class="(?:human|machine)" data-event-id="', page)
        assert len(timeline) == x["events"]
        events_csv = rig.web.get(f"/dashboard/messages/{message_id}/events.csv")
        lines = list(csv.DictReader(io.StringIO(events_csv.get_data(as_text=True))))
        views["events csv"] = (
            sum(r["What"] == "Open" and r["Verdict code"] == "human" for r in lines),
            sum(r["What"] == "Click" and r["Verdict code"] == "human" for r in lines),
            sum(r["What"] in ("Open", "Click") and r["Verdict code"] != "human" for r in lines),
        )
        c = by_subject[subject]
        views["list csv"] = (
            c["Status"], int(c["Opens by people"]), int(c["Unique opens by people"]),
            int(c["Machine opens"]), int(c["Clicks by people"]), int(c["Machine clicks"]),
            int(c["Replies by people"]), int(c["Automatic replies"]),
        )  # fmt: skip
        message = store.get_message(message_id)
        summary = store.get_summary(message_id)
        assert message is not None and summary is not None
        events = store.list_events(message_id)
        card = json.dumps(cards.detail_card(rig.app.config.addon, message, events, summary, TZ))
        card_opens = re.search(
            r"([\d,]+) by people \(([\d,]+) devices?\), ([\d,]+) by machines", card
        )
        card_clicks = re.search(r'"([\d,]+) by people, ([\d,]+) by machines"', card)
        assert card_opens and card_clicks, card
        views["detail card"] = (*map(int, card_opens.groups()), *map(int, card_clicks.groups()))
        views["home card"] = (cards.status(summary, TZ).split(" ")[0].split(",")[0],)
        assert cards.status(summary, TZ) in home
        opened = [ln for ln in digest.opened if f"“{subject}”" in ln]
        clicked = [ln for ln in digest.clicked if f"“{subject}”" in ln]
        views["digest"] = (
            number(re.search(r": (\d+) open", opened[0]).group(1)) if opened else 0,  # type: ignore[union-attr]
            len(clicked),
            sum(f"“{subject}”" in ln for ln in digest.replied),
            sum(f"“{subject}”" in ln for ln in digest.auto_replies),
            any(f"“{subject}”" in ln for ln in digest.unopened),
        )

        word = words.status(x["status"])
        expected = {
            "api list": want(x), "api detail": want(x), "export": want(x), "stats --json": want(x),
            "stats text": (word, x["opens"], x["devices"], x["machine_opens"], x["clicks"],
                           x["machine_clicks"]),
            "list html": (word, x["opens"], x["clicks"], x["machine_opens"] + x["machine_clicks"]),
            "email page": (word, x["opens"], x["clicks"], x["machine_opens"] + x["machine_clicks"],
                           x["replies"]),
            "events csv": (x["event_opens"], x["clicks"], x["machine_opens"] + x["machine_clicks"]),
            "list csv": (word, *want(x)[1:]),
            "detail card": (x["opens"], x["devices"], x["machine_opens"], x["clicks"],
                            x["machine_clicks"]),
            "home card": ({"sent": "Not", "opened": "Opened", "clicked": "Clicked",
                           "replied": "Replied"}[x["status"]],),
            "digest": (x["event_opens"], x["clicks"], x["replies"], x["auto_replies"],
                       x["status"] == "sent" and sent_before(message_id, days=1)),
        }  # fmt: skip
        wrong = {k: (v, expected[k]) for k, v in views.items() if v != expected[k]}
        assert not wrong, (subject, wrong)

    total = {
        "messages": len(made),
        "opened": sum(t["opens"] > 0 for t in truth.values()),
        "clicked": sum(t["clicks"] > 0 for t in truth.values()),
        "replied": sum(t["replies"] > 0 for t in truth.values()),
        "human_opens": sum(t["opens"] for t in truth.values()),
        "machine": sum(t["machine_opens"] + t["machine_clicks"] for t in truth.values()),
    }
    api = rig.get("/api/v1/overview").get_json()
    assert {
        "messages": api["messages"], "opened": api["opened"], "clicked": api["clicked"],
        "replied": api["replied"], "human_opens": api["human_opens"],
        "machine": api["machine_hits"]["total"],
    } == total  # fmt: skip
    page = rig.web.get("/dashboard/overview").get_data(as_text=True)
    for name, key in (("ov-messages", "messages"), ("ov-clicked", "clicked"),
                      ("ov-human-opens", "human_opens"), ("ov-machine", "machine")):  # fmt: skip
        assert number(re.search(rf'id="{name}">([^<]*)<', page).group(1)) == total[key], name  # type: ignore[union-attr]
