"""`mailbeacon accuracy CORPUS`: replay a labelled corpus and print how the classifier did."""

from __future__ import annotations

import json
from pathlib import Path

from ..catalogs.loader import CatalogTagger
from ..config import Config
from ..model import Strictness
from .corpus import load_corpus, replay
from .metrics import render, score


def run_accuracy(
    config: Config, corpus: Path, *, strictness: str | None = None, as_json: bool = False
) -> int:
    """Print the report; exit 0 (the figures are the answer, not a pass or fail)."""
    cases = load_corpus(corpus)
    tagger = CatalogTagger(config.data_dir / "catalogs")
    outcomes = replay(cases, tagger, strictness=Strictness(strictness) if strictness else None)
    report = score(outcomes)
    print(json.dumps(report.to_dict(), indent=2) if as_json else render(report))
    return 0
