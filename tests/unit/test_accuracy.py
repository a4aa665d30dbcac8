"""The labelled corpus, replayed through the edge's Hit building and the real pipeline."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from mailbeacon.catalogs.loader import CatalogTagger
from mailbeacon.errors import InvalidInput
from mailbeacon.evaluation.corpus import load_corpus, replay
from mailbeacon.evaluation.metrics import score
from mailbeacon.model import Strictness
from tests.support.processes import run_cli

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "hits.jsonl"


@pytest.fixture(scope="module")
def report():
    return score(replay(load_corpus(CORPUS), CatalogTagger(None)))


def test_the_corpus_is_big_varied_and_sourced() -> None:
    cases = load_corpus(CORPUS)
    assert len(cases) >= 150
    assert set(Counter(c.expect for c in cases)) == {"human", "self", "prefetch", "scanner", "bot"}
    assert all(c.source for c in cases)
    assert len({c.id for c in cases}) == len(cases)


def test_the_classifier_meets_the_issue_goals(report) -> None:
    assert report.accuracy >= 0.97, report.errors
    assert report.gmail_proxy_opens >= 20 and report.gmail_proxy_opens_called_machine == []
    assert report.scanner_network_hits >= 20 and report.scanner_network_hits_called_human == []
    for verdict, figures in report.per_verdict.items():
        assert figures["recall"] >= 0.9, verdict
    assert report.client_correct == report.client_labelled


def test_strictness_changes_outcomes_on_the_corpus() -> None:
    cases = load_corpus(CORPUS)
    lenient = score(replay(cases, CatalogTagger(None), strictness=Strictness.LENIENT))
    strict = score(replay(cases, CatalogTagger(None), strictness=Strictness.STRICT))
    # lenient lets the fast reader through but misses delivery-time scans; strict the reverse
    assert lenient.confusion["scanner"]["human"] > 0
    assert strict.confusion["human"]["scanner"] > lenient.confusion["human"]["scanner"]


def test_accuracy_command_prints_the_report(tmp_path: Path) -> None:
    text = run_cli("accuracy", str(CORPUS), data_dir=tmp_path)
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("accuracy: ")
    assert "confusion (rows: expected, columns: got)" in text.stdout
    data = json.loads(run_cli("accuracy", str(CORPUS), "--json", data_dir=tmp_path).stdout)
    assert data["total"] >= 150 and data["accuracy"] >= 0.97
    assert set(data["per_verdict"]["human"]) == {"support", "precision", "recall"}
    assert data["confusion"]["scanner"]["scanner"] > 0


def test_a_bad_corpus_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"request": "GET /p/x.gif", "t": 1, "expect": "human"}\n{oops\n')
    with pytest.raises(InvalidInput, match=r"bad\.jsonl:2"):
        load_corpus(bad)
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text('{"request": "GET /p/x.gif", "t": 1, "expect": "maybe"}\n')
    result = run_cli("accuracy", str(wrong), data_dir=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "expect must be one of" in result.stderr
    missing = run_cli("accuracy", str(tmp_path / "none.jsonl"), data_dir=tmp_path)
    assert missing.returncode == 2 and "cannot read corpus" in missing.stderr
