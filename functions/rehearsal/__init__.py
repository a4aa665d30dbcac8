"""`mailbeacon deploy --project P --region R --rehearse`: the planned deployment, run here.

What runs is what the plan deploys: the assembled source folder, every function under
functions-framework in its own process with the environment the plan sets (secrets from a
local stand-in for Secret Manager), behind a front that answers the plan's URLs; Firestore and
Pub/Sub are Google's emulators with the plan's topics and subscriptions, pushed by a relay that
keeps the plan's retry and dead-letter policy; Cloud Scheduler is a publish to the digest
topic. Only Google's and Slack's own services are stand-ins (functions/standins/), and
the few variables that point the functions at them are printed as such.

Then it walks a user's journey through the plan's URLs with requests signed the way Google and
Slack sign them (local keys), prints each step with PASS or FAIL, stops everything it started,
and exits non-zero if any step failed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..deploy import FUNCTIONS, RETRY, SUBSCRIBERS, TOPIC_IDS, DeployConfig, assemble_source
from ..standins.emulators import NotAvailable, firestore_command, pubsub_command
from ..standins.google_chat import Chat
from ..standins.google_tokens import TokenIssuer as Signer
from ..standins.polling import wait_for
from ..standins.pubsub_admin import PubsubAdmin
from ..standins.slack import Slack
from .local import Front, Process, PushRelay

PROJECT_NUMBER = "123456789012"
ADDON_CLIENT_ID = "1088000000000-rehearsal.apps.googleusercontent.com"
CHAT_ISSUER = "chat@system.gserviceaccount.com"
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
USER_SUB = "107691503500061507150"
SECONDS = 90.0  # how long a step may wait for the pipeline (cold starts on a shared machine)


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


def rehearse(config: DeployConfig, *, source_dir: Path) -> int:
    """Run the deployment locally, walk the journey, stop everything; 0 only if all passed."""
    print(f"Rehearsing the deployment of project {config.project} in {config.region}")
    work = Path(tempfile.mkdtemp(prefix="mailbeacon-rehearsal-"))
    rehearsal = Rehearsal(config, source_dir, work)
    try:
        rehearsal.start()
    except NotAvailable as exc:
        print(f"mailbeacon: cannot rehearse here: {exc}", file=sys.stderr)
        rehearsal.stop()
        return 2
    except Exception as exc:
        print(f"  FAIL  start the deployment: {exc}", flush=True)
        rehearsal.stop()
        print(f"Logs: {work}")
        return 1
    try:
        journey = rehearsal.walk()
    finally:
        rehearsal.stop()
    failed = [s.name for s in journey.steps if not s.ok]
    if failed:
        print(
            f"Rehearsal FAILED: {len(failed)} of {len(journey.steps)} steps ({', '.join(failed)})"
        )
        print(f"Logs of every process: {work}")
        return 1
    shutil.rmtree(work, ignore_errors=True)  # the logs are kept only when something failed
    print(f"Rehearsal passed: {len(journey.steps)} steps. Everything started here was stopped.")
    return 0


class Rehearsal:
    def __init__(self, config: DeployConfig, source_dir: Path, work: Path) -> None:
        self.declared = config
        # The journey crosses Slack, so Slack is configured for the rehearsal if it is not.
        settings = dict(config.settings)
        settings.setdefault("MAILBEACON_SLACK_CLIENT_ID", "1111.rehearsal")
        settings.setdefault("MAILBEACON_WORKSPACE_DOMAINS", "example.com")
        added = sorted(set(settings) - {k for k, _ in config.settings})
        if added:
            print(f"  ....  declared for the rehearsal (unset here): {', '.join(added)}")
        self.config = replace(config, settings=tuple(settings.items()))
        self.source_dir = source_dir
        self.work = work
        self.processes: list[Process] = []
        self.relays: list[PushRelay] = []
        self.front: Front | None = None
        self.servers: list[Any] = []
        domains = dict(self.config.settings)["MAILBEACON_WORKSPACE_DOMAINS"]
        self.domain = domains.split(",")[0].strip().lower()
        self.user = f"ana@{self.domain}"

    # Start ------------------------------------------------------------------------------------

    def start(self) -> None:
        firestore_cmd, pubsub_cmd = firestore_command(), pubsub_command()
        print(f"  ....  assembling the functions' source folder in {self.source_dir}")
        assemble_source(self.source_dir)
        logs = self.work
        for name, log, command in (
            ("Firestore emulator", "firestore.log", firestore_cmd),
            ("Pub/Sub emulator", "pubsub.log", pubsub_cmd),
        ):
            emulator = Process(name, [*command, "--host=127.0.0.1", "--port={port}"], logs / log)
            self.processes.append(emulator)
            emulator.start("/", lambda status, body: status == 200 and body.strip() == b"Ok", 90)
        firestore, pubsub = self.processes[0], self.processes[1]
        self.emulator_env = {
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{firestore.port}",
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{pubsub.port}",
        }
        print(f"  ....  emulators: Firestore {firestore.url}, Pub/Sub {pubsub.url}")

        # Google's and Slack's clouds.
        self.google = Signer("rehearsal-google")
        self.chat_key = Signer("rehearsal-chat")
        self.secret_manager = {
            "mailbeacon-secret": "1:" + secrets.token_hex(32),
            "mailbeacon-slack-client-secret": secrets.token_urlsafe(24),
            "mailbeacon-slack-signing-secret": secrets.token_hex(16),
            "mailbeacon-smtp-password": secrets.token_urlsafe(12),
            "mailbeacon-signin-client-secret": secrets.token_urlsafe(12),
            "mailbeacon-vapid": _vapid_pem(),
        }
        client_id = dict(self.config.settings)["MAILBEACON_SLACK_CLIENT_ID"]
        self.slack = Slack(client_id, self.secret_manager["mailbeacon-slack-client-secret"])
        self.chat = Chat()
        self.servers += [
            self.google.server,
            self.chat_key.server,
            self.slack.server,
            self.chat.server,
        ]
        self.addon_sa = f"service-{PROJECT_NUMBER}@gcp-sa-gsuiteaddons.iam.gserviceaccount.com"

        # Pub/Sub: the plan's topics, dead-letter topics and subscriptions.
        self.admin = PubsubAdmin(self.emulator_env["PUBSUB_EMULATOR_HOST"], self.config.project)
        for topic in SUBSCRIBERS:
            self.admin.topic(TOPIC_IDS[topic])
            self.admin.topic(f"{TOPIC_IDS[topic]}-dead")

        # Every function, with the plan's environment.
        refs = {
            "PROJECT_NUMBER": PROJECT_NUMBER,
            "ADDON_SA": self.addon_sa,
            "ADDON_CLIENT_ID": ADDON_CLIENT_ID,
        }
        planned = self.config.resolved_environment(refs)
        mounted = {s.env: self.secret_manager[s.name] for s in self.config.secrets()}
        self.boundary = {
            # Where Google's and Slack's services are, for this rehearsal only.
            **self.emulator_env,
            "MAILBEACON_GOOGLE_CERTS_URL": self.google.certs_url,
            "MAILBEACON_CHAT_CERTS_URL": self.chat_key.certs_url,
            "MAILBEACON_SLACK_API_URL": self.slack.api_url,
            "MAILBEACON_CHAT_API_URL": self.chat.server.url + "/",
            "MAILBEACON_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
        }
        print(
            f"  ....  {len(planned)} planned variables and {len(mounted)} secrets "
            f"({', '.join(sorted(mounted))}) from the Secret Manager stand-in; pointed at local "
            f"stand-ins: {', '.join(sorted(self.boundary))}"
        )
        base = {k: v for k, v in os.environ.items() if not k.startswith("MAILBEACON_")}
        base.pop("GOOGLE_CLOUD_PROJECT", None)
        functions: dict[str, Process] = {}
        for fn in FUNCTIONS:
            env = {
                **base,
                **planned,
                "THREADS": str(fn.concurrency),
                **mounted,
                **self.boundary,
                "PYTHONDONTWRITEBYTECODE": "1",
            }
            command = [
                sys.executable, "-m", "functions_framework",
                "--source", str(self.source_dir / "main.py"),
                "--target", fn.name, "--host", "127.0.0.1", "--port", "{port}",
            ]  # fmt: skip
            process = Process(fn.name, command, logs / f"{fn.name}.log", env, self.source_dir)
            functions[fn.name] = process
            self.processes.append(process)
            process.start("/healthz", lambda status, body: status > 0, 120)
        self.functions = functions
        print(
            f"  ....  {len(functions)} functions under functions-framework: {', '.join(functions)}"
        )

        # Push subscriptions, through the relay (retry and dead letters as planned).
        for topic, fn_name in SUBSCRIBERS.items():
            sub = f"{TOPIC_IDS[topic]}-{fn_name.replace('_', '-')}"
            self.admin.subscription(sub, TOPIC_IDS[topic], RETRY["ack_deadline"])
            relay = PushRelay(
                self.admin,
                sub,
                functions[fn_name].url + "/",
                f"{TOPIC_IDS[topic]}-dead",
                min_delay=int(RETRY["min"].rstrip("s")),
                max_delay=int(RETRY["max"].rstrip("s")),
                max_attempts=int(RETRY["attempts"]),
            )
            self.relays.append(relay.start())
        http = {f.name: functions[f.name].port for f in FUNCTIONS if f.public}
        self.front = Front(self.config.functions_host, self.config.public_url, http)
        served = self.config.public_url or self.config.functions_host
        print(f"  ....  the front for {served}: {self.front.url}")

        # The rehearsal reads Firestore as `mailbeacon stats` would.
        os.environ.update(self.emulator_env)
        from mailbeacon.store.firestore import FirestoreStore

        self.store = FirestoreStore(project=self.config.project, timeout=20)

    def stop(self) -> None:
        for relay in self.relays:
            relay.stop()
        if self.front is not None:
            self.front.stop()
        for process in reversed(self.processes):
            process.stop()
        for server in self.servers:
            server.stop()
        for key in ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST"):
            os.environ.pop(key, None)

    # Requests as Google and Slack make them ------------------------------------------------

    def _http(self, method: str, url: str, **kwargs: Any) -> Any:
        import requests

        assert self.front is not None
        kwargs.setdefault("timeout", 120)
        kwargs.setdefault("allow_redirects", False)
        return requests.request(method, self.front.local(url), **kwargs)

    def addon(self, route: str, event: dict[str, Any]) -> dict[str, Any]:
        """POST an add-on event as Google's HTTP runtime does: the add-on service agent's ID
        token for the endpoint URL in the header, the user's ID token (audience: the add-on's
        OAuth client) in ``authorizationEventObject``."""
        url = f"{self.config.base('addon')}/addon/{route}"
        system = self.google.id_token(url, self.addon_sa, "1" + PROJECT_NUMBER)
        user = self.google.id_token(ADDON_CLIENT_ID, self.user, USER_SUB, hd=self.domain)
        event = {
            **event,
            "authorizationEventObject": {"systemIdToken": system, "userIdToken": user},
        }
        response = self._http(
            "POST", url, json=event, headers={"Authorization": f"Bearer {system}"}
        )
        if response.status_code != 200:
            raise AssertionError(f"{route}: HTTP {response.status_code} {response.text[:200]}")
        return response.json()

    def slack_signed(self, url: str, body: bytes) -> Any:
        import hashlib
        import hmac

        stamp = str(int(time.time()))
        secret = self.secret_manager["mailbeacon-slack-signing-secret"].encode()
        mac = hmac.new(secret, f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
        headers = {
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": f"v0={mac}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        return self._http("POST", url, data=body, headers=headers)

    # The journey ---------------------------------------------------------------------------

    def walk(self) -> Journey:
        print(f"Walking the user journey as {self.user} through {self.config.base('addon')} ...")
        journey = Journey()
        state: dict[str, Any] = {}
        slack_hook = f"{self.slack.server.url}/services/T0REHEARSAL/B0ALERTS/rehearsal"
        chat_hook = f"{self.chat.server.url}/v1/spaces/AAAWEBHOOK/messages?key=k&token=t"
        self.chat.dms["spaces/AAAWEBHOOK"] = "spaces/AAAWEBHOOK"
        gmail = {"hostApp": "GMAIL", "platform": "WEB", "timeZone": {"id": "Europe/Berlin"}}

        def homepage() -> str:
            answer = self.addon("homepage", {"commonEventObject": gmail})
            card = answer["action"]["navigations"][0]["pushCard"]
            footer = card["fixedFooter"]["primaryButton"]
            function = footer["onClick"]["action"]["function"]
            if not function.startswith(self.config.base("addon") + "/addon/"):
                raise AssertionError(f"the settings button calls {function}")
            return f"card {card['header']['title']!r}; its buttons call {function}"

        def settings() -> str:
            form = {
                "slack_mode": {"stringInputs": {"value": ["webhook"]}},
                "slack_webhook": {"stringInputs": {"value": [slack_hook]}},
                "chat_mode": {"stringInputs": {"value": ["webhook"]}},
                "chat_webhook": {"stringInputs": {"value": [chat_hook]}},
                "notify": {"stringInputs": {"value": ["every-open"]}},
            }
            answer = self.addon(
                "settings/save", {"commonEventObject": {**gmail, "formInputs": form}}
            )
            saved = self.store.get_settings(self.user)
            if saved.slack_webhook != slack_hook or saved.chat_webhook != chat_hook:
                raise AssertionError(f"settings not saved: {json.dumps(answer)[:300]}")
            return "Slack and Chat webhooks saved in Firestore"

        def track(subject: str) -> Callable[[], str]:
            def run() -> str:
                event = {
                    "commonEventObject": {
                        **gmail,
                        "formInputs": {"subject": {"stringInputs": {"value": [subject]}}},
                    },
                    "gmail": {"toRecipients": ["bob@example.org"], "ccRecipients": []},
                }
                answer = self.addon("compose/track", event)
                markup = answer["renderActions"]["hostAppAction"]["gmailAction"]
                html = markup["updateDraftActionMarkup"]["updateBody"]["insertContents"][0][
                    "content"
                ]
                pixel = re.search(r'src="([^"]+)"', html).group(1)  # type: ignore[union-attr]
                if not pixel.startswith(self.config.base("pixel") + "/p/"):
                    raise AssertionError(f"pixel URL {pixel} is not the pixel function's")
                state.setdefault("pixels", []).append(pixel)
                return f"pixel inserted: {pixel[:80]}..."

            return run

        def fetch_pixel() -> str:
            response = self._http("GET", state["pixels"][-1], headers={"User-Agent": GMAIL_PROXY})
            kind = response.headers.get("Content-Type")
            if response.status_code != 200 or kind != "image/gif" or len(response.content) != 43:
                raise AssertionError(
                    f"HTTP {response.status_code} {kind} {len(response.content)} bytes"
                )
            return "HTTP 200, a 43-byte GIF, Cache-Control: " + response.headers["Cache-Control"]

        def consumed() -> str:
            messages = self.store.list_messages(self.user, limit=5)
            if not messages:
                raise AssertionError("no tracked message in Firestore")
            state["message"] = messages[0]

            def events() -> Any:
                return self.store.list_events(messages[0].id)

            found = wait_for(events, SECONDS, "the hit in Firestore (Pub/Sub push to process_hit)")
            kinds = [(e.kind, e.verdict.value) for e in found]
            if ("open", "human") not in kinds:
                raise AssertionError(f"events: {kinds}")
            return f"events of {messages[0].id}: {kinds}"

        def webhooks() -> str:
            def alerts(requests: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
                return [
                    r for r in requests if r["method"] == "POST" and r["path"].startswith(prefix)
                ]

            slack = self.slack.server.wait(lambda r: alerts(r, "/services/"), SECONDS)
            chat = self.chat.server.wait(lambda r: alerts(r, "/v1/spaces/AAAWEBHOOK/"), SECONDS)
            if not slack or not chat:
                raise AssertionError(f"alerts: Slack {len(slack or [])}, Chat {len(chat or [])}")
            body = slack[0]["body"].decode()
            link = re.search(r'https?://[^"\s<>|]+/dashboard/messages/[^"\s<>|]+', body)
            if link is None:
                raise AssertionError(f"no dashboard link in the Slack alert: {body[:200]}")
            state["dashboard"] = link.group(0).replace("\\u0026", "&").replace("&amp;", "&")
            return f"Slack webhook got {len(slack)}, Chat webhook got {len(chat)}"

        def dashboard() -> str:
            url = state["dashboard"]
            if not url.startswith(self.config.base("dashboard") + "/dashboard/"):
                raise AssertionError(f"the alert links to {url}")
            response = self._http("GET", url, allow_redirects=True)
            subject = state["message"].subject
            if response.status_code != 200 or subject.split()[0] not in response.text:
                raise AssertionError(f"HTTP {response.status_code}: {response.text[:200]}")
            return f"{url[:70]}... answered 200 with the message's page"

        def slack_install() -> str:
            from urllib.parse import parse_qs, urlencode, urlsplit

            start = self._http("GET", self.config.urls()["slack install"])
            location = start.headers.get("Location", "")
            query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
            redirect = query.get("redirect_uri", "")
            if start.status_code != 302 or not location.startswith(
                "https://slack.com/oauth/v2/authorize"
            ):
                raise AssertionError(f"HTTP {start.status_code} to {location[:120]}")
            if redirect != self.config.urls()["slack redirect"]:
                raise AssertionError(f"redirect_uri {redirect} is not the Slack function's")
            # The browser sends the state cookie back only if its Path covers the callback.
            cookie = next((c for c in start.cookies if c.name.endswith("oauth-state")), None)
            if cookie is None or not urlsplit(redirect).path.startswith(cookie.path or "/"):
                where = cookie.path if cookie else "no cookie"
                raise AssertionError(f"the state cookie ({where}) would not reach {redirect}")
            back = f"{redirect}?{urlencode({'code': 'rehearsal-code', 'state': query['state']})}"
            done = self._http("GET", back, headers={"Cookie": f"{cookie.name}={cookie.value}"})
            if done.status_code != 200 or "installed" not in done.text:
                raise AssertionError(f"callback: HTTP {done.status_code} {done.text[:200]}")
            exchanged = [r for r in self.slack.server.requests if "oauth.v2.access" in r["path"]]
            said = done.text.strip()[:60]
            return f"authorize -> callback -> oauth.v2.access ({len(exchanged)} call): {said}"

        def chat_app() -> str:
            event = {
                "type": "ADDED_TO_SPACE",
                "eventTime": "2026-03-02T09:00:00Z",
                "space": {
                    "name": "spaces/DMREHEARSAL",
                    "type": "DM",
                    "spaceType": "DIRECT_MESSAGE",
                },
                "user": {"name": f"users/{USER_SUB}", "email": self.user, "type": "HUMAN"},
            }
            self.chat.dms[f"users/{USER_SUB}"] = "spaces/DMREHEARSAL"
            token = self.chat_key.token(audience=PROJECT_NUMBER, issuer=CHAT_ISSUER)
            url = self.config.urls()["chat endpoint"]
            response = self._http(
                "POST", url, json=event, headers={"Authorization": f"Bearer {token}"}
            )
            if response.status_code != 200:
                raise AssertionError(f"HTTP {response.status_code} {response.text[:200]}")
            return (
                f"ADDED_TO_SPACE with a project-number JWT: {response.json().get('text', '')[:50]}"
            )

        def chat_alert() -> str:
            def in_dm(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
                return [r for r in requests if r["method"] == "POST" and "DMREHEARSAL" in r["path"]]

            posted = self.chat.server.wait(in_dm, SECONDS)
            if not posted:
                raise AssertionError("no message created in the DM")
            return f"spaces.messages.create in spaces/DMREHEARSAL ({len(posted)})"

        def digest() -> str:
            before = len(self.slack.server.requests)
            self.admin.publish(TOPIC_IDS["digest"], b"{}")  # what Cloud Scheduler publishes

            def sent() -> Any:
                return self.store.get_record("digest-sent", self.user)

            record = wait_for(sent, SECONDS, "the digest (Scheduler -> digest -> notify)")
            later = len(self.slack.server.requests) - before
            return f"digest sent at {record['at']} ({later} more Slack webhook posts)"

        journey.step("add-on homepage (Google-signed system and user ID tokens)", homepage)
        journey.step("settings card saved (Slack and Chat webhooks)", settings)
        journey.step("compose: Track opens", track("Rehearsal: pricing"))
        journey.step("the pixel fetched as Gmail's image proxy", fetch_pixel)
        journey.step("the hit consumed (Pub/Sub push -> process_hit -> Firestore)", consumed)
        journey.step("Slack and Chat webhook alerts (notify)", webhooks)
        journey.step("the alert's dashboard link opened", dashboard)
        journey.step("Slack OAuth install round trip", slack_install)
        journey.step("Chat app added to a DM (Chat-signed)", chat_app)
        journey.step("compose: Track a second email", track("Rehearsal: follow-up"))
        journey.step("its pixel fetched as Gmail's image proxy", fetch_pixel)
        journey.step("the Chat app alerts in the DM", chat_alert)
        journey.step("the daily digest (Scheduler simulated)", digest)

        def no_dead_letters() -> str:
            dead = sum(r.dead_lettered for r in self.relays)
            if dead:
                raise AssertionError(f"{dead} messages dead-lettered")
            return f"{sum(r.delivered for r in self.relays)} pushes delivered, none dead-lettered"

        journey.step("every push delivered (retry policy, dead-letter topics)", no_dead_letters)
        return journey


__all__ = ["rehearse"]


def _vapid_pem() -> str:
    """A P-256 key as PKCS#8 PEM: what the plan's openssl command stores in Secret Manager."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
