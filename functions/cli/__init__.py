"""The `mailbeacon` command: parse, read the configuration once, run one command.

Each command is a thin function over the use cases. Bad input is one line on stderr and exit
status 2, an unknown message exit status 1; a refused command writes nothing. ``main`` changes
nothing process-wide, so a caller in the same process (the tests) runs a command with its own
environment; ``run``, the `mailbeacon` process, also sets up logging.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence

from mailbeacon.errors import InvalidInput, MailbeaconError, UnknownMessage
from mailbeacon.json_input import valid_text
from mailbeacon.log_limits import install_log_limits
from mailbeacon.redact import install_log_redaction

from . import (
    deadletters,
    gmail_watch,
    listing,
    operate,
    policy,
    privacy,
    quality,
    remind,
    settings,
    track,
)
from .parser import UsageError, build_parser

EXIT_FAILURE = 1
EXIT_USAGE = 2

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": operate.cmd_serve,
    "track": track.cmd_track,
    "stats": track.cmd_stats,
    "list": listing.cmd_list,
    "settings": settings.cmd_settings,
    "addon-deployment": operate.cmd_addon_deployment,
    "accuracy": quality.cmd_accuracy,
    "catalogs": quality.cmd_catalogs,
    "digest": operate.cmd_digest,
    "deploy": operate.cmd_deploy,
    "policy": policy.cmd_policy,
    "export": privacy.cmd_export,
    "delete": privacy.cmd_delete,
    "gmail-watch": gmail_watch.cmd_gmail_watch,
    "remind": remind.cmd_remind,
    "deadletters": deadletters.cmd_deadletters,
}


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run one command line; ``env`` is the environment it reads (default: this process's)."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    for n, arg in enumerate(argv, start=1):
        if not valid_text(arg):  # bytes that are not UTF-8 arrive as lone surrogates
            print(f"mailbeacon: argument {n} is not valid UTF-8 text", file=sys.stderr)
            return EXIT_USAGE
    try:
        args = parser.parse_args(argv)
        args.env = os.environ if env is None else env
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
    except OSError as exc:  # an unwritable or misplaced data dir, a full disk
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"mailbeacon: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_USAGE


def run() -> None:
    """The `mailbeacon` process: log lines as an operator reads them, secrets redacted."""
    argv = sys.argv[1:]
    logging.basicConfig(
        level=logging.INFO if argv[:1] == ["serve"] else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    install_log_redaction()
    install_log_limits()
    sys.exit(main(argv))
