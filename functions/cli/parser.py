"""The command line's grammar: every command, flag and argument type, and nothing else."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import NoReturn

from mailbeacon.clock import parse_time
from mailbeacon.config import DEFAULT_PORT
from mailbeacon.errors import InvalidInput
from mailbeacon.model import Notify, Strictness


class UsageError(Exception):
    """A command line that does not parse: one line on stderr, exit 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (no usage dump) and never exit from inside parsing."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _http_url(value: str) -> str:
    if value == "":
        return value  # an empty value clears the setting
    from mailbeacon.validation import check_link

    try:
        return check_link(value)
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _on_off(value: str) -> bool:
    if value.lower() in ("on", "yes", "true", "1"):
        return True
    if value.lower() in ("off", "no", "false", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected on or off, got {value!r}")


def _iso_time(value: str) -> datetime:
    try:
        return parse_time(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 time, got {value!r}") from exc


def _retention_days(value: str) -> int:
    """Days from 1 to 36500, or off (0): the server's retention alone."""
    if value.lower() in ("off", "default", "none"):
        return 0
    try:
        days = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {value!r}") from None
    if not 1 <= days <= 36500:
        raise argparse.ArgumentTypeError(f"expected 1 to 36500 days, got {days}")
    return days


def _channels(value: str) -> list[str]:
    from mailbeacon.policy import CHANNELS

    names = [part.strip().lower() for part in value.split(",") if part.strip()]
    for name in names:
        if name not in CHANNELS:
            raise argparse.ArgumentTypeError(
                f"unknown channel {name!r}: choose from {','.join(CHANNELS)}"
            )
    return names


def _positive_port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {value}")
    return port


def build_parser() -> Parser:
    """Every command and flag; the commands themselves live beside this module."""
    parser = Parser(prog="mailbeacon", description="Honest email open and click tracking.")
    common = Parser(add_help=False)
    common.add_argument(
        "--data-dir", type=Path, help="where the embedded store lives (MAILBEACON_DATA_DIR)"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    serve = sub.add_parser("serve", parents=[common], help="run every endpoint and the notifier")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_positive_port, default=DEFAULT_PORT)
    serve.add_argument("--public-url", type=_http_url, help="base URL recipients reach")
    serve.add_argument("--trust-proxy", type=int, default=None, metavar="N")
    serve.add_argument("--insecure-dev-auth", action="store_true")

    track = sub.add_parser("track", parents=[common], help="register a tracked message")
    track.add_argument("--sender", required=True)
    track.add_argument("--to", action="append", required=True, default=[])
    track.add_argument("--subject", default="")
    track.add_argument("--link", action="append", default=[])
    track.add_argument("--sent-at", type=_iso_time, help="ISO 8601 time the message was sent")
    track.add_argument("--public-url", type=_http_url, help="base URL for the pixel and links")
    track.add_argument("--json", action="store_true")

    stats = sub.add_parser("stats", parents=[common], help="show a message's opens and clicks")
    stats.add_argument("message_id")
    stats.add_argument("--json", action="store_true")

    settings = sub.add_parser("settings", parents=[common], help="show or change a user's alerts")
    settings.add_argument("--user", required=True)
    settings.add_argument("--slack-webhook", metavar="URL")
    settings.add_argument("--slack-app-dm", type=_on_off, metavar="on|off")
    settings.add_argument("--chat-webhook", metavar="URL")
    settings.add_argument("--chat-app-dm", type=_on_off, metavar="on|off")
    settings.add_argument("--email-to", metavar="ADDR")
    settings.add_argument("--notify", choices=[n.value for n in Notify])
    settings.add_argument("--quiet-hours", metavar="START-END", help="such as 22-7, or off")
    settings.add_argument("--timezone", metavar="ZONE", help="such as Europe/Berlin")
    settings.add_argument("--strictness", choices=[s.value for s in Strictness])
    settings.add_argument("--mute", action="append", default=[], metavar="MESSAGE_ID")
    settings.add_argument("--unmute", action="append", default=[], metavar="MESSAGE_ID")
    settings.add_argument("--clear-problems", action="store_true", help="forget recorded failures")
    settings.add_argument("--json", action="store_true")

    deployment = sub.add_parser(
        "addon-deployment", help="write the Workspace add-on HTTP deployment descriptor"
    )
    deployment.add_argument("--base-url", required=True, help="https:// base of the endpoints")
    deployment.add_argument(
        "--output", default="deploy/addon-deployment.json", help="file to write, or - for stdout"
    )
    deployment.add_argument("--name", default="Mailbeacon")
    deployment.add_argument("--logo-url", default=None)
    accuracy = sub.add_parser(
        "accuracy", parents=[common], help="score the classifier on a labelled corpus"
    )
    accuracy.add_argument(
        "corpus", type=Path, nargs="*", help="JSON Lines corpora (default: both in tests/corpus)"
    )
    accuracy.add_argument("--strictness", choices=[s.value for s in Strictness])
    accuracy.add_argument("--json", action="store_true")

    catalogs = sub.add_parser("catalogs", help="manage the network catalogues")
    catalogs_sub = catalogs.add_subparsers(
        dest="catalogs_command", required=True, parser_class=Parser
    )
    refresh = catalogs_sub.add_parser(
        "refresh", parents=[common], help="download the published lists into the data dir"
    )
    refresh.add_argument("--url", action="append", default=[], metavar="NAME=URL")
    refresh.add_argument("--only", action="append", default=[], metavar="NAME")
    refresh.add_argument("--json", action="store_true")

    digest = sub.add_parser("digest", parents=[common], help="send a user's digest now")
    digest.add_argument("--user", required=True)
    digest.add_argument("--json", action="store_true")

    policy = sub.add_parser(
        "policy", parents=[common], help="show or change a Workspace domain's policy"
    )
    policy.add_argument("--domain", required=True)
    policy.add_argument("--tracking", type=_on_off, metavar="on|off")
    policy.add_argument("--track-internal", type=_on_off, metavar="on|off")
    policy.add_argument("--retention-days", type=_retention_days, metavar="N", help="days, or off")
    policy.add_argument(
        "--channels", type=_channels, metavar="LIST", help="allowed of slack,chat,email,browser"
    )
    disclosure = policy.add_mutually_exclusive_group()
    disclosure.add_argument("--disclosure", metavar="TEXT", help="a line sent with every pixel")
    disclosure.add_argument("--no-disclosure", action="store_true")
    policy.add_argument(
        "--admin", action="extend", nargs="+", metavar="EMAIL", help="the domain's admins (all)"
    )
    policy.add_argument("--audit", action="store_true", help="print the log of policy changes")
    policy.add_argument("--json", action="store_true")

    export = sub.add_parser("export", parents=[common], help="export all of a user's data")
    export.add_argument("--user", required=True)
    export.add_argument("--output", type=Path, metavar="FILE", help="default: standard output")

    delete = sub.add_parser("delete", parents=[common], help="delete all of a user's data")
    delete.add_argument("--user", required=True)
    delete.add_argument("--yes", action="store_true", help="confirm: there is no undo")
    delete.add_argument("--json", action="store_true")

    watch = sub.add_parser("gmail-watch", help="the sent-mail watch and Gmail labels")
    watch_sub = watch.add_subparsers(dest="watch_command", required=True, parser_class=Parser)
    renew = watch_sub.add_parser(
        "renew", parents=[common], help="start or renew the watches (daily); mark unsent drafts"
    )
    renew.add_argument("--user", action="append", default=[], help="only these (default: all)")
    renew.add_argument("--json", action="store_true")
    push = watch_sub.add_parser("push", parents=[common], help="handle one Gmail notification")
    push.add_argument("--data", required=True, help='{"emailAddress": .., "historyId": ..}')
    push.add_argument("--json", action="store_true")
    labels = watch_sub.add_parser(
        "labels", parents=[common], help="a user's opt-in to Mailbeacon/Opened labels"
    )
    labels.add_argument("--user", required=True)
    labels.add_argument("state", type=_on_off, metavar="on|off")
    labels.add_argument("--json", action="store_true")

    dead = sub.add_parser("deadletters", help="messages a consumer gave up on: list or replay")
    dead_sub = dead.add_subparsers(dest="deadletters_command", required=True, parser_class=Parser)
    for name, what in (("list", "show them"), ("replay", "deliver them again")):
        verb = dead_sub.add_parser(name, parents=[common], help=what)
        verb.add_argument("--topic", choices=("hits", "notify", "digest"), help="default: all")
        verb.add_argument("--limit", type=int, default=100, help="per topic (default 100)")
        verb.add_argument("--json", action="store_true")

    deploy = sub.add_parser("deploy", help="deploy to Google Cloud (Functions, Firestore, Pub/Sub)")
    deploy.add_argument("--project", required=True, help="Google Cloud project id")
    deploy.add_argument("--region", required=True, help="such as europe-west1")
    mode = deploy.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the gcloud commands only")
    mode.add_argument(
        "--check", action="store_true", help="read the project and list what would block the plan"
    )
    mode.add_argument(
        "--rehearse",
        action="store_true",
        help="run the planned deployment on this machine (emulators) and walk the user journey",
    )
    deploy.add_argument("--public-url", type=_http_url, help="a custom domain for pixel and links")
    deploy.add_argument(
        "--retention-days", type=int, help="default MAILBEACON_RETENTION_DAYS or 180"
    )
    deploy.add_argument(
        "--source-dir", type=Path, default=Path("build/functions-source"), help="assembled here"
    )
    return parser
