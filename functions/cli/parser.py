"""The command line's grammar: every command, flag and argument type, and nothing else."""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from mailbeacon.clock import time_from_input
from mailbeacon.config import DEFAULT_PORT
from mailbeacon.errors import InvalidInput
from mailbeacon.model import Notify, Strictness
from mailbeacon.rollup import STATUS_ORDER


class UsageError(Exception):
    """A command line that does not parse: one line on stderr, exit 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (no usage dump), with a suggestion for a typo, and
    never exit from inside parsing."""

    argv: Sequence[str] = ()

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        Parser.argv = list(sys.argv[1:] if args is None else args)  # for the subcommands' errors
        return super().parse_args(Parser.argv, namespace)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}{suggestion(self, message)}")


def _flags(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """The flags of the command ``argv`` names (a subcommand's, and its subcommand's)."""
    flags = [f for action in parser._actions for f in action.option_strings]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = next((a for a in argv if a in action.choices), None)
            if chosen is not None:
                flags += _flags(action.choices[chosen], argv)
    return flags


def suggestion(parser: argparse.ArgumentParser, message: str) -> str:
    """ "; did you mean ...?" for a mistyped command, choice or flag ("" when nothing is close)."""
    choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if choice:
        options = re.findall(r"'([^']*)'", choice.group(2)) or choice.group(2).split(", ")
        close = difflib.get_close_matches(choice.group(1), options, n=1, cutoff=0.5)
        return f"; did you mean {close[0]!r}?" if close else ""
    flags = set(_flags(parser, Parser.argv))
    for token in Parser.argv:  # the first flag this command does not know, by its name
        name = token.partition("=")[0]
        if name.startswith("--") and name not in flags:
            close = difflib.get_close_matches(name, sorted(flags), n=1, cutoff=0.6)
            return f"; did you mean {close[0]}?" if close else ""
    return ""


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
        return time_from_input(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 time, got {value!r}") from exc


def _day_count(value: str, most: int) -> int:
    try:
        days = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {value!r}") from None
    if not 1 <= days <= most:
        raise argparse.ArgumentTypeError(f"expected 1 to {most} days, got {days}")
    return days


def _days(value: str) -> int:
    from mailbeacon.reminders import MAX_DAYS

    return _day_count(value, MAX_DAYS)


def _retention_days(value: str) -> int:
    """Days from 1 to 36500, or off (0): the server's retention alone."""
    from mailbeacon.policy import MAX_RETENTION_DAYS

    if value.lower() in ("off", "default", "none"):
        return 0
    return _day_count(value, MAX_RETENTION_DAYS)


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


def _version() -> str:
    from mailbeacon import __version__

    return f"mailbeacon {__version__}"


def build_parser() -> Parser:
    """Every command and flag, each with its help; the commands live beside this module."""
    parser = Parser(prog="mailbeacon", description="Honest email open and click tracking.")
    parser.add_argument("--version", action="version", version=_version(), help="print the version")
    common = Parser(add_help=False)
    common.add_argument(
        "--data-dir", type=Path, help="where the embedded store lives (MAILBEACON_DATA_DIR)"
    )
    sub = parser.add_subparsers(
        dest="command", required=True, parser_class=Parser, metavar="COMMAND"
    )
    _serve(sub, common)
    _track(sub, common)
    _read(sub, common)
    _settings(sub, common)
    _admin(sub, common)
    _operate(sub, common)
    return parser


def _serve(sub: Any, common: Parser) -> None:
    serve = sub.add_parser("serve", parents=[common], help="run every endpoint and the notifier")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument(
        "--port",
        type=_positive_port,
        default=DEFAULT_PORT,
        help=f"port ({DEFAULT_PORT}; 0: any free)",
    )
    serve.add_argument("--public-url", type=_http_url, help="base URL recipients reach")
    serve.add_argument(
        "--trust-proxy",
        type=int,
        default=None,
        metavar="N",
        help="take the client address from the N-th last X-Forwarded-For entry",
    )
    serve.add_argument(
        "--insecure-dev-auth",
        action="store_true",
        help="local sign-in on this computer only: the dashboard as any address, dev: tokens",
    )


def _track(sub: Any, common: Parser) -> None:
    track = sub.add_parser("track", parents=[common], help="register a tracked email")
    track.add_argument("--sender", required=True, help="your address (the email's owner)")
    track.add_argument(
        "--to",
        action="append",
        required=True,
        default=[],
        metavar="EMAIL",
        help="a recipient; repeat for each (--to a@x --to b@y)",
    )
    track.add_argument("--subject", default="", help="a label only you see")
    track.add_argument(
        "--link",
        action="append",
        default=[],
        metavar="URL",
        help="a link to track; repeat for each, in the order they appear in the email",
    )
    track.add_argument(
        "--sent-at", type=_iso_time, help="when the email was sent (ISO 8601; not in the future)"
    )
    track.add_argument("--public-url", type=_http_url, help="base URL for the pixel and links")
    track.add_argument("--json", action="store_true", help="print JSON")


def _read(sub: Any, common: Parser) -> None:
    stats = sub.add_parser("stats", parents=[common], help="show an email's opens and clicks")
    stats.add_argument("message_id", help="the id `track` and `list` print")
    stats.add_argument("--timezone", metavar="ZONE", help="show times in ZONE (default: saved)")
    stats.add_argument("--json", action="store_true", help="print JSON (times in UTC)")

    listing = sub.add_parser("list", parents=[common], help="list a user's tracked emails")
    listing.add_argument("--user", required=True, help="whose emails")
    listing.add_argument(
        "--status", choices=STATUS_ORDER, help="not opened yet (sent), or opened / clicked or more"
    )
    listing.add_argument("--search", metavar="TEXT", help="in subjects and recipients")
    listing.add_argument("--since", metavar="DATE", help="sent on or after (YYYY-MM-DD, your zone)")
    listing.add_argument("--until", metavar="DATE", help="sent on or before (YYYY-MM-DD)")
    listing.add_argument(
        "--sort", choices=("newest", "oldest", "activity"), default="newest", help="order"
    )
    listing.add_argument("--limit", type=int, default=50, help="rows (1-200, default 50)")
    listing.add_argument("--timezone", metavar="ZONE", help="show times in ZONE (default: saved)")
    listing.add_argument("--json", action="store_true", help="print JSON (the API's shape)")


def _settings(sub: Any, common: Parser) -> None:
    settings = sub.add_parser("settings", parents=[common], help="show or change a user's alerts")
    settings.add_argument("--user", required=True, help="whose settings")
    settings.add_argument(
        "--slack-webhook", metavar="URL", help="Slack incoming webhook ('' clears)"
    )
    settings.add_argument(
        "--slack-app-dm", type=_on_off, metavar="on|off", help="Slack DM from the Mailbeacon app"
    )
    settings.add_argument("--chat-webhook", metavar="URL", help="Google Chat webhook ('' clears)")
    settings.add_argument(
        "--chat-app-dm", type=_on_off, metavar="on|off", help="Chat DM from the Mailbeacon app"
    )
    settings.add_argument("--email-to", metavar="ADDR", help="email alerts to ('' clears)")
    settings.add_argument(
        "--notify", choices=[n.value for n in Notify], help="what to be told about"
    )
    settings.add_argument("--quiet-hours", metavar="START-END", help="such as 22-7, or off")
    settings.add_argument("--timezone", metavar="ZONE", help="such as Europe/Berlin")
    settings.add_argument(
        "--strictness", choices=[s.value for s in Strictness], help="accuracy: how strictly"
    )
    settings.add_argument(
        "--mute", action="append", default=[], metavar="MESSAGE_ID", help="no alerts for it"
    )
    settings.add_argument(
        "--unmute", action="append", default=[], metavar="MESSAGE_ID", help="alerts again"
    )
    settings.add_argument("--clear-problems", action="store_true", help="forget recorded failures")
    settings.add_argument("--reply-alerts", type=_on_off, metavar="on|off", help="'Ana replied'")
    settings.add_argument(
        "--remind-days", metavar="N|off", help="the compose card's default: 1, 2, 3 or 7 days"
    )
    settings.add_argument(
        "--webhook-url", metavar="URL", help="events out (Standard Webhooks); empty: none"
    )
    settings.add_argument(
        "--rotate-webhook-secret", action="store_true", help="a new whsec_ secret for the webhook"
    )
    settings.add_argument("--json", action="store_true", help="print JSON")

    remind = sub.add_parser(
        "remind", parents=[common], help="remind the sender if nobody replied by then"
    )
    remind.add_argument("message_id", help="the email's id (mailbeacon list shows it)")
    when = remind.add_mutually_exclusive_group(required=True)
    when.add_argument("--days", type=_days, metavar="N", help="days after the email was sent")
    when.add_argument(
        "--at", type=_iso_time, metavar="ISO", help="an ISO 8601 time (UTC if no zone)"
    )
    when.add_argument("--clear", action="store_true", help="remove the reminder")
    remind.add_argument("--json", action="store_true", help="print JSON")


def _admin(sub: Any, common: Parser) -> None:
    policy = sub.add_parser(
        "policy", parents=[common], help="show or change a Workspace domain's policy"
    )
    policy.add_argument("--domain", required=True, help="the Workspace domain, such as acme.com")
    policy.add_argument(
        "--tracking", type=_on_off, metavar="on|off", help="whether anyone in it may track"
    )
    policy.add_argument(
        "--track-internal",
        type=_on_off,
        metavar="on|off",
        help="track email whose recipients are all inside the domain",
    )
    policy.add_argument("--retention-days", type=_retention_days, metavar="N", help="days, or off")
    policy.add_argument(
        "--channels", type=_channels, metavar="LIST", help="allowed of slack,chat,email,browser"
    )
    disclosure = policy.add_mutually_exclusive_group()
    disclosure.add_argument("--disclosure", metavar="TEXT", help="a line sent with every pixel")
    disclosure.add_argument("--no-disclosure", action="store_true", help="send no such line")
    policy.add_argument(
        "--admin", action="extend", nargs="+", metavar="EMAIL", help="the domain's admins (all)"
    )
    policy.add_argument(
        "--webhook-url", metavar="URL", help="the domain's events endpoint (a CRM); empty: none"
    )
    policy.add_argument(
        "--user-webhooks", type=_on_off, metavar="on|off", help="people's own event webhooks"
    )
    policy.add_argument("--audit", action="store_true", help="print the log of policy changes")
    policy.add_argument("--json", action="store_true", help="print JSON")

    export = sub.add_parser("export", parents=[common], help="export all of a user's data")
    export.add_argument("--user", required=True, help="whose data")
    export.add_argument("--output", type=Path, metavar="FILE", help="default: standard output")

    delete = sub.add_parser(
        "delete", parents=[common], help="delete one email, or all of a user's data"
    )
    which = delete.add_mutually_exclusive_group(required=True)
    which.add_argument("--user", help="delete everything of this user's")
    which.add_argument("--message", metavar="MESSAGE_ID", help="delete this one email")
    delete.add_argument("--yes", action="store_true", help="confirm: there is no undo")
    delete.add_argument("--json", action="store_true", help="print JSON")


def _operate(sub: Any, common: Parser) -> None:
    deployment = sub.add_parser(
        "addon-deployment", help="write the Workspace add-on HTTP deployment descriptor"
    )
    deployment.add_argument("--base-url", required=True, help="https:// base of the endpoints")
    deployment.add_argument(
        "--output", default="deploy/addon-deployment.json", help="file to write, or - for stdout"
    )
    deployment.add_argument("--name", default="Mailbeacon", help="the add-on's name in Gmail")
    deployment.add_argument("--logo-url", default=None, help="https:// URL of its logo")
    accuracy = sub.add_parser(
        "accuracy", parents=[common], help="score the classifier on a labelled corpus"
    )
    accuracy.add_argument(
        "corpus", type=Path, nargs="*", help="JSON Lines corpora (default: both in tests/corpus)"
    )
    accuracy.add_argument(
        "--strictness", choices=[s.value for s in Strictness], help="score at this accuracy"
    )
    accuracy.add_argument("--json", action="store_true", help="print JSON")

    catalogs = sub.add_parser("catalogs", help="manage the network catalogues")
    catalogs_sub = catalogs.add_subparsers(
        dest="catalogs_command", required=True, parser_class=Parser
    )
    refresh = catalogs_sub.add_parser(
        "refresh", parents=[common], help="download the published lists into the data dir"
    )
    refresh.add_argument(
        "--url",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="download NAME from URL instead (NAME:minus=URL: the list taken out); repeatable",
    )
    refresh.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="only this one; repeatable"
    )
    refresh.add_argument("--json", action="store_true", help="print JSON")

    digest = sub.add_parser("digest", parents=[common], help="send a user's digest now")
    digest.add_argument("--user", required=True, help="whose digest")
    digest.add_argument("--json", action="store_true", help="print JSON")

    watch = sub.add_parser("gmail-watch", help="the sent-mail watch and Gmail labels")
    watch_sub = watch.add_subparsers(dest="watch_command", required=True, parser_class=Parser)
    renew = watch_sub.add_parser(
        "renew", parents=[common], help="start or renew the watches (daily); mark unsent drafts"
    )
    renew.add_argument("--user", action="append", default=[], help="only these (default: all)")
    renew.add_argument("--json", action="store_true", help="print JSON")
    push = watch_sub.add_parser("push", parents=[common], help="handle one Gmail notification")
    push.add_argument("--data", required=True, help='{"emailAddress": .., "historyId": ..}')
    push.add_argument("--json", action="store_true", help="print JSON")
    labels = watch_sub.add_parser(
        "labels", parents=[common], help="a user's opt-in to Mailbeacon/Opened labels"
    )
    labels.add_argument("--user", required=True, help="whose opt-in")
    labels.add_argument("state", type=_on_off, metavar="on|off", help="on or off")
    labels.add_argument("--json", action="store_true", help="print JSON")

    dead = sub.add_parser("deadletters", help="messages a consumer gave up on: list or replay")
    dead_sub = dead.add_subparsers(dest="deadletters_command", required=True, parser_class=Parser)
    for name, what in (("list", "show them"), ("replay", "deliver them again")):
        verb = dead_sub.add_parser(name, parents=[common], help=what)
        verb.add_argument("--topic", choices=("hits", "notify", "digest"), help="default: all")
        verb.add_argument("--limit", type=int, default=100, help="per topic (default 100)")
        verb.add_argument("--json", action="store_true", help="print JSON")

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
