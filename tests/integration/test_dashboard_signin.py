"""Sign-in, sessions, CSRF and headers of the dashboard, through the real WSGI app.

Google sign-in runs the authorization-code flow against loopback Google endpoints
(functions/standins/google_signin.py); the ID token is verified by the production code against the
loopback certificate URL."""

from __future__ import annotations

import re
import urllib.request
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from functions.app import create_app
from functions.bootstrap import App, bootstrap
from functions.config import AppConfig
from functions.dashboard.signin import SignInConfig
from functions.standins.google_signin import GoogleSignIn
from mailbeacon.bus.memory import MemoryBus
from mailbeacon.clock import FixedClock
from mailbeacon.tracking import track_message

from .conftest import signin_config


def build(
    tmp_path: Path,
    clock: FixedClock,
    *,
    dev: bool,
    url: str = "https://mb.test",
    signin: SignInConfig | None = None,
) -> App:
    config = AppConfig.local(tmp_path / str(dev), public_url=url, insecure_dev_auth=dev)
    config = replace(config, dashboard=signin or SignInConfig())
    return bootstrap(config, clock=clock, bus=MemoryBus())


def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def dev_signin(client: FlaskClient, email: str = "ann@acme.test") -> object:
    token = csrf(client.get("/dashboard/signin").get_data(as_text=True))
    return client.post("/dashboard/signin/dev", data={"email": email, "csrf": token})


def test_pages_need_a_session_and_answer_with_a_strict_csp(
    tmp_path: Path, clock: FixedClock, google: GoogleSignIn
) -> None:
    client = create_app(
        build(tmp_path, clock, dev=False, signin=signin_config(google))
    ).test_client()
    for path in ("/dashboard/messages", "/dashboard/overview", "/dashboard/settings",
                 "/dashboard/messages.csv", "/dashboard/messages/abc", "/dashboard/"):  # fmt: skip
        answer = client.get(path)
        assert answer.status_code == 303 and answer.headers["Location"].endswith(
            "/dashboard/signin"
        )
    page = client.get("/dashboard/signin")
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self';" in csp and "unsafe" not in csp  # our own files, never inline
    assert page.headers["X-Frame-Options"] == "DENY"
    html = page.get_data(as_text=True)
    scripts = re.findall(r"<script[^>]*>", html)  # our own files only: never inline
    assert scripts == ['<script src="/dashboard/static/zone.js" defer>']
    assert 'id="google-signin"' in html and "dev-signin" not in html
    assert client.post("/dashboard/signin/dev", data={"email": "a@acme.test"}).status_code == 404


def test_dev_signin_needs_its_form_token_and_says_so_on_every_page(
    tmp_path: Path, clock: FixedClock
) -> None:
    client = create_app(build(tmp_path, clock, dev=True)).test_client()
    client.get("/dashboard/signin")
    refused = client.post("/dashboard/signin/dev", data={"email": "ann@acme.test"})
    assert refused.status_code == 403 and "Set-Cookie" not in refused.headers
    assert dev_signin(client, "not-an-address").status_code == 400  # type: ignore[attr-defined]
    answer = dev_signin(client)
    assert answer.status_code == 303  # type: ignore[attr-defined]
    cookie = answer.headers["Set-Cookie"]  # type: ignore[attr-defined]
    # One cookie, __session, the only one Firebase Hosting forwards to a function.
    assert cookie.startswith("__session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Path=/;" in cookie
    assert "Secure" in cookie and "Max-Age=" in cookie  # the public URL is https
    for path in ("/dashboard/messages", "/dashboard/overview", "/dashboard/settings"):
        html = client.get(path).get_data(as_text=True)
        assert 'id="dev-banner"' in html and "ann@acme.test" in html


def test_sign_out_ends_the_session_even_for_a_copied_cookie(
    tmp_path: Path, clock: FixedClock
) -> None:
    web = create_app(build(tmp_path, clock, dev=True, url="http://127.0.0.1:9"))
    client = web.test_client()
    answer = dev_signin(client)
    assert "Secure" not in answer.headers["Set-Cookie"]  # type: ignore[attr-defined]
    value = client.get_cookie("__session").value  # type: ignore[union-attr]
    page = client.get("/dashboard/messages").get_data(as_text=True)
    assert client.post("/dashboard/signout", data={}).status_code == 403  # no form token
    assert client.get("/dashboard/messages").status_code == 200
    client.post("/dashboard/signout", data={"csrf": csrf(page)})
    assert client.get("/dashboard/messages").status_code == 303
    thief = web.test_client()
    thief.set_cookie("__session", value)
    assert thief.get("/dashboard/messages").status_code == 303
    forged = web.test_client()
    forged.set_cookie("__session", value[:-3] + "abc")
    assert forged.get("/dashboard/messages").status_code == 303


def test_sessions_expire(tmp_path: Path, clock: FixedClock) -> None:
    client = create_app(build(tmp_path, clock, dev=True)).test_client()
    dev_signin(client)
    assert client.get("/dashboard/messages").status_code == 200
    clock.advance(hours=13)
    assert client.get("/dashboard/messages").status_code == 303


def _follow_google(location: str) -> str:
    """What the browser does at Google: the account is chosen, Google redirects back."""

    class Stop(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object) -> None:  # type: ignore[override]
            return None

    try:
        urllib.request.build_opener(Stop).open(location, timeout=10)
    except urllib.error.HTTPError as exc:
        assert exc.code == 302
        return exc.headers["Location"]
    raise AssertionError("no redirect")


def test_google_sign_in_with_the_code_flow(
    tmp_path: Path, clock: FixedClock, google: GoogleSignIn
) -> None:
    app = build(tmp_path, clock, dev=False, signin=signin_config(google))
    track_message(app.store, app.urls, app.clock, records=app.records, sender="ann@acme.test",
                  recipients=["bo@example.org"], subject="Ann's")  # fmt: skip
    client = create_app(app).test_client()
    start = client.get("/dashboard/signin/google")
    assert start.status_code == 303
    params = {k: v[0] for k, v in parse_qs(urlsplit(start.headers["Location"]).query).items()}
    assert params["client_id"] == google.client_id and params["response_type"] == "code"
    assert params["hd"] == "acme.test" and params["nonce"] and params["state"]
    assert params["redirect_uri"] == "https://mb.test/dashboard/signin/callback"
    back = _follow_google(start.headers["Location"])
    done = client.get(back.removeprefix("https://mb.test"))
    assert done.status_code == 303 and done.headers["Location"].endswith("/dashboard/messages")
    assert "Ann&#39;s" in client.get("/dashboard/messages").get_data(as_text=True)
    replay = client.get(back.removeprefix("https://mb.test"))  # the code and flow are spent
    assert replay.status_code == 401


@pytest.mark.parametrize("case", ["other domain", "no domain", "state", "no flow cookie"])
def test_google_sign_in_refusals(
    tmp_path: Path, clock: FixedClock, google: GoogleSignIn, case: str
) -> None:
    users = {"other domain": ("eve@evil.test", "evil.test"), "no domain": ("eve@gmail.com", None)}
    google.next_user = users.get(case, ("ann@acme.test", "acme.test"))
    try:
        client = create_app(
            build(tmp_path, clock, dev=False, signin=signin_config(google))
        ).test_client()
        start = client.get("/dashboard/signin/google")
        back = _follow_google(start.headers["Location"]).removeprefix("https://mb.test")
        if case == "state":
            back = re.sub(r"state=[^&]+", "state=forged", back)
        if case == "no flow cookie":
            client = create_app(
                build(tmp_path / "x", clock, dev=False, signin=signin_config(google))
            ).test_client()
        answer = client.get(back)
        assert answer.status_code == 401 and "Sign-in failed" in answer.get_data(as_text=True)
        assert client.get("/dashboard/messages").status_code == 303
    finally:
        google.next_user = ("ann@acme.test", "acme.test")


@pytest.mark.parametrize("verified", ["true", "false", 1, None, "True"])
def test_google_sign_in_needs_email_verified_to_be_the_boolean_true(
    tmp_path: Path, clock: FixedClock, google: GoogleSignIn, verified: object
) -> None:
    """Google sends the JSON boolean ``true``; a string, a number or nothing is not a yes."""
    google.next_claims = {"email_verified": verified}
    try:
        client = create_app(
            build(tmp_path, clock, dev=False, signin=signin_config(google))
        ).test_client()
        start = client.get("/dashboard/signin/google")
        answer = client.get(
            _follow_google(start.headers["Location"]).removeprefix("https://mb.test")
        )
        assert answer.status_code == 401 and "Sign-in failed" in answer.get_data(as_text=True)
        assert client.get("/dashboard/messages").status_code == 303  # not signed in
    finally:
        google.next_claims = {}


def test_access_tokens_are_shown_once_and_revoked_with_the_form_token(
    tmp_path: Path, clock: FixedClock
) -> None:
    client = create_app(build(tmp_path, clock, dev=True)).test_client()
    dev_signin(client)
    page = client.get("/dashboard/settings").get_data(as_text=True)
    assert client.post("/dashboard/settings/tokens", data={"name": "x"}).status_code == 403
    made = client.post("/dashboard/settings/tokens", data={"name": "nightly", "csrf": csrf(page)})
    secret = re.search(r'id="new-token" value="([^"]+)"', made.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/messages", headers=bearer).status_code == 200
    again = client.get("/dashboard/settings").get_data(as_text=True)
    assert secret not in again and "nightly" in again
    token_id = re.search(r"/dashboard/settings/tokens/([^/]+)/revoke", again).group(1)  # type: ignore[union-attr]
    assert client.post(f"/dashboard/settings/tokens/{token_id}/revoke").status_code == 403
    eve = create_app(build(tmp_path, clock, dev=True)).test_client()
    dev_signin(eve, "eve@acme.test")
    eve_page = eve.get("/dashboard/settings").get_data(as_text=True)
    stolen = eve.post(
        f"/dashboard/settings/tokens/{token_id}/revoke", data={"csrf": csrf(eve_page)}
    )
    assert stolen.status_code == 404
    client.post(f"/dashboard/settings/tokens/{token_id}/revoke", data={"csrf": csrf(again)})
    assert client.get("/api/v1/messages", headers=bearer).status_code == 401


def test_alert_settings_are_saved_through_the_settings_use_case(
    tmp_path: Path, clock: FixedClock
) -> None:
    app = build(tmp_path, clock, dev=True)
    client = create_app(app).test_client()
    dev_signin(client)
    token = csrf(client.get("/dashboard/settings").get_data(as_text=True))
    form = {
        "csrf": token,
        "notify": "every-open",
        "quiet_start": "22",
        "quiet_end": "7",
        "timezone": "Europe/Paris",
        "strictness": "strict",
        "slack_webhook": "https://hooks.slack.com/services/T1/B2/xyz",
        "slack_app_dm": "on",
    }
    assert client.post("/dashboard/settings", data={**form, "csrf": ""}).status_code == 403
    refused = client.post(
        "/dashboard/settings", data={**form, "slack_webhook": "http://169.254.169.254/latest"}
    )
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "Nothing was saved: Slack webhook: must" in html
    assert 'value="http://169.254.169.254/latest"' in html
    assert '<option value="Europe/Paris" selected>' in html  # what was typed stays chosen
    half = client.post("/dashboard/settings", data={**form, "quiet_end": ""})
    assert half.status_code == 400 and "Quiet hours: choose a start and an end" in (
        half.get_data(as_text=True)
    )
    assert app.store.get_settings("ann@acme.test").notify.value == "first-open"
    saved = client.post("/dashboard/settings", data=form)
    assert saved.status_code == 200 and 'id="saved"' in saved.get_data(as_text=True)
    settings = app.store.get_settings("ann@acme.test")
    assert settings.notify.value == "every-open" and settings.timezone == "Europe/Paris"
    assert settings.slack_webhook == form["slack_webhook"] and settings.slack_app_dm
    assert (settings.quiet_hours.start, settings.quiet_hours.end) == (22, 7)  # type: ignore[union-attr]
    assert not settings.chat_app_dm and settings.strictness.value == "strict"


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/messages?until=9999-12-31",
        "/dashboard/messages?since=not-a-date",
        "/dashboard/messages?limit=0",
        "/dashboard/messages?cursor=%25%25",
        "/dashboard/overview?until=0001-01-01",
        "/dashboard/overview?since=2000-01-01",
        "/dashboard/messages.csv?status=nope",
    ],
)
def test_bad_page_parameters_are_400_with_the_reason(
    tmp_path: Path, clock: FixedClock, path: str
) -> None:
    client = create_app(build(tmp_path, clock, dev=True)).test_client()
    dev_signin(client)
    answer = client.get(path)
    assert answer.status_code == 400
