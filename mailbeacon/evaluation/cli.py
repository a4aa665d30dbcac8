"""`mailbeacon accuracy [CORPUS...]`: replay labelled corpora and report how the classifier did.

`accuracy_reports` returns the figures (the CLI, tests and anyone scripting use it);
`run_accuracy` only prints them. With no corpus named, both shipped corpora are scored: the
one written with the rules and the one built only from public evidence.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..catalogs.loader import CatalogTagger
from ..config import Config
from ..errors import InvalidInput
from ..model import Strictness
from .corpus import load_corpus, replay
from .metrics import Report, render, score

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "tests" / "corpus"
SHIPPED = ("hits.jsonl", "public.jsonl")


def shipped_corpora() -> list[Path]:
    """The corpora that come with the source tree."""
    paths = [SHIPPED_DIR / name for name in SHIPPED]
    if not all(p.is_file() for p in paths):
        raise InvalidInput(f"no corpus given and the shipped corpora are not in {SHIPPED_DIR}")
    return paths


def accuracy_reports(
    config: Config, corpora: Sequence[Path] = (), *, strictness: str | None = None
) -> dict[str, Report]:
    """Each corpus replayed and scored, by its path as given (default: the shipped ones, by
    file name)."""
    level = Strictness(strictness) if strictness else None
    tagger = CatalogTagger(config.data_dir / "catalogs")
    reports = {}
    named = {str(p): p for p in corpora} or {p.name: p for p in shipped_corpora()}
    for name, path in named.items():
        outcomes = replay(load_corpus(path), tagger, strictness=level)
        reports[name] = score(outcomes, level.value if level else None)
    return reports


def run_accuracy(
    config: Config,
    corpora: Sequence[Path] | Path = (),
    *,
    strictness: str | None = None,
    as_json: bool = False,
) -> int:
    """Print the report(s); exit 0 (the figures are the answer, not a pass or fail).

    One corpus keeps the contract's shape (its figures at the top level of ``--json``);
    several are printed one after the other, or as ``{"corpora": {PATH: figures}}``.
    """
    paths = [corpora] if isinstance(corpora, Path) else list(corpora)
    reports = accuracy_reports(config, paths, strictness=strictness)
    if as_json:
        figures = {name: report.to_dict() for name, report in reports.items()}
        one = len(figures) == 1 and paths
        print(json.dumps(next(iter(figures.values())) if one else {"corpora": figures}, indent=2))
    elif len(reports) == 1 and paths:
        print(render(next(iter(reports.values()))))
    else:
        print("\n\n".join(f"== {name}\n{render(r)}" for name, r in reports.items()))
    return 0
