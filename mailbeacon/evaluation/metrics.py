"""Score a replayed corpus: accuracy, person-versus-machine accuracy, per-verdict precision and
recall, the confusion matrix, and the two promises that matter most (Gmail proxy opens are
never machine; catalogued scanner networks inside their window are never human).

The ``--json`` keys are a public contract (tests/corpus/README.md): keys are only ever added."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..catalogs import source
from ..classify.policy import policy_for
from .corpus import VERDICTS, Outcome

MACHINE = ("prefetch", "scanner", "bot")


@dataclass(frozen=True)
class Report:
    """The figures `mailbeacon accuracy` prints."""

    total: int
    correct: int
    per_verdict: dict[str, dict[str, float | int]]
    confusion: dict[str, dict[str, int]]
    gmail_proxy_opens: int
    gmail_proxy_opens_called_machine: list[str]
    scanner_network_hits: int
    scanner_network_hits_called_human: list[str]
    client_correct: int
    client_labelled: int
    errors: list[dict[str, Any]]
    person_correct: int = 0
    strictness: str | None = None

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def person_vs_machine(self) -> float:
        """A person called a person, anything else (self included) called not a person."""
        return self.person_correct / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "correct": self.correct,
            "accuracy": round(self.accuracy, 4),
            "person_vs_machine": round(self.person_vs_machine, 4),
            "person_vs_machine_correct": self.person_correct,
            "strictness": self.strictness,
            "per_verdict": self.per_verdict,
            "confusion": self.confusion,
            "gmail_proxy_opens": self.gmail_proxy_opens,
            "gmail_proxy_opens_called_machine": self.gmail_proxy_opens_called_machine,
            "scanner_network_hits_in_window": self.scanner_network_hits,
            "scanner_network_hits_called_human": self.scanner_network_hits_called_human,
            "client_accuracy": round(self.client_correct / self.client_labelled, 4)
            if self.client_labelled
            else None,
            "errors": self.errors,
        }


def _in_scanner_window(outcome: Outcome, strictness: str | None) -> bool:
    """A hit from a catalogued scanner network that speaks for its kind of hit, inside the
    probable window of the strictness it was replayed under (a certain network: any time)."""
    window = policy_for(strictness or outcome.case.strictness or "balanced").probable_window
    for tag in outcome.network_tags:
        catalog = source(tag)
        if catalog is None or catalog.role != "scanner":
            continue
        if catalog.scope not in ("all", f"{outcome.case.kind}s"):
            continue  # a clicks-only catalogue does not speak for a pixel fetch
        if catalog.certainty == "certain" or outcome.case.t < window:
            return True
    return False


def score(outcomes: Sequence[Outcome], strictness: str | None = None) -> Report:
    """The figures for a replay; ``strictness`` is the level it was forced to, if any."""
    confusion = {e: dict.fromkeys(VERDICTS, 0) for e in VERDICTS}
    for o in outcomes:
        confusion[o.case.expect][o.verdict] += 1
    per_verdict: dict[str, dict[str, float | int]] = {}
    for v in VERDICTS:
        tp = confusion[v][v]
        predicted = sum(confusion[e][v] for e in VERDICTS)
        actual = sum(confusion[v].values())
        per_verdict[v] = {
            "support": actual,
            "precision": round(tp / predicted, 4) if predicted else 1.0,
            "recall": round(tp / actual, 4) if actual else 1.0,
        }
    gmail = [
        o
        for o in outcomes
        if o.case.kind == "open"
        and "googleimageproxy" in o.case.headers.get("User-Agent", "").lower()
    ]
    scanner_hits = [o for o in outcomes if _in_scanner_window(o, strictness)]
    labelled = [o for o in outcomes if o.case.client]
    return Report(
        total=len(outcomes),
        correct=sum(o.correct for o in outcomes),
        per_verdict=per_verdict,
        confusion=confusion,
        gmail_proxy_opens=len(gmail),
        gmail_proxy_opens_called_machine=[o.case.id for o in gmail if o.verdict in MACHINE],
        scanner_network_hits=len(scanner_hits),
        scanner_network_hits_called_human=[o.case.id for o in scanner_hits if o.verdict == "human"],
        client_correct=sum(o.client == o.case.client for o in labelled),
        person_correct=sum((o.verdict == "human") == (o.case.expect == "human") for o in outcomes),
        strictness=strictness,
        client_labelled=len(labelled),
        errors=[
            {
                "id": o.case.id,
                "expect": o.case.expect,
                "got": o.verdict,
                "reasons": list(o.reasons),
                "source": o.case.source,
            }
            for o in outcomes
            if not o.correct
        ],
    )


def render(report: Report) -> str:
    """The human-readable report."""
    lines = [
        f"accuracy: {report.accuracy:.2%} ({report.correct}/{report.total})",
        f"person vs machine: {report.person_vs_machine:.2%}"
        f" ({report.person_correct}/{report.total})",
        "",
        f"{'verdict':<10}{'support':>8}{'precision':>11}{'recall':>8}",
    ]
    for v, m in report.per_verdict.items():
        lines.append(f"{v:<10}{m['support']:>8}{m['precision']:>11.2%}{m['recall']:>8.2%}")
    lines += [
        "",
        "confusion (rows: expected, columns: got)",
        " " * 10 + "".join(f"{v:>9}" for v in VERDICTS),
    ]
    for e, row in report.confusion.items():
        lines.append(f"{e:<10}" + "".join(f"{row[v]:>9}" for v in VERDICTS))
    lines += [
        "",
        f"gmail proxy opens called machine: {len(report.gmail_proxy_opens_called_machine)}"
        f" of {report.gmail_proxy_opens}",
        f"catalogued scanner-network hits in window called human:"
        f" {len(report.scanner_network_hits_called_human)} of {report.scanner_network_hits}",
    ]
    if report.client_labelled:
        lines.append(
            f"client label accuracy: {report.client_correct / report.client_labelled:.2%}"
            f" ({report.client_correct}/{report.client_labelled})"
        )
    for err in report.errors:
        lines.append(
            f"  miss {err['id']}: expected {err['expect']}, got {err['got']}"
            f" ({', '.join(err['reasons'])})"
        )
    return "\n".join(lines)
