"""A user's journey through the plan's URLs, as a list of named steps.

Each step is a small function of the walk (the running deployment and what earlier steps
learnt); it returns what it saw or raises. A failed step is reported and the journey goes on,
so one run shows every broken part.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

from mailbeacon.bus import DIGEST
from mailbeacon.model import Message

from ..deploy import TOPIC_IDS
from ..deploy.resources import DEAD_IDS, KEPT_IDS
from ..standins.polling import wait_for
from .stage import PROJECT_NUMBER, USER_SUB, Rehearsal

CHAT_ISSUER = "chat@system.gserviceaccount.com"
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
SECONDS = 90.0  # how long a step may wait for the pipeline (cold starts on a shared machine)
FORGED = "198.51.100.7"  # what a client may claim in X-Forwarded-For: never its address
GMAIL = {"hostApp": "GMAIL", "platform": "WEB", "timeZone": {"id": "Europe/Berlin"}}
Requests = list[dict[str, Any]]


@dataclass
class Step:
    name: str
    ok: bool
    detail: str


class Journey:
    """The user's journey, one step at a time, each recorded PASS or FAIL."""

    def __init__(self, out: Any = sys.stdout) -> None:
        self.steps: list[Step] = []
        self.out = out

    def step(self, name: str, action: Callable[[], str]) -> bool:
        started = time.monotonic()
        try:
            detail = action()
            ok = True
        except Exception as exc:  # a failed step is reported, and the journey goes on
            ok, detail = False, f"{type(exc).__name__}: {exc}"
            if os.environ.get("MAILBEACON_REHEARSAL_TRACE"):
                traceback.print_exc()
        took = time.monotonic() - started
        self.steps.append(Step(name, ok, detail))
        mark = "PASS" if ok else "FAIL"
        print(f"  {mark}  {name} ({took:.1f}s): {detail}", file=self.out, flush=True)
        return ok

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)


class Browser:
    """A browser across the plan's URLs: it keeps cookies by name (the front is one site),
    follows redirects in the plan's URL space (a relative Location resolves against the page's
    own URL), and goes to Google's and Slack's stand-ins directly."""

    def __init__(self, at: Rehearsal) -> None:
        self.at = at
        self.cookies: dict[str, str] = {}

    def get(self, url: str, *, until: str = "", hops: int = 8) -> tuple[str, Any]:
        """GET ``url`` and follow redirects until one leaves for a URL starting with
        ``until`` (returned unfollowed) or a page answers; (last URL, response)."""
        import requests

        for _ in range(hops):
            ours = url.startswith((self.at.config.functions_host, self.at.config.public_url or "~"))
            header = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            response = (
                self.at.http("GET", url, headers={"Cookie": header} if header else {})
                if ours
                else requests.get(url, allow_redirects=False, timeout=30)
            )
            if ours:
                for cookie in response.cookies:  # a deleted cookie comes back empty
                    if cookie.value:
                        self.cookies[cookie.name] = cookie.value
                    else:
                        self.cookies.pop(cookie.name, None)
            if response.status_code not in (301, 302, 303, 307):
                return url, response
            url = urljoin(url, response.headers["Location"])
            if until and url.startswith(until):
                return url, response
        raise AssertionError(f"more than {hops} redirects, last to {url}")


@dataclass
class Walk:
    """The running deployment, and what the steps have learnt so far."""

    at: Rehearsal
    pixels: list[str] = field(default_factory=list)
    message: Message | None = None
    dashboard_link: str = ""
    browser: Browser | None = None

    def __post_init__(self) -> None:
        self.browser = Browser(self.at)

    @property
    def slack_hook(self) -> str:
        return f"{self.at.slack.server.url}/services/T0REHEARSAL/B0ALERTS/rehearsal"

    @property
    def chat_hook(self) -> str:
        return f"{self.at.chat.server.url}/v1/spaces/AAAWEBHOOK/messages?key=k&token=t"


def posts(requests: Requests, where: Callable[[str], bool]) -> Requests:
    """The POSTs among a stand-in's recorded requests whose path ``where`` accepts."""
    return [r for r in requests if r["method"] == "POST" and where(r["path"])]


# The steps -------------------------------------------------------------------------------------


def homepage(walk: Walk) -> str:
    base = walk.at.config.base("addon")
    answer = walk.at.addon("homepage", {"commonEventObject": GMAIL})
    card = answer["action"]["navigations"][0]["pushCard"]
    footer = card["fixedFooter"]["primaryButton"]
    function = footer["onClick"]["action"]["function"]
    if not function.startswith(base + "/addon/"):
        raise AssertionError(f"the settings button calls {function}")
    return f"card {card['header']['title']!r}; its buttons call {function}"


def settings(walk: Walk) -> str:
    form = {
        "slack_mode": {"stringInputs": {"value": ["webhook"]}},
        "slack_webhook": {"stringInputs": {"value": [walk.slack_hook]}},
        "chat_mode": {"stringInputs": {"value": ["webhook"]}},
        "chat_webhook": {"stringInputs": {"value": [walk.chat_hook]}},
        "notify": {"stringInputs": {"value": ["every-open"]}},
    }
    answer = walk.at.addon("settings/save", {"commonEventObject": {**GMAIL, "formInputs": form}})
    saved = walk.at.store.get_settings(walk.at.user)
    if saved.slack_webhook != walk.slack_hook or saved.chat_webhook != walk.chat_hook:
        raise AssertionError(f"settings not saved: {json.dumps(answer)[:300]}")
    return "Slack and Chat webhooks saved in Firestore"


def track(walk: Walk, subject: str) -> str:
    event = {
        "commonEventObject": {
            **GMAIL,
            "formInputs": {"subject": {"stringInputs": {"value": [subject]}}},
        },
        "gmail": {"toRecipients": ["bob@example.org"], "ccRecipients": []},
    }
    answer = walk.at.addon("compose/track", event)
    markup = answer["renderActions"]["hostAppAction"]["gmailAction"]
    html = markup["updateDraftActionMarkup"]["updateBody"]["insertContents"][0]["content"]
    pixel = re.search(r'src="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    if not pixel.startswith(walk.at.config.base("pixel") + "/p/"):
        raise AssertionError(f"pixel URL {pixel} is not the pixel function's")
    walk.pixels.append(pixel)
    return f"pixel inserted: {pixel[:80]}..."


def fetch_pixel(walk: Walk) -> str:
    headers = {"User-Agent": GMAIL_PROXY, "X-Forwarded-For": FORGED}  # a client's claim
    response = walk.at.http("GET", walk.pixels[-1], headers=headers)
    kind = response.headers.get("Content-Type")
    if response.status_code != 200 or kind != "image/gif" or len(response.content) != 43:
        raise AssertionError(f"HTTP {response.status_code} {kind} {len(response.content)} bytes")
    return "HTTP 200, a 43-byte GIF, Cache-Control: " + response.headers["Cache-Control"]


def consumed(walk: Walk) -> str:
    store = walk.at.store
    messages = store.list_messages(walk.at.user, limit=5)
    if not messages:
        raise AssertionError("no tracked message in Firestore")
    walk.message = message = messages[0]
    found = wait_for(
        lambda: store.list_events(message.id),
        SECONDS,
        "the hit in Firestore (Pub/Sub push to process_hit)",
    )
    kinds = [(e.kind, e.verdict.value) for e in found]
    if ("open", "human") not in kinds:
        raise AssertionError(f"events: {kinds}")
    # The client's own address, as the platform's front appended it: not what the client
    # claimed, nor (behind a custom domain) Firebase Hosting's edge.
    networks = {e.network for e in found}
    if networks != {"127.0.0.0/24"}:
        raise AssertionError(f"the hit's network is {networks}, not the client's 127.0.0.0/24")
    return f"events of {message.id}: {kinds}, the client's network 127.0.0.0/24"


def webhooks(walk: Walk) -> str:
    slack_server, chat_server = walk.at.slack.server, walk.at.chat.server
    slack = slack_server.wait(lambda r: posts(r, lambda p: p.startswith("/services/")), SECONDS)
    chat = chat_server.wait(
        lambda r: posts(r, lambda p: p.startswith("/v1/spaces/AAAWEBHOOK/")), SECONDS
    )
    if not slack or not chat:
        raise AssertionError(f"alerts: Slack {len(slack or [])}, Chat {len(chat or [])}")
    body = slack[0]["body"].decode()
    link = re.search(r'https?://[^"\s<>|]+/dashboard/messages/[^"\s<>|]+', body)
    if link is None:
        raise AssertionError(f"no dashboard link in the Slack alert: {body[:200]}")
    walk.dashboard_link = link.group(0).replace("\\u0026", "&").replace("&amp;", "&")
    return f"Slack webhook got {len(slack)}, Chat webhook got {len(chat)}"


def dashboard(walk: Walk) -> str:
    url = walk.dashboard_link
    if not url.startswith(walk.at.config.base("dashboard") + "/dashboard/"):
        raise AssertionError(f"the alert links to {url}")
    response = walk.at.http("GET", url, allow_redirects=True)
    subject = walk.message.subject if walk.message else ""
    if response.status_code != 200 or subject.split()[0] not in response.text:
        raise AssertionError(f"HTTP {response.status_code}: {response.text[:200]}")
    return f"{url[:70]}... answered 200 with the message's page"


def signin(walk: Walk) -> str:
    """Google sign-in in a browser: the flow's state and then the session ride in the one
    ``__session`` cookie (behind Hosting, the only one that reaches the function)."""
    assert walk.browser is not None
    walk.at.signin.next_user = (walk.at.user, walk.at.domain)
    base = walk.at.config.base("dashboard")
    url, page = walk.browser.get(f"{base}/dashboard/signin/google")
    if page.status_code != 200 or walk.at.user not in page.text:
        raise AssertionError(f"{url}: HTTP {page.status_code} {page.text[:200]}")
    return f"Google -> {base}/dashboard/signin/callback -> the list, signed in as {walk.at.user}"


def slack_install(walk: Walk) -> str:
    assert walk.browser is not None
    urls = walk.at.config.urls()
    start, answer = walk.browser.get(urls["slack install"], until="https://slack.com/")
    query = {k: v[0] for k, v in parse_qs(urlsplit(start).query).items()}
    redirect = query.get("redirect_uri", "")
    if not start.startswith("https://slack.com/oauth/v2/authorize"):
        raise AssertionError(f"HTTP {answer.status_code} to {start[:120]}")
    if redirect != urls["slack redirect"]:
        raise AssertionError(f"redirect_uri {redirect} is not the Slack function's")
    # Slack's authorize page sends the browser back with a code and the state.
    _, done = walk.browser.get(f"{redirect}?code=rehearsal-code&state={query['state']}")
    if done.status_code != 200 or "installed" not in done.text:
        raise AssertionError(f"callback: HTTP {done.status_code} {done.text[:200]}")
    exchanged = [r for r in walk.at.slack.server.requests if "oauth.v2.access" in r["path"]]
    # The same jar still holds the dashboard's session.
    _, page = walk.browser.get(f"{walk.at.config.base('dashboard')}/dashboard/messages")
    if page.status_code != 200 or walk.at.user not in page.text:
        raise AssertionError(f"the dashboard session was lost: HTTP {page.status_code}")
    said = done.text.strip()[:60]
    return f"authorize -> callback -> oauth.v2.access ({len(exchanged)} call): {said}"


def chat_app(walk: Walk) -> str:
    event = {
        "type": "ADDED_TO_SPACE",
        "eventTime": "2026-03-02T09:00:00Z",
        "space": {"name": "spaces/DMREHEARSAL", "type": "DM", "spaceType": "DIRECT_MESSAGE"},
        "user": {"name": f"users/{USER_SUB}", "email": walk.at.user, "type": "HUMAN"},
    }
    walk.at.chat.dms[f"users/{USER_SUB}"] = "spaces/DMREHEARSAL"
    token = walk.at.chat_key.token(audience=PROJECT_NUMBER, issuer=CHAT_ISSUER)
    url = walk.at.config.urls()["chat endpoint"]
    response = walk.at.http("POST", url, json=event, headers={"Authorization": f"Bearer {token}"})
    if response.status_code != 200:
        raise AssertionError(f"HTTP {response.status_code} {response.text[:200]}")
    return f"ADDED_TO_SPACE with a project-number JWT: {response.json().get('text', '')[:50]}"


def chat_alert(walk: Walk) -> str:
    posted = walk.at.chat.server.wait(lambda r: posts(r, lambda p: "DMREHEARSAL" in p), SECONDS)
    if not posted:
        raise AssertionError("no message created in the DM")
    return f"spaces.messages.create in spaces/DMREHEARSAL ({len(posted)})"


def digest(walk: Walk) -> str:
    slack_requests = walk.at.slack.server.requests
    before = len(slack_requests)
    walk.at.admin.publish(TOPIC_IDS[DIGEST], b"{}")  # what Cloud Scheduler publishes
    record = wait_for(
        lambda: walk.at.store.get_record("digest-sent", walk.at.user),
        SECONDS,
        "the digest (Scheduler -> digest -> notify)",
    )
    later = len(slack_requests) - before
    return f"digest sent at {record['at']} ({later} more Slack webhook posts)"


def no_dead_letters(walk: Walk) -> str:
    relays = walk.at.relays
    dead = sum(r.dead_lettered for r in relays)
    if dead:
        raise AssertionError(f"{dead} messages dead-lettered")
    return f"{sum(r.delivered for r in relays)} pushes delivered, none dead-lettered"


def dead_letters_kept(walk: Walk) -> str:
    """A topic without a subscription drops what it receives: each dead-letter topic must
    have the plan's own subscription, which keeps what lands there for `mailbeacon
    deadletters`."""
    admin, kept = walk.at.admin, []
    for topic, subscription in KEPT_IDS.items():
        admin.publish(DEAD_IDS[topic], b'{"probe": true}')
        found = wait_for(lambda s=subscription: admin.pull(s), 30, f"a message on {subscription}")
        admin.ack(subscription, *[m["ackId"] for m in found])
        kept.append(subscription)
    return f"kept by {', '.join(kept)}"


Named = tuple[str, Callable[[Walk], str]]
STEPS: tuple[Named, ...] = (
    ("add-on homepage (Google-signed system and user ID tokens)", homepage),
    ("settings card saved (Slack and Chat webhooks)", settings),
    ("compose: Track opens", partial(track, subject="Rehearsal: pricing")),
    ("the pixel fetched as Gmail's image proxy", fetch_pixel),
    ("the hit consumed (Pub/Sub push -> process_hit -> Firestore)", consumed),
    ("Slack and Chat webhook alerts (notify)", webhooks),
    ("the alert's dashboard link opened", dashboard),
    ("dashboard sign-in with Google (one __session cookie)", signin),
    ("Slack OAuth install round trip (the same cookie)", slack_install),
    ("Chat app added to a DM (Chat-signed)", chat_app),
    ("compose: Track a second email", partial(track, subject="Rehearsal: follow-up")),
    ("its pixel fetched as Gmail's image proxy", fetch_pixel),
    ("the Chat app alerts in the DM", chat_alert),
    ("the daily digest (Scheduler simulated)", digest),
    ("every push delivered (retry policy, dead-letter topics)", no_dead_letters),
    ("dead letters kept (each dead-letter topic's subscription)", dead_letters_kept),
)


def walk_journey(rehearsal: Rehearsal, steps: tuple[Named, ...] = STEPS) -> Journey:
    """Every step in order, each recorded; the journey goes on past a failure."""
    print(
        f"Walking the user journey as {rehearsal.user} through {rehearsal.config.base('addon')} ..."
    )
    rehearsal.chat.dms["spaces/AAAWEBHOOK"] = "spaces/AAAWEBHOOK"
    state, journey = Walk(rehearsal), Journey()
    for name, step in steps:
        journey.step(name, partial(step, state))
    return journey
