"""Classification quality: `mailbeacon accuracy` and `mailbeacon catalogs refresh`."""

from __future__ import annotations

import argparse
import json
import sys

from mailbeacon.catalogs import BY_NAME
from mailbeacon.catalogs.refresh import refresh, url_overrides
from mailbeacon.errors import InvalidInput
from mailbeacon.evaluation.metrics import render
from mailbeacon.evaluation.runs import accuracy_reports, reports_json

from .common import config_of


def cmd_accuracy(args: argparse.Namespace) -> int:
    """Print the report(s); exit 0 (the figures are the answer, not a pass or fail)."""
    catalogs = config_of(args).core.data_dir / "catalogs"
    reports = accuracy_reports(catalogs, args.corpus, strictness=args.strictness)
    single = len(args.corpus) == 1
    if args.json:
        print(json.dumps(reports_json(reports, single), indent=2))
    elif single:
        print(render(next(iter(reports.values()))))
    else:
        print("\n\n".join(f"== {name}\n{render(r)}" for name, r in reports.items()))
    return 0


def cmd_catalogs(args: argparse.Namespace) -> int:
    """Refresh and report each catalogue; exit 1 if any download failed (the old list stays)."""
    overrides = url_overrides(args.url)
    unknown = [name for name in args.only if name not in BY_NAME]
    if unknown:
        raise InvalidInput(f"unknown catalogue {unknown[0]!r}; known: {', '.join(BY_NAME)}")

    def told(step: int, steps: int, name: str) -> None:
        print(f"[{step}/{steps}] {name} ...", file=sys.stderr, flush=True)

    target = config_of(args).core.data_dir / "catalogs"
    results = refresh(target, urls=overrides, only=args.only, progress=told)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        for r in results:
            status = (
                f"{r.networks} networks" if r.ok and r.networks else "kept" if r.ok else "FAILED"
            )
            print(f"{r.name:<20} {status:<16} {r.detail}")
    return 0 if all(r.ok for r in results) else 1
