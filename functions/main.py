"""Cloud Functions (2nd gen) entry points. Each is thin: it hands the request to the one WSGI app
that `mailbeacon serve` runs locally (functions/app.py), or a Pub/Sub message to the handler
the bootstrap subscribed for its topic.

Nothing is wired at import: the App is bootstrapped on the first request, from the environment
(MAILBEACON_STORE=firestore, MAILBEACON_BUS=pubsub, GOOGLE_CLOUD_PROJECT, MAILBEACON_SECRET,
MAILBEACON_PUBLIC_URL...). The pixel never touches Firestore, so it never imports its client.

Deploy with ``--entry-point NAME`` from a source folder that holds this file as main.py
(``mailbeacon deploy`` assembles it); run locally with
``functions-framework --source functions/main.py --target pixel``.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import functions_framework

from functions.endpoints import MOUNTS  # which paths each HTTP entry point answers

_lock = threading.Lock()
_wired: dict[str, Any] = {}


class _CloudLogFormat(logging.Formatter):
    """One JSON line per record: Cloud Logging reads ``severity`` from it, so an error logged
    here (a failed publish, say) shows up as an error, not as plain stderr text."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "severity": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["message"] += "\n" + self.formatException(record.exc_info)
        return json.dumps(entry)


def _configure_logging() -> None:
    from mailbeacon.redact import install_log_redaction

    install_log_redaction()
    handler = logging.StreamHandler()
    handler.setFormatter(_CloudLogFormat())
    mailbeacon_loggers = ("mailbeacon", "functions", "addon", "notifier")
    for name in mailbeacon_loggers:
        logger = logging.getLogger(name)
        if any(isinstance(h.formatter, _CloudLogFormat) for h in logger.handlers):
            continue  # configured by an earlier, failed start
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def application() -> tuple[Any, Any]:
    """The bootstrapped App and its Flask app, built once per instance on first use."""
    if "app" not in _wired:
        with _lock:
            if "app" not in _wired:
                _configure_logging()
                from functions.app import create_app
                from functions.bootstrap import bootstrap
                from functions.config import load_config

                config = load_config()
                _require_secret(config.core)
                app = bootstrap(config)
                _wired["web"] = create_app(app)
                _wired["app"] = app
    return _wired["app"], _wired["web"]


def tracking_edge() -> Any:
    """The pixel's and the click's answer, built once per instance on first use from the
    tracking parts alone (functions/tracking_root.py): no store, notifier or web app."""
    if "edge" not in _wired:
        with _lock:
            if "edge" not in _wired:
                _configure_logging()
                import os

                from functions.environment import Env, core_config
                from functions.tracking_edge import TrackingEdge
                from functions.tracking_root import tracking_only

                core = core_config(Env(os.environ))
                _require_secret(core)
                _wired["edge"] = TrackingEdge(tracking_only(core))
    return _wired["edge"]


def _require_secret(core: Any) -> None:
    """In the cloud every instance must sign alike: a secret made up per instance would make
    every token invalid elsewhere."""
    if core.store != "sqlite" and not core.secret:
        raise RuntimeError("MAILBEACON_SECRET is not set (Secret Manager)")


def _track(name: str, request: Any) -> Any:
    """A tracking path answered by the tracking edge, and so is ``/healthz`` (it reports
    this instance's recording of hits); anything else by the whole app."""
    path = _path_for(name, request.path)
    if path == "/healthz" or (name == "click" and request.path.endswith("/healthz")):
        report = tracking_edge().tracker.parts.health.report()
        status = 200 if report["status"] == "ok" else 503
        return (json.dumps(report), status, {"Content-Type": "application/json"})
    if path is not None and path.startswith(("/p/", "/c/")):
        environ = dict(request.environ)
        environ["PATH_INFO"] = path
        answer = tracking_edge().answer(environ)
        if answer is not None:
            status, headers, body = answer
            return (body, status, headers)  # werkzeug sends no body for HEAD
    return _dispatch(name, request)


def _path_for(name: str, path: str) -> str | None:
    """The app path for a request to function ``name``, or None when it is not ours to serve.

    Behind ``https://REGION-PROJECT.cloudfunctions.net/NAME/...`` or the function's own run.app
    URL, the function name may or may not lead the path; both forms reach the same route.
    """
    mounts = MOUNTS[name]
    if path == f"/{name}" or path.startswith(f"/{name}/"):
        rest = path[len(name) + 1 :] or "/"
        if not any(rest.startswith(m) for m in mounts):
            rest = path  # "/addon/..." is already the app's own path
        path = rest
    if any(path.startswith(m) for m in mounts):
        return path
    if len(mounts) == 1 and not mounts[0].endswith("/"):  # "/x" on the add-on's means "/addon/x"
        return mounts[0] + (path if path != "/" else "")
    return None


def _dispatch(name: str, request: Any) -> Any:
    _, web = application()
    path = _path_for(name, request.path)
    if path is None:
        return ("not found\n", 404, {"Content-Type": "text/plain"})
    environ = dict(request.environ)
    environ["PATH_INFO"] = path
    with web.request_context(environ):
        return web.full_dispatch_request()


def _deliver(topic: str, cloud_event: Any) -> None:
    from mailbeacon.bus.pubsub import deliver

    app, _ = application()
    deliver(app.handlers.get(topic), topic, cloud_event)


@functions_framework.http
def pixel(request: Any) -> Any:
    """GET|HEAD /p/{token}.gif: verify, publish the hit (one awaited call), answer the GIF."""
    return _track("pixel", request)


@functions_framework.http
def click(request: Any) -> Any:
    """GET|HEAD /c/{token}: verify, publish the hit, redirect to the signed URL."""
    return _track("click", request)


@functions_framework.http
def addon(request: Any) -> Any:
    """POST /addon/...: the Workspace add-on's HTTP runtime."""
    return _dispatch("addon", request)


@functions_framework.http
def chat(request: Any) -> Any:
    """POST /chat: the Google Chat app."""
    return _dispatch("chat", request)


@functions_framework.http
def slack(request: Any) -> Any:
    """POST /slack/...: Slack events, interactivity and OAuth."""
    return _dispatch("slack", request)


@functions_framework.http
def dashboard(request: Any) -> Any:
    """GET /dashboard/...: the web dashboard."""
    return _dispatch("dashboard", request)


@functions_framework.cloud_event
def process_hit(cloud_event: Any) -> None:
    """Pub/Sub (hits topic): classify and store the hit; raising makes Pub/Sub redeliver."""
    from mailbeacon.bus import HITS

    _deliver(HITS, cloud_event)


@functions_framework.cloud_event
def notify(cloud_event: Any) -> None:
    """Pub/Sub (notify topic): tell the sender about a human open or click."""
    from mailbeacon.bus import NOTIFY

    _deliver(NOTIFY, cloud_event)


@functions_framework.cloud_event
def digest(cloud_event: Any) -> None:
    """Pub/Sub (digest topic, fed by Cloud Scheduler): send the grouped notifications."""
    from mailbeacon.bus import DIGEST

    _deliver(DIGEST, cloud_event)
