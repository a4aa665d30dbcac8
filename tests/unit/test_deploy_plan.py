"""`mailbeacon deploy --dry-run`: the exact gcloud script, in order, and the source folder."""

from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path

from tests.support.processes import run_cli

ROOT = Path(__file__).resolve().parents[2]


def _plan(tmp_path: Path, *extra: str) -> list[str]:
    result = run_cli(
        "deploy",
        "--project",
        "acme-mail-1",
        "--region",
        "europe-west1",
        "--dry-run",
        "--source-dir",
        str(tmp_path / "src"),
        *extra,
        data_dir=tmp_path / "data",
    )
    assert result.returncode == 0, result.stderr
    assert subprocess.run(["bash", "-n"], input=result.stdout, text=True).returncode == 0
    return [line for line in result.stdout.splitlines() if line and not line.startswith("#")]


def _first(lines: list[str], pattern: str) -> int:
    return next(i for i, line in enumerate(lines) if re.search(pattern, line))


def _entry_points() -> set[str]:
    tree = ast.parse((ROOT / "functions" / "main.py").read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any("functions_framework" in ast.unparse(d) for d in node.decorator_list)
    }


def test_the_plan_creates_everything_in_order(tmp_path: Path) -> None:
    lines = _plan(tmp_path)
    order = [
        r"^gcloud services enable .*firestore\.googleapis\.com",
        r"gcloud firestore databases create --database='\(default\)' --location=europe-west1",
        r"gcloud firestore indexes composite create .*--collection-group=events",
        r"gcloud firestore fields ttls update expires_at .*--collection-group=events --enable-ttl",
        r"gcloud pubsub topics create mailbeacon-hits --project=acme-mail-1$",
        r"gcloud pubsub topics create mailbeacon-hits-dead",
        r"gcloud secrets create mailbeacon-secret .*--data-file=-",
        r"^gcloud functions deploy pixel ",
        r"gcloud pubsub subscriptions update mailbeacon-hits-process-hit .*--dead-letter-topic",
        r"gcloud scheduler jobs create pubsub mailbeacon-digest",
    ]
    positions = [_first(lines, pattern) for pattern in order]
    assert positions == sorted(positions)
    assert all("acme-mail-1" in line for line in lines if line.startswith("gcloud"))  # no default


def test_every_entry_point_is_deployed_as_gen2_from_the_assembled_source(tmp_path: Path) -> None:
    lines = _plan(tmp_path)
    deploys = {
        re.match(r"gcloud functions deploy (\w+) ", line).group(1): line  # type: ignore[union-attr]
        for line in lines
        if line.startswith("gcloud functions deploy ")
    }
    assert set(deploys) == _entry_points()
    assert {
        "pixel",
        "click",
        "process_hit",
        "addon",
        "chat",
        "slack",
        "dashboard",
        "digest",
    } <= set(deploys)
    for name, line in deploys.items():
        assert f"--gen2 --runtime=python311 --region=europe-west1 --source={tmp_path}/src" in line
        assert f"--entry-point={name} " in line
        assert "--set-secrets=MAILBEACON_SECRET=mailbeacon-secret:latest" in line
        assert "MAILBEACON_STORE=firestore,MAILBEACON_BUS=pubsub" in line
        concurrency = re.search(r"--concurrency=(\d+)", line).group(1)  # type: ignore[union-attr]
        assert f"THREADS={concurrency} " in line
    pixel = deploys["pixel"]
    assert "--min-instances=1" in pixel and "--allow-unauthenticated" in pixel
    assert "--memory=256Mi" in pixel and "--timeout=10s" in pixel
    assert "--no-allow-unauthenticated" in deploys["process_hit"]
    assert (
        "MAILBEACON_PUBLIC_URL=https://europe-west1-acme-mail-1.cloudfunctions.net/pixel" in pixel
    )


def test_each_topic_has_a_push_subscription_with_retries_and_a_dead_letter_topic(
    tmp_path: Path,
) -> None:
    lines = _plan(tmp_path)
    for topic, function in (("hits", "process_hit"), ("notify", "notify"), ("digest", "digest")):
        update = lines[_first(lines, rf"subscriptions update mailbeacon-{topic}-")]
        assert f"gcloud functions describe {function} --gen2" in update  # pushes to its URL
        assert "--min-retry-delay=10s --max-retry-delay=600s" in update
        assert f"--dead-letter-topic=mailbeacon-{topic}-dead --max-delivery-attempts=10" in update
        assert (
            "--push-auth-service-account=mailbeacon@acme-mail-1.iam.gserviceaccount.com" in update
        )


def test_indexes_cover_the_stores_queries_and_retention_is_configurable(tmp_path: Path) -> None:
    indexes = json.loads((ROOT / "deploy" / "firestore.indexes.json").read_text())
    composite = {
        (i["collectionGroup"], tuple((f["fieldPath"], f["order"]) for f in i["fields"]))
        for i in indexes["indexes"]
    }
    # FirestoreStore.list_events and list_messages: equality, then an ordered (range) field.
    assert ("events", (("message_id", "ASCENDING"), ("at", "DESCENDING"))) in composite
    assert ("messages", (("owner", "ASCENDING"), ("created_at", "DESCENDING"))) in composite
    lines = _plan(tmp_path, "--retention-days", "30")
    for group, fields in composite:
        configs = " ".join(f"--field-config=field-path={f},order={o.lower()}" for f, o in fields)
        assert any(f"--collection-group={group}" in ln and configs in ln for ln in lines)
    assert all("MAILBEACON_RETENTION_DAYS=30" in ln for ln in lines if "functions deploy" in ln)


def test_the_secret_and_other_resources_are_never_recreated(tmp_path: Path) -> None:
    for line in _plan(tmp_path):
        if re.search(r"gcloud \S+ (\S+ )?create ", line) and "indexes composite" not in line:
            assert re.match(r"gcloud .* describe .*>/dev/null 2>&1 \|\| ", line), line


def test_the_source_folder_holds_main_requirements_and_our_packages(tmp_path: Path) -> None:
    _plan(tmp_path)
    src = tmp_path / "src"
    assert (src / "main.py").read_text() == (ROOT / "functions" / "main.py").read_text()
    requirements = (src / "requirements.txt").read_text().splitlines()
    assert any(r.startswith("functions-framework") for r in requirements)
    assert any(r.startswith("google-cloud-firestore") for r in requirements)
    assert not any(r.startswith(("pytest", "ruff")) for r in requirements)
    assert (src / "mailbeacon" / "store" / "firestore.py").exists()
    assert (src / "functions" / "app.py").exists()
    assert not list(src.rglob("__pycache__"))


def test_bad_arguments_are_refused_in_one_line_and_nothing_is_written(tmp_path: Path) -> None:
    for args in (
        ("--project", "Bad_Project!", "--region", "europe-west1"),
        ("--project", "acme-mail-1", "--region", "mars"),
    ):
        result = run_cli(
            "deploy",
            *args,
            "--dry-run",
            "--source-dir",
            str(tmp_path / "src"),
            data_dir=tmp_path / "data",
        )
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1
        assert result.stdout == ""
    assert not (tmp_path / "src").exists()


def test_the_web_push_key_is_made_once_and_given_to_every_function(tmp_path: Path) -> None:
    from notifier.channels.browser import VapidKeys

    lines = _plan(tmp_path)
    [make] = [ln for ln in lines if "gcloud secrets create mailbeacon-vapid" in ln]
    assert make.startswith("gcloud secrets describe mailbeacon-vapid ")
    deploys = [ln for ln in lines if "gcloud functions deploy" in ln]
    assert deploys and all(
        "MAILBEACON_VAPID_PRIVATE_KEY=mailbeacon-vapid:latest" in ln for ln in deploys
    )
    assert any("add-iam-policy-binding mailbeacon-vapid" in ln for ln in lines)
    generate = make.split(" || ", 1)[1].rsplit(" | gcloud", 1)[0]  # the openssl pipeline
    pem = subprocess.run(generate, shell=True, check=True, capture_output=True, text=True).stdout
    assert len(VapidKeys.from_secret(pem).public_key) == 87  # a P-256 point, base64url
    requirements = (tmp_path / "src" / "requirements.txt").read_text()
    assert "pywebpush" in requirements
