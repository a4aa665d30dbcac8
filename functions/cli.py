"""The `mailbeacon` command. Bad input: one line on stderr, a non-zero exit, nothing written."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from mailbeacon.clock import parse_time
from mailbeacon.config import DEFAULT_PORT, Config
from mailbeacon.errors import InvalidInput, MailbeaconError, UnknownMessage
from mailbeacon.model import Notify, QuietHours, Settings, Strictness

EXIT_FAILURE = 1
EXIT_USAGE = 2


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (no usage dump) and never exit from inside parsing."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _http_url(value: str) -> str:
    if value == "":
        return value  # an empty value clears the setting
    from mailbeacon.services import check_link

    try:
        return check_link(value)
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _quiet_hours(value: str) -> str:
    if value in ("", "off"):
        return ""
    try:
        start, end = (int(part) for part in value.split("-"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected START-END hours such as 22-7, got {value!r}"
        ) from exc
    if not (0 <= start <= 23 and 0 <= end <= 23) or start == end:
        raise argparse.ArgumentTypeError(f"quiet hours must be two different hours 0-23: {value!r}")
    return value


def _timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"unknown time zone {value!r}") from exc
    return value


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


def _positive_port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {value}")
    return port


def build_parser() -> Parser:
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
    settings.add_argument("--slack-webhook", type=_http_url, metavar="URL")
    settings.add_argument("--slack-app-dm", type=_on_off, metavar="on|off")
    settings.add_argument("--chat-webhook", type=_http_url, metavar="URL")
    settings.add_argument("--chat-app-dm", type=_on_off, metavar="on|off")
    settings.add_argument("--email-to", metavar="ADDR")
    settings.add_argument("--notify", choices=[n.value for n in Notify])
    settings.add_argument("--quiet-hours", type=_quiet_hours, metavar="START-END")
    settings.add_argument("--timezone", type=_timezone)
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
    accuracy.add_argument("corpus", type=Path, help="JSON Lines corpus (see tests/corpus)")
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

    deploy = sub.add_parser("deploy", help="deploy to Google Cloud (Functions, Firestore, Pub/Sub)")
    deploy.add_argument("--project", required=True, help="Google Cloud project id")
    deploy.add_argument("--region", required=True, help="such as europe-west1")
    deploy.add_argument("--dry-run", action="store_true", help="print the gcloud commands only")
    deploy.add_argument(
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


def _config(args: argparse.Namespace) -> Config:
    return Config.from_env(
        data_dir=args.data_dir,
        public_url=getattr(args, "public_url", None),
        trust_proxy=getattr(args, "trust_proxy", None),
        insecure_dev_auth=getattr(args, "insecure_dev_auth", None) or None,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import serve

    return serve(_config(args), host=args.host, port=args.port)


def cmd_track(args: argparse.Namespace) -> int:
    from mailbeacon.bootstrap import bootstrap
    from mailbeacon.services import track_message

    app = bootstrap(_config(args))
    tracked = track_message(
        app.store,
        app.urls,
        app.clock,
        sender=args.sender,
        recipients=args.to,
        subject=args.subject,
        links=args.link,
        sent_at=args.sent_at,
    )
    data = tracked.to_public()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(f"Tracking message {data['message_id']}")
        print(f"  pixel: {data['pixel_url']}")
        for link in data["links"]:
            print(f"  link:  {link['url']} -> {link['tracked_url']}")
        print("Paste this HTML at the end of the email:")
        print(data["html"])
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from mailbeacon.bootstrap import bootstrap
    from mailbeacon.bus import HITS
    from mailbeacon.services import get_stats

    app = bootstrap(_config(args))
    drain = getattr(app.bus, "drain", None)
    if drain is not None:
        drain([HITS], include_leased=True)  # hits the server answered but has not processed yet
    data = get_stats(app.store, args.message_id)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    opens, clicks = data["opens"], data["clicks"]
    print(f"{data['subject'] or '(no subject)'} [{data['message_id']}]: {data['status']}")
    print(
        f"  opens: {opens['human']} human ({opens['unique_human']} unique),"
        f" {opens['machine']} machine"
    )
    print(f"  clicks: {clicks['human']} human, {clicks['machine']} machine")
    machine = data.get("machine", {})
    if machine.get("by_verdict"):
        kinds = ", ".join(f"{n} {verdict}" for verdict, n in machine["by_verdict"].items())
        reasons = ", ".join(f"{reason} {n}" for reason, n in machine["by_reason"].items())
        print(f"  machine hits: {kinds} ({reasons})")
    for event in data["events"]:
        reasons = ", ".join(event["reasons"])
        url = f" {event['url']}" if event["url"] else ""
        print(
            f"  {event['at']} {event['kind']:<5} {event['verdict']:<8} {event['client']:<10}"
            f"{url} ({reasons})"
        )
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    from mailbeacon.bootstrap import bootstrap
    from mailbeacon.services import check_email

    user = check_email(args.user)
    email_to = check_email(args.email_to) if args.email_to else args.email_to
    app = bootstrap(_config(args))
    current = app.store.get_settings(user)
    changes: dict[str, Any] = {}
    for name in ("slack_webhook", "chat_webhook", "email_to"):
        value = email_to if name == "email_to" else getattr(args, name)
        if value is not None:
            changes[name] = value or None
    for name in ("slack_app_dm", "chat_app_dm", "timezone"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.notify:
        changes["notify"] = Notify(args.notify)
    if args.strictness:
        changes["strictness"] = Strictness(args.strictness)
    if args.quiet_hours is not None:
        start_end = args.quiet_hours.split("-") if args.quiet_hours else None
        changes["quiet_hours"] = QuietHours(*map(int, start_end)) if start_end else None
    if args.clear_problems:
        changes["problems"] = ()
    if args.mute or args.unmute:
        muted = [m for m in (*current.muted, *args.mute) if m not in args.unmute]
        changes["muted"] = tuple(dict.fromkeys(muted))
    updated: Settings = replace(current, **changes)
    if changes:
        app.store.put_settings(updated)
        from notifier.digest import register_digest_user

        register_digest_user(app.store, user)
    data = updated.to_dict()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            print(f"{key}: {value}")
    return 0


def cmd_addon_deployment(args: argparse.Namespace) -> int:
    from addon.deployment import DEFAULT_LOGO, write_deployment

    path = None if args.output == "-" else Path(args.output)
    text = write_deployment(
        path, args.base_url, name=args.name, logo_url=args.logo_url or DEFAULT_LOGO
    )
    if path is None:
        print(text, end="")
    else:
        print(
            f"wrote {path}; next: gcloud workspace-add-ons deployments create mailbeacon"
            f" --deployment-file={path}"
        )
    return 0


def cmd_accuracy(args: argparse.Namespace) -> int:
    from mailbeacon.evaluation.cli import run_accuracy

    return run_accuracy(_config(args), args.corpus, strictness=args.strictness, as_json=args.json)


def cmd_catalogs(args: argparse.Namespace) -> int:
    from mailbeacon.catalogs.command import run_refresh

    return run_refresh(_config(args), urls=args.url, only=args.only, as_json=args.json)


def cmd_digest(args: argparse.Namespace) -> int:
    from notifier.cli import send_digest_now

    return send_digest_now(_config(args), args.user, as_json=args.json)


def cmd_deploy(args: argparse.Namespace) -> int:
    from .deploy import DeployConfig, deploy

    config = DeployConfig.from_env(
        args.project,
        args.region,
        public_url=args.public_url,
        retention_days=args.retention_days,
    )
    if args.rehearse:
        from .rehearse import rehearse

        return rehearse(config, source_dir=args.source_dir)
    return deploy(config, source_dir=args.source_dir, dry_run=args.dry_run)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": cmd_serve,
    "track": cmd_track,
    "stats": cmd_stats,
    "settings": cmd_settings,
    "addon-deployment": cmd_addon_deployment,
    "accuracy": cmd_accuracy,
    "catalogs": cmd_catalogs,
    "digest": cmd_digest,
    "deploy": cmd_deploy,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        logging.basicConfig(
            level=logging.INFO if args.command == "serve" else logging.WARNING,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except InvalidInput as exc:
        print(f"mailbeacon: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except UnknownMessage as exc:
        print(f"mailbeacon: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except MailbeaconError as exc:
        print(f"mailbeacon: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
