"""`mailbeacon deploy --dry-run`: the exact gcloud script, in order, and the source folder."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from functions.deploy import FUNCTIONS, LEFT_OUT, DeployConfig, front
from functions.main import _path_for
from functions.standins.webhooks import LOOPBACK_WEBHOOKS
from tests.support import fake_gcloud
from tests.support.fake_gcloud import FakeGcloud
from tests.support.processes import run_cli

ROOT = Path(__file__).resolve().parents[2]
HTTP = {"pixel", "click", "addon", "chat", "slack", "dashboard"}


def _plan(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> list[str]:
    return _script(tmp_path, *extra, env=env).splitlines()


def _script(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> str:
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
        # The deployer's environment is part of the declaration: start from a clean one.
        env={
            **{k: "" for k in (*os.environ, *LOOPBACK_WEBHOOKS) if k.startswith("MAILBEACON_")},
            **(env or {}),
        },
    )
    assert result.returncode == 0, result.stderr
    assert subprocess.run(["bash", "-n"], input=result.stdout, text=True).returncode == 0
    return "\n".join(
        line for line in result.stdout.splitlines() if line and not line.startswith("#")
    )


def _run_plan(
    gcloud: FakeGcloud, script: str, env: dict[str, str] | None = None
) -> list[list[str]]:
    """Run the plan under bash with the fake gcloud (state kept between runs): its argv lists."""
    gcloud.calls.clear()
    full_env = {"PATH": f"{gcloud.bin_dir}:{os.environ['PATH']}", **(env or {})}
    result = subprocess.run(["bash", "-c", script], env=full_env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return list(gcloud.calls)


def _deploys(calls: list[list[str]]) -> dict[str, list[str]]:
    return {c[2]: c for c in calls if c[:2] == ["functions", "deploy"]}


def _env_of(argv: list[str]) -> dict[str, str]:
    flag = next(a for a in argv if a.startswith("--set-env-vars="))
    assert flag.startswith("--set-env-vars=^|^")
    return dict(item.split("=", 1) for item in flag[len("--set-env-vars=^|^") :].split("|"))


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
        assert (
            " --set-secrets=MAILBEACON_SECRET=mailbeacon-secret:latest,"
            "MAILBEACON_VAPID_PRIVATE_KEY=mailbeacon-vapid:latest " in line
        )
    pixel = deploys["pixel"]
    assert "--min-instances=1" in pixel and "--memory=256Mi" in pixel and "--timeout=30s" in pixel
    build = (
        "projects/acme-mail-1/serviceAccounts/mailbeacon-build@acme-mail-1.iam.gserviceaccount.com"
    )
    for line in deploys.values():  # built as the plan's build account, never the default one
        assert f"--build-service-account={build} " in line
        assert "--no-allow-unauthenticated " in line
    # Nobody is bound as allUsers (domain-restricted sharing refuses it): the public functions
    # have Cloud Run's invoker check off; the others admit only the Google identity calling.
    assert not any("allUsers" in line or "--allow-unauthenticated" in line for line in lines)
    public = {
        line.split()[4]
        for line in lines
        if line.startswith("gcloud run services update ") and "--no-invoker-iam-check" in line
    }
    assert public == {"pixel", "click", "chat", "slack", "dashboard"}
    invokers = {
        line.split()[3]: re.search(r"--member=(\S+)", line).group(1)  # type: ignore[union-attr]
        for line in lines
        if "add-invoker-policy-binding" in line
    }
    runtime = "serviceAccount:mailbeacon@acme-mail-1.iam.gserviceaccount.com"
    assert invokers == {
        "process_hit": runtime,
        "notify": runtime,
        "digest": runtime,
        "addon": '"serviceAccount:${ADDON_SA}"',
    }


def test_every_function_gets_the_whole_declared_environment_as_gcloud_receives_it(
    tmp_path: Path,
    gcloud: FakeGcloud,
) -> None:
    calls = _run_plan(gcloud, _script(tmp_path))
    deploys = _deploys(calls)
    assert set(deploys) == {f.name for f in FUNCTIONS}
    config = DeployConfig("acme-mail-1", "europe-west1")
    expected = config.resolved_environment(
        {
            "PROJECT_NUMBER": fake_gcloud.PROJECT_NUMBER,
            "ADDON_SA": fake_gcloud.ADDON_SA,
            "ADDON_CLIENT_ID": fake_gcloud.ADDON_CLIENT_ID,
        }
    )
    host = "https://europe-west1-acme-mail-1.cloudfunctions.net"
    for fn in FUNCTIONS:
        env = _env_of(deploys[fn.name])
        assert env == {**expected, "THREADS": str(fn.concurrency)}
    assert expected["MAILBEACON_PUBLIC_URL"] == f"{host}/pixel"
    assert expected["MAILBEACON_CLICK_URL"] == f"{host}/click"
    assert expected["MAILBEACON_ADDON_URL"] == f"{host}/addon"
    assert expected["MAILBEACON_SLACK_URL"] == f"{host}/slack"
    assert expected["MAILBEACON_CHAT_AUDIENCE"] == f"{host}/chat/chat"
    assert expected["MAILBEACON_CHAT_PROJECT_NUMBER"] == fake_gcloud.PROJECT_NUMBER
    assert expected["MAILBEACON_ADDON_SERVICE_ACCOUNT"] == fake_gcloud.ADDON_SA
    assert expected["MAILBEACON_CHAT_ISSUER_EMAILS"] == (
        f"chat@system.gserviceaccount.com,{fake_gcloud.ADDON_SA}"
    )


def test_slack_and_smtp_credentials_go_to_secret_manager_never_into_the_plan(
    tmp_path: Path,
    gcloud: FakeGcloud,
) -> None:
    deployer = {
        "MAILBEACON_SLACK_CLIENT_ID": "111.222",
        "MAILBEACON_SLACK_CLIENT_SECRET": "s3cr3t-client",
        "MAILBEACON_SLACK_SIGNING_SECRET": "s3cr3t-signing",
        "MAILBEACON_SMTP_HOST": "smtp.example.com",
        "MAILBEACON_SMTP_USER": "mailer",
        "MAILBEACON_SMTP_PASSWORD": "s3cr3t-smtp",
        "MAILBEACON_MAIL_FROM": "Mailbeacon <mb@example.com>",
    }
    script = _script(tmp_path, env=deployer)
    assert "s3cr3t" not in script
    calls = _run_plan(gcloud, script, env=deployer)
    mounts = (
        "--set-secrets=MAILBEACON_SECRET=mailbeacon-secret:latest,"
        "MAILBEACON_VAPID_PRIVATE_KEY=mailbeacon-vapid:latest,"
        "MAILBEACON_SLACK_CLIENT_SECRET=mailbeacon-slack-client-secret:latest,"
        "MAILBEACON_SLACK_SIGNING_SECRET=mailbeacon-slack-signing-secret:latest,"
        "MAILBEACON_SMTP_PASSWORD=mailbeacon-smtp-password:latest"
    )
    for argv in _deploys(calls).values():
        assert mounts in argv
        env = _env_of(argv)
        assert env["MAILBEACON_SLACK_CLIENT_ID"] == "111.222"
        assert env["MAILBEACON_MAIL_FROM"] == "Mailbeacon <mb@example.com>"
        assert not any("s3cr3t" in v for v in env.values())
    added = [c for c in calls if c[:3] == ["secrets", "versions", "add"]]
    assert sorted(c[3] for c in added) == [
        "mailbeacon-slack-client-secret",
        "mailbeacon-slack-signing-secret",
        "mailbeacon-smtp-password",
    ]
    # A redeploy with the same values adds no version; one without them keeps the mounts.
    again = _run_plan(gcloud, script, env=deployer)
    assert not [c for c in again if c[:3] == ["secrets", "versions", "add"]]
    without = {k: v for k, v in deployer.items() if "PASSWORD" not in k and "SECRET" not in k}
    third = _run_plan(gcloud, _script(tmp_path, env=without), env=without)
    assert all(mounts in argv for argv in _deploys(third).values())


def test_slack_enabled_without_its_secret_stops_the_plan_with_a_message(
    tmp_path: Path, gcloud: FakeGcloud
) -> None:
    deployer = {"MAILBEACON_SLACK_CLIENT_ID": "111.222"}
    script = _script(tmp_path, env=deployer)
    try:
        _run_plan(gcloud, script, env=deployer)
    except AssertionError as exc:
        assert "set MAILBEACON_SLACK_CLIENT_SECRET and deploy again" in str(exc)
    else:
        raise AssertionError("the plan went on without the Slack client secret")
    assert not [c for c in gcloud.calls if c[:2] == ["functions", "deploy"]]


def test_the_addon_is_deployed_from_the_generated_descriptor_and_installed(
    tmp_path: Path,
    gcloud: FakeGcloud,
) -> None:
    script = _script(tmp_path)
    calls = _run_plan(gcloud, script)
    verbs = [c[:3] for c in calls if c[0] == "workspace-add-ons"]
    assert ["workspace-add-ons", "get-authorization", "--project=acme-mail-1"] in verbs
    assert [c[1:3] for c in calls if c[:1] == ["workspace-add-ons"] and c[1] == "deployments"] == [
        ["deployments", "describe"],
        ["deployments", "create"],
        ["deployments", "replace"],
        ["deployments", "install"],
    ]
    descriptor = json.loads(
        script.split("<<'MAILBEACON_ADDON'\n", 1)[1].split("\nMAILBEACON_ADDON")[0]
    )
    base = "https://europe-west1-acme-mail-1.cloudfunctions.net/addon/addon/"
    assert descriptor["addOns"]["common"]["homepageTrigger"]["runFunction"] == base + "homepage"
    assert descriptor["addOns"]["common"]["openLinkUrlPrefixes"] == [
        "https://europe-west1-acme-mail-1.cloudfunctions.net/addon/",
        "https://europe-west1-acme-mail-1.cloudfunctions.net/dashboard/",
        "https://europe-west1-acme-mail-1.cloudfunctions.net/slack/",
    ]
    # A second run replaces the deployment (never creates it again) and installs it again.
    again = _run_plan(gcloud, script)
    assert not [c for c in again if "create" in c and c[0] == "workspace-add-ons"]


def test_a_redeploy_creates_nothing_and_sets_the_same_environment(
    tmp_path: Path, gcloud: FakeGcloud
) -> None:
    script = _script(tmp_path)
    first = _run_plan(gcloud, script)
    second = _run_plan(gcloud, script)
    creates = [
        c for c in second if "create" in c[:4] and c[:3] != ["firestore", "indexes", "composite"]
    ]
    assert creates == []
    assert {k: _env_of(v) for k, v in _deploys(first).items()} == {
        k: _env_of(v) for k, v in _deploys(second).items()
    }


def _served(config: DeployConfig, url: str) -> tuple[str, str] | None:
    """(function, app path) a URL reaches: by the front on a custom domain, else by name."""
    parts = urlsplit(url)
    if config.public_url and url.startswith(config.public_url + "/"):
        function = front.route(parts.path)
    else:
        assert parts.netloc == f"{config.region}-{config.project}.cloudfunctions.net"
        function = parts.path.split("/")[1]
    if function is None or function not in HTTP:
        return None
    path = _path_for(function, parts.path)
    return (function, path) if path else None


def test_every_url_the_product_emits_reaches_the_function_that_serves_it() -> None:
    expected = {
        "pixel": ("pixel", "/p/TOKEN.gif"),
        "click": ("click", "/c/TOKEN"),
        "chat endpoint": ("chat", "/chat"),
        "slack redirect": ("slack", "/slack/oauth/callback"),
        "slack interactivity": ("slack", "/slack/interactivity"),
        "add-on compose/track": ("addon", "/addon/compose/track"),
        "dashboard link": ("dashboard", "/dashboard/messages/ID"),
        "gmail push": ("dashboard", "/gmail/push"),
    }
    for public_url in (None, "https://track.example.com"):
        config = DeployConfig("acme-mail-1", "europe-west1", public_url=public_url)
        urls = config.urls()
        for kind, url in urls.items():
            assert _served(config, url) is not None, (kind, url)
        for kind, target in expected.items():
            assert _served(config, urls[kind]) == target, kind


def test_the_custom_domain_front_routes_every_mount_and_nothing_else() -> None:
    config = DeployConfig("acme-mail-1", "europe-west1", public_url="https://track.example.com/")
    hosting = front.firebase_json(config)["hosting"]
    services = {r["run"]["serviceId"] for r in hosting["rewrites"]}
    # Hosting reaches public services only: the add-on, which only Google's add-on runtime
    # may invoke (Cloud Run IAM), keeps its function's URL.
    assert services == HTTP - {"addon"}
    assert hosting["site"] == "acme-mail-1"
    assert all(r["run"]["region"] == "europe-west1" for r in hosting["rewrites"])
    assert front.route("/p/abc.gif") == "pixel"
    assert front.route("/addon") is None
    assert config.urls()["add-on homepage"].startswith(config.function_url("addon") + "/")
    assert front.route("/addonx") is None
    assert front.route("/etc/passwd") is None
    assert front.route("/c/") == "click"


def test_a_custom_domain_plan_writes_the_front_and_points_every_url_at_it(
    tmp_path: Path,
    gcloud: FakeGcloud,
) -> None:
    script = _script(tmp_path, "--public-url", "https://track.example.com")
    hosting = json.loads(
        script.split("<<'MAILBEACON_FRONT'\n", 1)[1].split("\nMAILBEACON_FRONT")[0]
    )
    assert {"source": "/p/**", "run": {"serviceId": "pixel", "region": "europe-west1"}} in hosting[
        "hosting"
    ]["rewrites"]
    env = _env_of(_deploys(_run_plan(gcloud, script))["addon"])
    for name in ("PUBLIC", "CLICK", "CHAT", "SLACK", "DASHBOARD"):
        assert env[f"MAILBEACON_{name}_URL"] == "https://track.example.com"
    function_url = "https://europe-west1-acme-mail-1.cloudfunctions.net/addon"
    assert env["MAILBEACON_ADDON_URL"] == function_url
    # Behind Hosting the client's address is the second last X-Forwarded-For entry: Google's
    # front end appends Hosting's own address after the one Hosting appended.
    assert env["MAILBEACON_TRUST_PROXY"] == "2"
    # Firebase added, the site made, the rewrites deployed against the deployed functions.
    verbs = [c[0] for c in gcloud.firebase_calls]
    assert verbs == [
        *("projects:list", "projects:addfirebase"),
        *("hosting:sites:get", "hosting:sites:create", "deploy"),
    ]
    assert set(gcloud.project.hosting["acme-mail-1"]["rewrites"][0]["run"]) == {
        "serviceId",
        "region",
    }


def test_each_topic_has_a_push_subscription_with_retries_and_a_dead_letter_topic(
    tmp_path: Path,
) -> None:
    lines = _plan(tmp_path)
    for topic, function in (("hits", "process_hit"), ("notify", "notify"), ("digest", "digest")):
        update = lines[_first(lines, rf"subscriptions update mailbeacon-{topic}-")]
        assert f"gcloud functions describe {function} --gen2" in update  # pushes to its URL
        assert "--min-retry-delay=10s --max-retry-delay=600s" in update
        assert f"--dead-letter-topic=mailbeacon-{topic}-dead --max-delivery-attempts=50" in update
        assert (
            "--push-auth-service-account=mailbeacon@acme-mail-1.iam.gserviceaccount.com" in update
        )


def test_indexes_cover_the_stores_queries_and_retention_is_configurable(tmp_path: Path) -> None:
    indexes = json.loads(
        (ROOT / "functions" / "cloud_files" / "firestore.indexes.json").read_text()
    )
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
    assert all("MAILBEACON_RETENTION_DAYS=30|" in ln for ln in lines if "functions deploy" in ln)


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
    assert (src / "mailbeacon" / "store" / "firestore" / "__init__.py").exists()
    assert (src / "functions" / "app.py").exists()
    # Bytecode for every module and nothing else, compiled for the runtime and valid whatever
    # times the upload gives the files (hash-based, checked against the source at import).
    modules = sorted(src.rglob("*.py"))
    compiled = sorted(src.rglob("*.pyc"))
    if sys.implementation.cache_tag == "cpython-311":  # the runtime's (python311)
        assert len(compiled) == len(modules)
        for module in modules:
            pyc = module.parent / "__pycache__" / f"{module.stem}.cpython-311.pyc"
            header = pyc.read_bytes()[:16]
            assert header[:4] == importlib.util.MAGIC_NUMBER, module
            assert int.from_bytes(header[4:8], "little") == 0b11, module  # hash-based, checked
            assert header[8:16] == importlib.util.source_hash(module.read_bytes()), module
    else:  # another interpreter's bytecode would be no use there
        assert compiled == []
    for absent in (*LEFT_OUT, "functions/deploy/script.py", "functions/cli/__init__.py"):
        assert not (src / absent).exists(), absent
    # What is there is enough: every entry point imports and wires from the folder alone.
    check = (
        "import sys; sys.path.insert(0, sys.argv[1]); import main, functions.app, addon.endpoint,"
        " functions.bootstrap, mailbeacon.store.firestore, mailbeacon.bus.pubsub;"
        " assert main.__file__.startswith(sys.argv[1])"
    )
    result = subprocess.run([sys.executable, "-c", check, str(src)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_path_left_out_of_the_source_folder_exists() -> None:
    """A renamed module must not slip into the functions' source under a stale name."""
    assert [path for path in LEFT_OUT if not (ROOT / path).exists()] == []


def test_the_deploy_package_imports_one_way() -> None:
    """Each module of functions/deploy imports only modules listed before it (no cycle)."""
    order = ["resources", "declaration", "front", "shell", "accounts", "runtime", "workspace"]
    order += ["script", "assembly", "probe", "preflight", "checklist", "command"]
    for i, name in enumerate(order):
        tree = ast.parse((ROOT / "functions" / "deploy" / f"{name}.py").read_text())
        siblings = {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
        }
        assert siblings <= set(order[:i]), f"{name} imports {sorted(siblings - set(order[:i]))}"


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


def test_a_project_id_google_would_not_issue_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    result = run_cli(
        "deploy", "--project", "p", "--region", "europe-west1", "--source-dir", str(tmp_path / "s"),
        data_dir=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == "mailbeacon: not a Google Cloud project id: 'p'"
    for hostile in ("p; rm -rf /", "$(id)", "P-UPPER"):
        bad = run_cli("deploy", "--project", hostile, "--region", "europe-west1", "--dry-run",
                      data_dir=tmp_path)  # fmt: skip
        assert bad.returncode == 2 and "not a Google Cloud project id" in bad.stderr


def test_the_sent_mail_watch_gets_its_topic_push_and_daily_renewal(tmp_path: Path) -> None:
    """Gmail publishes as gmail-api-push@system (Google's push guide: grant publish rights on
    the topic); the push and the renewal are signed as the functions' own account, for the
    dashboard function's /gmail/push and /gmail/renew."""
    assert not any("gmail-push" in line for line in _plan(tmp_path))  # not declared: nothing
    topic = "projects/acme-mail-1/topics/gmail-sent"
    lines = _plan(tmp_path, env={"MAILBEACON_GMAIL_WATCH_TOPIC": topic})
    dashboard = "https://europe-west1-acme-mail-1.cloudfunctions.net/dashboard"
    sa = "mailbeacon@acme-mail-1.iam.gserviceaccount.com"
    grant = next(line for line in lines if "gmail-api-push@system" in line)
    assert f"topics add-iam-policy-binding {topic}" in grant and "pubsub.publisher" in grant
    push = next(line for line in lines if "subscriptions update mailbeacon-gmail-push" in line)
    assert f"--push-endpoint={dashboard}/gmail/push" in push
    assert f"--push-auth-service-account={sa}" in push
    assert f"--push-auth-token-audience={dashboard}/gmail/push" in push
    renew = next(
        line for line in lines if "scheduler jobs create http mailbeacon-gmail-renew" in line
    )
    assert (
        f"--uri={dashboard}/gmail/renew" in renew and f"--oidc-service-account-email={sa}" in renew
    )
    deploy = next(line for line in lines if "functions deploy dashboard" in line)
    assert f"MAILBEACON_GMAIL_PUSH_SERVICE_ACCOUNT={sa}" in deploy


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
