"""Score labelled corpora: the figures `mailbeacon accuracy` prints, as data.

With no corpus named, both shipped corpora are scored: the one written with the rules
(`hits.jsonl`) and the one built only from public evidence (`public.jsonl`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..catalogs.loader import CatalogTagger
from ..errors import InvalidInput
from ..model import Strictness
from .corpus import load_corpus, replay
from .metrics import Report, score

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "tests" / "corpus"
SHIPPED = ("hits.jsonl", "public.jsonl")


def shipped_corpora() -> list[Path]:
    """The corpora that come with the source tree."""
    paths = [SHIPPED_DIR / name for name in SHIPPED]
    if not all(p.is_file() for p in paths):
        raise InvalidInput(f"no corpus given and the shipped corpora are not in {SHIPPED_DIR}")
    return paths


def accuracy_reports(
    catalog_dir: Path | None, corpora: Sequence[Path] = (), *, strictness: str | None = None
) -> dict[str, Report]:
    """Each corpus replayed and scored, keyed by its path as given (default: the shipped
    ones, by file name). ``catalog_dir`` holds refreshed catalogues (None: the shipped ones)."""
    level = Strictness(strictness) if strictness else None
    tagger = CatalogTagger(catalog_dir)
    named = {str(p): p for p in corpora} or {p.name: p for p in shipped_corpora()}
    reports = {}
    for name, path in named.items():
        outcomes = replay(load_corpus(path), tagger, strictness=level)
        reports[name] = score(outcomes, level.value if level else None)
    return reports


def reports_json(reports: dict[str, Report], single: bool) -> dict:
    """The ``--json`` document: one corpus keeps the contract's shape (its figures at the top
    level); several sit under ``corpora`` by name."""
    figures = {name: report.to_dict() for name, report in reports.items()}
    return next(iter(figures.values())) if single and len(figures) == 1 else {"corpora": figures}
