"""`mailbeacon deploy --check` against gcloud standing in for a customer's project, and the plan
run against the rules that broke real deployments (functions/standins/cloud_project.py): the
checklist names each finding with the command that fixes it, reads only, exits 1 on blockers;
`deploy` checks first; and the plan itself survives a new project in a strict organisation."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from functions.deploy.probe import READ_VERBS
from functions.standins.cloud_project import BUILD_FAILED, REFUSED_BY_DRS, CloudProject
from functions.standins.gcloud import Gcloud
from functions.standins.gcloud_commands import answer
from tests.support.processes import run_cli

DOMAINS = {"MAILBEACON_WORKSPACE_DOMAINS": "acme.example"}


@pytest.fixture
def cloud(tmp_path: Path) -> Gcloud:
    stand_in = Gcloud(tmp_path / "bin", CloudProject())
    yield stand_in  # type: ignore[misc]
    stand_in.stop()


def _check(cloud: Gcloud, tmp_path: Path, *extra: str, **env: str):  # type: ignore[no-untyped-def]
    clean = {k: "" for k in os.environ if k.startswith("MAILBEACON_")}
    return run_cli(
        "deploy", "--project", cloud.project.id, "--region", "europe-west1", "--check", *extra,
        data_dir=tmp_path / "data", env={**clean, **cloud.env(), **DOMAINS, **env},
    )  # fmt: skip


def _lines(out: str, status: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(f"  {status} ")]


def test_a_ready_project_passes_and_the_check_only_reads(cloud: Gcloud, tmp_path: Path) -> None:
    before = json.dumps(cloud.project.snapshot(), sort_keys=True)
    result = _check(cloud, tmp_path)
    assert result.returncode == 0, result.stdout
    assert "No blockers: the plan can run." in result.stdout
    assert _lines(result.stdout, "BLOCKER") == []
    assert "  plan     the plan enables 12 APIs" in result.stdout  # a new project: none yet
    assert "domain-restricted sharing" not in result.stdout
    for argv in cloud.calls:
        assert READ_VERBS & set(argv), argv  # describe, list, get-iam-policy, access, ...
    assert json.dumps(cloud.project.snapshot(), sort_keys=True) == before


def test_billing_off_is_a_blocker_with_its_fix(cloud: Gcloud, tmp_path: Path) -> None:
    cloud.project.billing = False
    result = _check(cloud, tmp_path)
    assert result.returncode == 1
    [billing] = _lines(result.stdout, "BLOCKER")
    assert "billing is off" in billing
    assert "fix: gcloud billing projects link acme-mail-1 --billing-account=" in result.stdout


def test_each_missing_permission_names_the_role_and_the_grant(
    cloud: Gcloud, tmp_path: Path
) -> None:
    from functions.deploy.preflight import PERMISSIONS

    every = {p for perms in PERMISSIONS.values() for p in perms} | {"iam.serviceAccounts.actAs"}
    cloud.project.permissions = frozenset(every - {"run.services.setIamPolicy"})
    result = _check(cloud, tmp_path)
    assert result.returncode == 1
    [lacking] = _lines(result.stdout, "BLOCKER")
    assert "run.services.setIamPolicy" in lacking and "run.services.update" not in lacking
    assert (
        "fix: gcloud projects add-iam-policy-binding acme-mail-1"
        " --member=user:deployer@example.com --role=roles/run.admin" in result.stdout
    )


def test_acting_as_the_runtime_account_is_checked_on_the_account_itself(
    cloud: Gcloud, tmp_path: Path
) -> None:
    from functions.deploy.preflight import PERMISSIONS

    cloud.project.permissions = frozenset(p for perms in PERMISSIONS.values() for p in perms)
    result = _check(cloud, tmp_path)
    blockers = _lines(result.stdout, "BLOCKER")
    assert [b for b in blockers if "act as mailbeacon@" in b]
    assert [b for b in blockers if "act as mailbeacon-build@" in b]
    assert "--role=roles/iam.serviceAccountUser" in result.stdout


def test_a_strict_organisation_new_project(cloud: Gcloud, tmp_path: Path) -> None:
    """Secure by default (organisations since May 2024): the plan's public functions need no
    allUsers, so domain-restricted sharing blocks nothing but the sent-mail watch's grant to
    Gmail's push account; key creation blocks the Gmail key; the default build account has no
    role, which the plan does not use."""
    cloud.project = CloudProject.secure_by_default()
    plain = _check(cloud, tmp_path)
    assert plain.returncode == 0, plain.stdout
    assert "domain-restricted sharing is enforced" in plain.stdout
    assert "default build account has no role: the plan never uses it" in plain.stdout
    watch = _check(cloud, tmp_path, MAILBEACON_GMAIL_WATCH_TOPIC="projects/acme-mail-1/topics/g")
    assert watch.returncode == 1
    blockers = "\n".join(_lines(watch.stdout, "BLOCKER"))
    assert "gmail-api-push@system.gserviceaccount.com" in blockers
    assert "forbids service account keys" in blockers
    assert "Override parent's policy" in watch.stdout


def test_the_watch_topic_must_be_in_the_key_s_project(cloud: Gcloud, tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    key.write_text(json.dumps({"type": "service_account", "project_id": "acme-mail-1"}))
    elsewhere = {"MAILBEACON_GMAIL_CREDENTIALS": str(key)}
    refused = _check(
        cloud, tmp_path, MAILBEACON_GMAIL_WATCH_TOPIC="projects/other-proj/topics/g", **elsewhere
    )
    assert refused.returncode == 1
    assert "the watch topic is in project other-proj" in refused.stdout
    assert "export MAILBEACON_GMAIL_WATCH_TOPIC=projects/acme-mail-1/topics/g" in refused.stdout
    same = _check(cloud, tmp_path, MAILBEACON_GMAIL_WATCH_TOPIC="g", **elsewhere)
    assert same.returncode == 0, same.stdout
    assert "the watch topic g is in the key's project" in same.stdout


def test_an_old_project_s_pubsub_agent_needs_its_token_role(cloud: Gcloud, tmp_path: Path) -> None:
    cloud.project.created = "2020-11-02T10:00:00.000Z"
    result = _check(cloud, tmp_path)
    assert result.returncode == 1
    agent = "service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"
    fix = f"--member=serviceAccount:{agent} --role=roles/iam.serviceAccountTokenCreator"
    assert fix in result.stdout
    cloud.project.iam[f"serviceAccount:{agent}"] = {"roles/iam.serviceAccountTokenCreator"}
    assert _check(cloud, tmp_path).returncode == 0


def test_a_custom_domain_needs_the_firebase_cli(cloud: Gcloud, tmp_path: Path) -> None:
    without = cloud.bin_dir / "firebase"
    without.rename(tmp_path / "firebase-elsewhere")
    path = f"{cloud.bin_dir}:/usr/bin:/bin"  # no firebase here
    result = _check(cloud, tmp_path, "--public-url", "https://track.example.com", PATH=path)
    assert result.returncode == 1
    assert "needs the Firebase CLI" in result.stdout
    assert "connect https://track.example.com to the Hosting site acme-mail-1" in result.stdout


def test_deploy_checks_first_and_changes_nothing_on_a_blocker(
    cloud: Gcloud, tmp_path: Path
) -> None:
    cloud.project.billing = False
    clean = {k: "" for k in os.environ if k.startswith("MAILBEACON_")}
    env = {**clean, **cloud.env(), **DOMAINS}
    args = ("deploy", "--project", "acme-mail-1", "--region", "europe-west1")
    refused = run_cli(*args, "--source-dir", "src", data_dir=tmp_path, env=env)
    assert refused.returncode == 1
    assert "the preflight found blockers; nothing was changed" in refused.stderr
    assert all(READ_VERBS & set(argv) for argv in cloud.calls)
    cloud.project.billing = True
    cloud.calls.clear()
    ran = run_cli(*args, "--source-dir", str(tmp_path / "src"), data_dir=tmp_path, env=env)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert [c for c in cloud.calls if c[:2] == ["functions", "deploy"]]


def test_the_plan_survives_a_new_project_in_a_strict_organisation(tmp_path: Path) -> None:
    """The plan, run against the rules: nothing enabled yet, domain-restricted sharing, a
    default build account without roles. The old plan's `--allow-unauthenticated` and its
    build with the default account are refused exactly as Google refuses them."""
    cloud = Gcloud(tmp_path / "bin", CloudProject.secure_by_default())
    try:
        plan = run_cli(
            "deploy", "--project", "acme-mail-1", "--region", "europe-west1", "--dry-run",
            "--source-dir", str(tmp_path / "src"), "--public-url", "https://track.example.com",
            data_dir=tmp_path, env={**DOMAINS},
        )  # fmt: skip
        run = subprocess.run(
            ["bash", "-c", plan.stdout], env={**os.environ, **cloud.env()},
            capture_output=True, text=True, cwd=tmp_path,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-3000:]
        project = cloud.project
        assert project.public == {"pixel", "click", "chat", "slack", "dashboard"}
        assert project.invokers["addon"] == {f"serviceAccount:{project.addon_sa}"}
        assert "allUsers" not in json.dumps(project.snapshot())
        # What the plan avoids is refused as Google refuses it.
        source = f"--source={tmp_path / 'src'}"
        sa = "--service-account=mailbeacon@acme-mail-1.iam.gserviceaccount.com"
        deploy = ["functions", "deploy", "x", "--gen2", source, sa]
        refused = answer(project, ["gcloud", *deploy])[1]
        assert refused == f"ERROR: (gcloud.functions.deploy) {BUILD_FAILED}\n"
        build = (
            "--build-service-account=projects/acme-mail-1/serviceAccounts/"
            "mailbeacon-build@acme-mail-1.iam.gserviceaccount.com"
        )
        status, out = answer(project, ["gcloud", *deploy, build, "--allow-unauthenticated"])
        assert status == 1 and REFUSED_BY_DRS in out
        project.enabled.discard("pubsub.googleapis.com")
        status, out = answer(project, ["gcloud", "pubsub", "topics", "describe", "t"])
        assert status == 1 and "Cloud Pub/Sub API has not been used in project" in out
    finally:
        cloud.stop()
