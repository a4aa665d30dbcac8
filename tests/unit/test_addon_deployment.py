"""The deployment descriptor, the CLI that writes it, and the Apps Script manifest agree."""

from __future__ import annotations

import json
from pathlib import Path

from addon.config import ROUTES
from addon.deployment import SCOPES, build_deployment
from tests.support.addon import ROOT
from tests.support.processes import run_cli


def test_cli_writes_the_descriptor_for_a_base_url(tmp_path: Path) -> None:
    out = tmp_path / "deploy" / "addon-deployment.json"
    result = run_cli(
        "addon-deployment",
        "--base-url",
        "https://eu-acme.cloudfunctions.net/mb/",
        "--output",
        str(out),
        data_dir=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "gcloud workspace-add-ons deployments create" in result.stdout
    data = json.loads(out.read_text())
    base = "https://eu-acme.cloudfunctions.net/mb/addon/"
    addons = data["addOns"]
    assert addons["common"]["homepageTrigger"]["runFunction"] == base + "homepage"
    assert addons["gmail"]["contextualTriggers"] == [
        {"unconditional": {}, "onTriggerFunction": base + "message"}
    ]
    compose = addons["gmail"]["composeTrigger"]
    assert compose["draftAccess"] == "METADATA"
    assert (
        compose["actions"][0]["runFunction"] == base + "compose" and compose["actions"][0]["label"]
    )
    assert "selectActions" not in compose
    # granularOauthPermissionSupport as in Google's add-ons-samples
    # python/travel-adk-ai-agent/deployment.json ("httpOptions": {..., "OPT_IN"}).
    assert addons["httpOptions"] == {
        "authorizationHeader": "SYSTEM_ID_TOKEN",
        "granularOauthPermissionSupport": "OPT_IN",
    }
    assert data["oauthScopes"] == list(SCOPES)
    assert not any(
        s.endswith(("gmail.readonly", "gmail.modify", "mail.google.com/"))
        for s in data["oauthScopes"]
    )


def test_cli_refuses_a_non_https_base_url_in_one_line(tmp_path: Path) -> None:
    for bad in ("http://insecure.example", "https://x.example/?route=1", "ftp://x"):
        result = run_cli("addon-deployment", "--base-url", bad, "--output", "-", data_dir=tmp_path)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and "https://" in result.stderr


def test_committed_descriptor_is_current() -> None:
    committed = json.loads((ROOT / "deploy" / "addon-deployment.json").read_text())
    assert committed == build_deployment("https://mailbeacon.example.com")


def test_apps_script_manifest_matches_the_http_deployment() -> None:
    manifest = json.loads((ROOT / "appsscript" / "appsscript.json").read_text())
    assert manifest["runtimeVersion"] == "V8"
    extra = {"https://www.googleapis.com/auth/script.external_request", "openid"}
    assert set(manifest["oauthScopes"]) == set(SCOPES) | extra
    assert manifest["addOns"]["gmail"]["composeTrigger"]["draftAccess"] == "METADATA"
    code = (ROOT / "appsscript" / "Code.js").read_text()
    for trigger in ("onHomepage", "onGmailMessage", "onGmailCompose"):
        assert f"function {trigger}(e)" in code
    assert all(url.endswith("/") for url in manifest["urlFetchWhitelist"])


def test_docs_name_every_route_and_scope() -> None:
    docs = (ROOT / "docs" / "addon.md").read_text()
    for route in ROUTES:
        assert f"/addon/{route}" in docs, route
    for scope in SCOPES:
        assert scope.rsplit("/", 1)[1] in docs, scope
