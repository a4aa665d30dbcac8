"""Classification quality: `mailbeacon accuracy` and `mailbeacon catalogs refresh`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from mailbeacon.catalogs import BY_NAME
from mailbeacon.catalogs.loader import CatalogTagger
from mailbeacon.catalogs.refresh import refresh
from mailbeacon.errors import InvalidInput
from mailbeacon.evaluation.corpus import load_corpus, replay
from mailbeacon.evaluation.metrics import render, score
from mailbeacon.model import Strictness

from .common import config_of


def cmd_accuracy(args: argparse.Namespace) -> int:
    """Print the report; exit 0 (the figures are the answer, not a pass or fail)."""
    config = config_of(args)
    cases = load_corpus(args.corpus)
    tagger = CatalogTagger(config.core.data_dir / "catalogs")
    strictness = Strictness(args.strictness) if args.strictness else None
    report = score(replay(cases, tagger, strictness=strictness))
    print(json.dumps(report.to_dict(), indent=2) if args.json else render(report))
    return 0


def _urls(pairs: Sequence[str]) -> dict[str, str]:
    urls = {}
    for pair in pairs:
        name, sep, url = pair.partition("=")
        if not sep or name not in BY_NAME or not url.startswith(("http://", "https://")):
            known = ", ".join(BY_NAME)
            raise InvalidInput(f"--url expects NAME=http(s)://..., NAME one of {known}: {pair!r}")
        urls[name] = url
    return urls


def cmd_catalogs(args: argparse.Namespace) -> int:
    """Refresh and report each catalogue; exit 1 if any download failed (the old list stays)."""
    overrides = _urls(args.url)
    unknown = [name for name in args.only if name not in BY_NAME]
    if unknown:
        raise InvalidInput(f"unknown catalogue {unknown[0]!r}; known: {', '.join(BY_NAME)}")
    results = refresh(config_of(args).core.data_dir / "catalogs", urls=overrides, only=args.only)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        for r in results:
            status = (
                f"{r.networks} networks" if r.ok and r.networks else "kept" if r.ok else "FAILED"
            )
            print(f"{r.name:<20} {status:<16} {r.detail}")
    return 0 if all(r.ok for r in results) else 1
