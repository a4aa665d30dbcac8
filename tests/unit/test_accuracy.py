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


PUBLIC = CORPUS.with_name("public.jsonl")


def test_the_public_corpus_is_separate_and_every_case_cites_its_evidence() -> None:
    lines = [json.loads(line) for line in PUBLIC.read_text().splitlines() if line.strip()]
    assert len(lines) >= 40
    for case in lines:
        evidence = case["evidence"]
        assert case["source"] and all(evidence[k] for k in ("user_agent", "network", "timing"))
    public_ids = {c["id"] for c in lines}
    assert len(public_ids) == len(lines)
    assert not public_ids & {c.id for c in load_corpus(CORPUS)}
    assert set(Counter(c.expect for c in load_corpus(PUBLIC))) >= {"human", "prefetch", "scanner"}


@pytest.mark.parametrize(
    "level", [None, Strictness.LENIENT, Strictness.BALANCED, Strictness.STRICT]
)
def test_the_promises_hold_on_both_corpora_at_every_level(level) -> None:
    for path in (CORPUS, PUBLIC):
        outcomes = replay(load_corpus(path), CatalogTagger(None), strictness=level)
        report = score(outcomes, level.value if level else None)
        assert report.gmail_proxy_opens_called_machine == [], (path.name, level)
        assert report.scanner_network_hits_called_human == [], (path.name, level)


def test_the_public_corpus_meets_the_issue_targets_when_balanced() -> None:
    report = score(replay(load_corpus(PUBLIC), CatalogTagger(None)))
    assert report.person_vs_machine >= 0.97, report.errors
    assert report.accuracy >= 0.90, report.errors


def test_accuracy_without_a_corpus_reports_both_with_person_vs_machine(tmp_path: Path) -> None:
    result = run_cli("accuracy", "--json", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    corpora = json.loads(result.stdout)["corpora"]
    assert set(corpora) == {"hits.jsonl", "public.jsonl"}
    for figures in corpora.values():
        assert 0.9 <= figures["person_vs_machine"] <= 1
        contract = {"total", "correct", "accuracy", "per_verdict", "confusion", "errors"}
        assert contract | {"gmail_proxy_opens_called_machine"} <= set(figures)
        assert "scanner_network_hits_called_human" in figures
    text = run_cli("accuracy", data_dir=tmp_path).stdout
    assert "== hits.jsonl" in text and "== public.jsonl" in text and "person vs machine" in text


def test_person_vs_machine_counts_self_and_machines_as_not_a_person(tmp_path: Path) -> None:
    corpus = tmp_path / "tiny.jsonl"
    gmail = (
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
    )
    rows = [  # a proxy fetch 3 s after sending, labelled prefetch, comes out self: wrong verdict,
        # right side of the person/machine line; the reader an hour later is a person
        {
            "request": "GET /p/x.gif HTTP/1.1",
            "headers": {"User-Agent": gmail},
            "t": 3,
            "expect": "prefetch",
            "message": "a",
        },
        {
            "request": "GET /p/x.gif HTTP/1.1",
            "headers": {"User-Agent": gmail},
            "t": 3600,
            "expect": "human",
            "message": "b",
        },
    ]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = json.loads(run_cli("accuracy", str(corpus), "--json", data_dir=tmp_path).stdout)
    assert (data["accuracy"], data["person_vs_machine"]) == (0.5, 1.0)
