"""The add-on endpoints through the real WSGI app (the rig is this folder's conftest): cards,
compose, the message card, settings and the digest, each response checked against the card
schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from addon import views
from functions.app import create_app
from functions.bootstrap import bootstrap
from functions.config import load_config
from functions.standins.gmail import Gmail
from functions.standins.google_tokens import TokenIssuer
from functions.standins.loopback import google_error
from mailbeacon.bus import HITS
from mailbeacon.model import Event, Verdict
from mailbeacon.tracking import track_message
from notifier.digest import USERS as DIGEST_USERS
from tests.support import addon as ui

from .conftest import (
    BASE,
    BROWSER_UA,
    CLIENT_ID,
    MESSAGE_ID,
    PROXY_UA,
    SERVICE_ACCOUNT,
    USER,
    USER_OAUTH_TOKEN,
    post,
    show,
    signed,
)


def test_homepage_lists_tracked_emails_newest_first_with_status(web, app, issuer):
    old = track_message(
        app.store,
        app.urls,
        app.clock,
        records=app.records,
        sender=USER,
        recipients=["a@x.org"],
        subject="Older <one>",
    ).message
    app.clock.advance(minutes=5)
    new = track_message(
        app.store,
        app.urls,
        app.clock,
        records=app.records,
        sender=USER,
        recipients=["b@x.org"],
        subject="Newer & better",
    ).message
    track_message(
        app.store,
        app.urls,
        app.clock,
        records=app.records,
        sender="other@example.com",
        recipients=["c@x.org"],
        subject="Not yours",
    )
    for i, (verdict, kind) in enumerate([(Verdict.HUMAN, "open"), (Verdict.SCANNER, "click")]):
        app.store.add_event(Event(f"e{i}", old.id, kind, app.clock.now(), verdict, ("r",), "gmail"))
    card = ui.the_card(post(web, issuer, "/addon/homepage", ui.event("homepage")))
    text = ui.text_of(card)
    assert text.index("Newer &amp; better") < text.index("Older &lt;one&gt;")
    assert "Not yours" not in text
    assert "Not opened yet" in text
    assert f"Opened once, last at {views.when(app.clock.now(), 'Europe/London')}" in text
    assert "1 machine hit (scanners, prefetch, you) not counted" in text
    detail = ui.buttons(card)["Not opened yet"]
    assert {"key": "message_id", "value": new.id} in detail["parameters"]


def test_detail_card_shows_the_timeline_with_reasons_and_refuses_other_users(web, app, issuer):
    message = track_message(
        app.store,
        app.urls,
        app.clock,
        records=app.records,
        sender=USER,
        recipients=["a@x.org"],
        subject="Deck",
        links=["https://example.com/deck"],
    ).message
    at = app.clock.now() + timedelta(minutes=3)
    app.store.add_event(
        Event("h1", message.id, "open", at, Verdict.HUMAN, ("gmail-image-proxy",), "gmail")
    )
    app.store.add_event(
        Event(
            "h2",
            message.id,
            "click",
            at,
            Verdict.SCANNER,
            ("safe-links",),
            "outlook",
            1,
            "https://example.com/deck",
        )
    )
    press = ui.press(
        {
            "function": BASE + "/addon/detail",
            "parameters": [{"key": "message_id", "value": message.id}],
        },
        ui.event("homepage"),
    )
    card = ui.the_card(post(web, issuer, "/addon/detail", press))
    text = ui.text_of(card)
    assert "Open · Person" in text and "Click · Security scanner" in text
    assert "Outlook: https://example.com/deck" in text and "Why: Safe links" in text
    intruder = ui.the_card(post(web, issuer, "/addon/detail", press, user="eve@example.com"))
    assert "not one of your tracked emails" in ui.text_of(intruder)
    assert "Deck" not in ui.text_of(intruder)


def test_homepage_pages_through_many_emails(web, app, issuer):
    for i in range(23):
        track_message(
            app.store,
            app.urls,
            app.clock,
            records=app.records,
            sender=USER,
            recipients=["a@x.org"],
            subject=f"Mail {i:02d}",
        )
        app.clock.advance(minutes=1)
    seen: list[str] = []
    response = post(web, issuer, "/addon/homepage", ui.event("homepage"))
    for _page in range(3):
        card = ui.the_card(response)
        seen += [w["decoratedText"]["topLabel"] for w in card["sections"][0]["widgets"]]
        older = ui.buttons(card).get("Older")
        if older is None:
            break
        response = post(
            web, issuer, ui.path_of(older["function"]), ui.press(older, ui.event("homepage"))
        )
    assert seen == [f"Mail {i:02d}" for i in range(22, -1, -1)]


def test_compose_track_then_link_inserts_pixel_and_anchor_of_one_message(web, app, issuer):
    card = ui.the_card(post(web, issuer, "/addon/compose", ui.event("compose")))
    text = ui.text_of(card)
    for address in ("ada@example.org", "grace@example.net", "linus@example.com"):
        assert address in text
    assert "links you type or paste yourself are not tracked" in text
    assert "delete the inserted image" in text

    track = ui.buttons(card)["Track opens"]
    click = ui.press(track, ui.event("compose"), subject="Q3 proposal <draft> & notes")
    response = post(web, issuer, ui.path_of(track["function"]), click)
    body = ui.draft_update(response)
    assert body["type"] == "INSERT_AT_END"
    (content,) = body["insertContents"]
    assert content["contentType"] == "IMMUTABLE_HTML"
    (message,) = app.store.list_messages(USER)
    assert message.subject == "Q3 proposal <draft> & notes"
    assert set(message.recipients) == {
        "ada@example.org",
        "grace@example.net",
        "linus@example.com",
        "archive@example.com",
    }
    assert app.urls.pixel(message.id) in content["content"]
    after = ui.the_card(response)
    assert "Open tracking pixel" in ui.text_of(after)
    assert "Track opens" not in ui.buttons(after)

    insert = ui.buttons(after)["Insert tracked link"]
    assert {"key": "message_id", "value": message.id} in insert["parameters"]
    click = ui.press(
        insert,
        ui.event("compose"),
        link_url="https://example.com/deck?q=1&r=2",
        link_text="Our <deck>",
    )
    response = post(web, issuer, ui.path_of(insert["function"]), click)
    body = ui.draft_update(response)
    assert body["type"] == "IN_PLACE_INSERT"
    anchor = body["insertContents"][0]["content"]
    (link,) = app.store.get_message(message.id).links
    assert link.url == "https://example.com/deck?q=1&r=2"
    assert "Our &lt;deck&gt;</a>" in anchor
    tracked = anchor.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert tracked == app.urls.link(message.id, link)
    now = ui.text_of(ui.the_card(response))
    assert "Open tracking pixel" in now and "https://example.com/deck?q=1&amp;r=2" in now
    assert len(app.store.list_messages(USER)) == 1  # the link joined the same message

    # the recipient opens and clicks, minutes later; the homepage shows it
    app.clock.advance(minutes=12)
    web.get(app.urls.pixel(message.id)[len(BASE) :], headers={"User-Agent": PROXY_UA})
    app.clock.advance(minutes=1)
    redirect = web.get(tracked[len(BASE) :], headers={"User-Agent": BROWSER_UA})
    assert redirect.status_code == 302
    assert redirect.headers["Location"] == "https://example.com/deck?q=1&r=2"
    app.worker.drain([HITS])
    home = ui.text_of(ui.the_card(post(web, issuer, "/addon/homepage", ui.event("homepage"))))
    assert "Clicked (1 click). Opened" in home


def test_compose_without_recipients_or_with_a_bad_link_says_so_and_writes_nothing(web, app, issuer):
    empty = ui.event("compose")
    empty["gmail"] = {"toRecipients": [], "ccRecipients": [], "bccRecipients": []}
    card = ui.the_card(post(web, issuer, "/addon/compose", empty))
    track = ui.buttons(card)["Track opens"]
    refused = ui.the_card(post(web, issuer, "/addon/compose/track", ui.press(track, empty)))
    assert "Add at least one recipient" in ui.text_of(refused)
    insert = ui.buttons(card)["Insert tracked link"]
    bad = ui.press(insert, ui.event("compose"), link_url="javascript:alert(1)")
    response = post(web, issuer, "/addon/compose/link", bad)
    assert "hostAppAction" not in response["renderActions"]
    assert "Not a web link: javascript:alert(1)" in ui.text_of(ui.the_card(response))
    assert app.store.list_messages(USER) == []


def test_forged_message_id_in_parameters_is_refused(web, app, issuer):
    other = track_message(
        app.store,
        app.urls,
        app.clock,
        records=app.records,
        sender="other@example.com",
        recipients=["a@x.org"],
    ).message
    click = ui.event("compose_link_click")
    click["commonEventObject"]["parameters"]["message_id"] = other.id
    response = post(web, issuer, "/addon/compose/link", click)
    assert "hostAppAction" not in response["renderActions"]
    assert app.store.get_message(other.id).links == ()


def test_message_card_finds_own_pixel_records_self_view_and_shows_detail(web, app, issuer, gmail):
    message = track_message(
        app.store,
        app.urls,
        app.clock,
        records=app.records,
        sender=USER,
        recipients=["a@x.org"],
        subject="Tracked one",
    ).message
    pixel = app.urls.pixel(message.id)
    show(gmail, f'<div>Hi</div><img src="{pixel}" width="1" height="1" alt="">')
    card = ui.the_card(post(web, issuer, "/addon/message", ui.event("message")))
    assert "Tracked one" in ui.text_of(card) and "your own copy" in ui.text_of(card)
    assert app.store.list_self_views(message.id) == [app.clock.now()]
    (request,) = gmail.server.requests
    assert request["path"].startswith(f"/gmail/v1/users/me/messages/{MESSAGE_ID}?")
    assert "format=full" in request["path"]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["authorization"] == f"Bearer {USER_OAUTH_TOKEN}"
    assert headers["x-goog-gmail-access-token"] == "AKeBgvW-test-gmail-access-token"


@pytest.mark.parametrize("case", ["no-pixel", "forged", "someone-elses", "received"])
def test_message_card_says_not_tracked_and_records_nothing(web, app, issuer, gmail, case):
    mine = track_message(
        app.store, app.urls, app.clock, records=app.records, sender=USER, recipients=["a@x.org"]
    ).message
    theirs = track_message(
        app.store,
        app.urls,
        app.clock,
        records=app.records,
        sender="boss@example.com",
        recipients=[USER],
    ).message
    html = {
        "no-pixel": "<p>plain email</p>",
        "forged": f'<img src="{BASE}/p/{"A" * 60}.gif">',
        "someone-elses": f'<img src="{app.urls.pixel(theirs.id)}">',
        "received": f'<img src="{app.urls.pixel(mine.id)}">',
    }[case]
    sender = "boss@example.com" if case in ("someone-elses", "received") else USER
    show(gmail, html, sender=sender, labels=("INBOX",) if sender != USER else ("SENT",))
    card = ui.the_card(post(web, issuer, "/addon/message", ui.event("message")))
    assert "not one you tracked" in ui.text_of(card)
    assert app.store.list_self_views(mine.id) == [] == app.store.list_self_views(theirs.id)


def test_message_card_when_gmail_refuses(web, app, issuer, gmail):
    # 403: Gmail refuses the token. (A 401 makes google-auth try a refresh the add-on's
    # credentials cannot do, and the card fails with a 500: reported, not covered here.)
    gmail.failures.append(google_error(403, "PERMISSION_DENIED", "Insufficient Permission"))
    card = ui.the_card(post(web, issuer, "/addon/message", ui.event("message")))
    assert "could not read this email" in ui.text_of(card)


def test_settings_save_valid_form_writes_settings(web, app, issuer):
    card = ui.the_card(post(web, issuer, "/addon/settings", ui.event("homepage")))
    assert ui.buttons(card)["Save"]["function"] == BASE + "/addon/settings/save"
    post(web, issuer, "/addon/settings/save", ui.event("settings_save_click"))
    saved = app.store.get_settings(USER)
    assert saved.slack_webhook == "https://hooks.slack.com/services/T000/B000/XXXXXXXX"
    assert (saved.chat_app_dm, saved.chat_webhook, saved.email_to) == (
        True,
        None,
        "alerts@example.com",
    )
    assert (saved.notify.value, saved.strictness.value, saved.timezone) == (
        "every-open",
        "strict",
        "Europe/Berlin",
    )
    assert (saved.quiet_hours.start, saved.quiet_hours.end) == (22, 7)
    assert app.store.get_record(DIGEST_USERS, USER) is not None  # in the daily digest fan-out


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("slack_webhook", "http://hooks.slack.com/services/T/B/X", "must start with https://"),
        ("slack_webhook", "https://hooks.slack.com.evil.example/services/T/B/X", "must be on"),
        ("slack_webhook", "https://user@hooks.slack.com/services/T/B/X", "user name"),
        ("slack_webhook", "", "paste the incoming webhook URL"),
        ("email_to", "not an address", "not an email address"),
        ("quiet_end", "off", "choose a start and an end hour"),
        ("notify", "always", "choose one of first-open"),
    ],
)
def test_settings_errors_are_shown_and_nothing_is_saved(web, app, issuer, field, value, problem):
    click = ui.event("settings_save_click")
    click["commonEventObject"]["formInputs"][field] = {"stringInputs": {"value": [value]}}
    response = post(web, issuer, "/addon/settings/save", click)
    text = ui.text_of(ui.the_card(response))
    assert "Nothing was saved" in text and problem in text
    assert app.store.get_settings(USER).to_dict() == app.store.get_settings("x@y.z").to_dict() | {
        "user": USER
    }


def test_chat_webhook_must_be_on_chat_googleapis(web, app, issuer):
    click = ui.event("settings_save_click")
    form = click["commonEventObject"]["formInputs"]
    form["chat_mode"] = {"stringInputs": {"value": ["webhook"]}}
    form["chat_webhook"] = {"stringInputs": {"value": ["https://hooks.slack.com/services/T/B/X"]}}
    text = ui.text_of(ui.the_card(post(web, issuer, "/addon/settings/save", click)))
    assert "must be on chat.googleapis.com" in text
    form["chat_webhook"]["stringInputs"]["value"] = [
        "https://chat.googleapis.com/v1/spaces/AAAA/messages?key=k&token=t"
    ]
    post(web, issuer, "/addon/settings/save", click)
    assert app.store.get_settings(USER).chat_webhook.startswith("https://chat.googleapis.com/v1/")


def test_route_by_query_parameter_and_by_invoked_function(web, app, issuer):
    card = ui.the_card(post(web, issuer, "/addon?route=compose", ui.event("compose")))
    assert card["name"] == "compose"
    event = ui.event("homepage")
    event["commonEventObject"]["invokedFunction"] = BASE + "/addon/settings"
    assert ui.the_card(post(web, issuer, "/addon", event))["name"] == "settings"


def _refused(web, app, headers: dict[str, str], event: dict[str, Any], path="/addon/compose/track"):
    event["commonEventObject"]["formInputs"] = {}
    response = web.post(path, json=event, headers=headers)
    assert response.status_code == 401
    assert response.get_json() == {"error": "unauthorized"}
    assert app.store.list_messages(USER) == []


def test_unverified_requests_are_refused_and_change_nothing(web, app, issuer):
    other = TokenIssuer()  # a different key: a forged signature (its certs are never served)
    event = ui.event("compose_track_click")
    headers, event = signed(issuer, event, "/addon/compose/track")
    good_user = event["authorizationEventObject"]["userIdToken"]
    cases = {
        "no header": {},
        "dev token without dev mode": {"Authorization": f"Bearer dev:{USER}"},
        "forged": {
            "Authorization": "Bearer "
            + other.token(audience=BASE + "/addon/compose/track", email=SERVICE_ACCOUNT)
        },
        "expired": {
            "Authorization": "Bearer "
            + issuer.token(
                audience=BASE + "/addon/compose/track",
                email=SERVICE_ACCOUNT,
                issued_at=datetime.now(UTC).timestamp() - 7200,
                lifetime=3600,
            )
        },
        "wrong audience": {
            "Authorization": "Bearer "
            + issuer.token(
                audience="https://evil.example/addon/compose/track", email=SERVICE_ACCOUNT
            )
        },
        "wrong email": {
            "Authorization": "Bearer "
            + issuer.token(
                audience=BASE + "/addon/compose/track",
                email="service-999@gcp-sa-gsuiteaddons.iam.gserviceaccount.com",
            )
        },
        "wrong issuer": {
            "Authorization": "Bearer "
            + issuer.token(
                audience=BASE + "/addon/compose/track",
                email=SERVICE_ACCOUNT,
                issuer="https://evil.example",
            )
        },
    }
    for bad in cases.values():
        _refused(web, app, bad, json.loads(json.dumps(event)))
    # a genuine system token but a bad user token inside the body
    for user_token in (
        other.token(audience=CLIENT_ID, email=USER),
        issuer.token(audience="someone-else.apps.googleusercontent.com", email=USER),
        issuer.token(audience=CLIENT_ID, email=USER, email_verified=False),
        "",
    ):
        forged = json.loads(json.dumps(event))
        forged["authorizationEventObject"]["userIdToken"] = user_token
        _refused(web, app, headers, forged)
    assert good_user  # the genuine request goes through
    assert web.post("/addon/compose/track", json=event, headers=headers).status_code == 200
    assert len(app.store.list_messages(USER)) == 1


@pytest.mark.parametrize("verified", ["true", "false", 1, None])
def test_a_user_token_needs_email_verified_to_be_the_boolean_true(web, app, issuer, verified):
    """In the event (beside a genuine system token) and as the Apps Script bearer alike."""
    event = ui.event("compose_track_click")
    headers, event = signed(issuer, event, "/addon/compose/track")
    unverified = issuer.token(audience=CLIENT_ID, email=USER, email_verified=verified)
    event["authorizationEventObject"]["userIdToken"] = unverified
    _refused(web, app, headers, event)
    homepage = ui.event("homepage")
    del homepage["authorizationEventObject"]
    _refused(web, app, {"Authorization": f"Bearer {unverified}"}, homepage, path="/addon/homepage")


def test_apps_script_identity_token_is_the_user(web, app, issuer):
    token = issuer.token(audience=CLIENT_ID, email="Sam@Example.com")
    event = ui.event("homepage")
    del event["authorizationEventObject"]
    response = web.post("/addon/homepage", json=event, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    ui.check_response(response.get_json())
    settings = web.post("/addon/settings", json=event, headers={"Authorization": f"Bearer {token}"})
    assert "sam@example.com" in ui.text_of(ui.the_card(ui.check_response(settings.get_json())))


def test_detail_card_of_a_busy_message_stays_within_limits(web, app, issuer):
    message = track_message(
        app.store,
        app.urls,
        app.clock,
        records=app.records,
        sender=USER,
        recipients=["a@x.org"],
        subject="x" * 500,
    ).message
    for i in range(250):
        app.store.add_event(
            Event(
                f"b{i}",
                message.id,
                "open",
                app.clock.now(),
                Verdict.BOT,
                ("bot-user-agent",),
                "other",
            )
        )
    press = ui.press(
        {
            "function": BASE + "/addon/detail",
            "parameters": [{"key": "message_id", "value": message.id}],
        },
        ui.event("homepage"),
    )
    card = ui.the_card(post(web, issuer, "/addon/detail", press))
    assert "170 older events not shown" in ui.text_of(card)


def test_malformed_bodies_are_refused_before_anything_else(web, app, issuer):
    assert web.post("/addon/homepage", data=b"{oops").status_code == 401
    headers, _ = signed(issuer, ui.event("homepage"), "/addon/homepage")
    assert web.post("/addon/homepage", data=b"{oops", headers=headers).status_code == 401
    assert web.post("/addon/nowhere", json=ui.event("homepage")).status_code == 401


def test_message_card_without_a_from_header_trusts_ownership(web, app, issuer, gmail):
    message = track_message(
        app.store,
        app.urls,
        app.clock,
        records=app.records,
        sender=USER,
        recipients=["a@x.org"],
        subject="Bare",
    ).message
    show(gmail, f'<img src="{app.urls.pixel(message.id)}">', sender=None, labels=())
    card = ui.the_card(post(web, issuer, "/addon/message", ui.event("message")))
    assert "Bare" in ui.text_of(card)
    assert len(app.store.list_self_views(message.id)) == 1


def test_the_proxy_hit_after_the_sender_views_their_copy_is_self(web, app, issuer, gmail):
    message = track_message(
        app.store,
        app.urls,
        app.clock,
        records=app.records,
        sender=USER,
        recipients=["a@x.org"],
        subject="Mine",
    ).message
    app.clock.advance(minutes=30)
    show(gmail, f'<img src="{app.urls.pixel(message.id)}">')
    post(web, issuer, "/addon/message", ui.event("message"))
    app.clock.advance(seconds=2)  # Gmail's proxy fetches the image as the copy is shown
    web.get(app.urls.pixel(message.id)[len(BASE) :], headers={"User-Agent": PROXY_UA})
    app.worker.drain([HITS])
    (event,) = app.store.list_events(message.id)
    assert event.verdict is Verdict.SELF and "after-self-view" in event.reasons
    press = ui.press(
        {
            "function": BASE + "/addon/detail",
            "parameters": [{"key": "message_id", "value": message.id}],
        },
        ui.event("homepage"),
    )
    text = ui.text_of(ui.the_card(post(web, issuer, "/addon/detail", press)))
    assert "Open · You" in text and "right after you opened your own copy" in text.lower()
    assert "Not opened yet" in text  # the sender's own view is not an open


def test_the_homepage_footer_button_is_filled(web, app, issuer):
    # The card spec requires a colour on the fixed footer's primary button (Apps Script's
    # FixedFooter: the primary button must be FILLED); the schema requires it too.
    card = post(web, issuer, "/addon/homepage", ui.event("homepage"))
    footer = card["action"]["navigations"][0]["pushCard"]["fixedFooter"]["primaryButton"]
    assert set(footer["color"]) == {"red", "green", "blue", "alpha"}


GRANTED_ALL = [
    "https://www.googleapis.com/auth/gmail.addons.execute",
    "https://www.googleapis.com/auth/gmail.addons.current.action.compose",
    "https://www.googleapis.com/auth/gmail.addons.current.message.metadata",
    "https://www.googleapis.com/auth/gmail.addons.current.message.readonly",
    "https://www.googleapis.com/auth/userinfo.email",
]


def test_a_partial_grant_is_asked_for_the_missing_scopes_and_nothing_is_written(web, app, issuer):
    # authorizationEventObject.authorizedScopes: what a user granted under granular consent.
    event = ui.event("compose_track_click")
    granted = [s for s in GRANTED_ALL if "compose" not in s and "metadata" not in s]
    event.setdefault("authorizationEventObject", {})["authorizedScopes"] = granted
    answer = post(web, issuer, "/addon/compose/track", event)
    assert answer == {
        "requesting_google_scopes": {
            "scopes": [
                "https://www.googleapis.com/auth/gmail.addons.current.action.compose",
                "https://www.googleapis.com/auth/gmail.addons.current.message.metadata",
            ]
        }
    }
    assert app.store.list_messages(USER, limit=10) == []
    # The homepage needs neither: it renders.
    home = ui.event("homepage")
    home.setdefault("authorizationEventObject", {})["authorizedScopes"] = granted
    assert "action" in post(web, issuer, "/addon/homepage", home)
    # Once granted, the same press tracks the draft.
    event["authorizationEventObject"]["authorizedScopes"] = GRANTED_ALL
    done = post(web, issuer, "/addon/compose/track", event)
    assert "hostAppAction" in done["renderActions"]


def test_without_the_email_scope_the_user_is_asked_for_it_not_refused(web, app, issuer):
    event = ui.event("homepage")
    headers, body = signed(issuer, event, "/addon/homepage")
    del body["authorizationEventObject"]["userIdToken"]  # no email scope, no user ID token
    body["authorizationEventObject"]["authorizedScopes"] = GRANTED_ALL[:1]
    response = web.post("/addon/homepage", json=body, headers=headers)
    assert response.status_code == 200
    assert ui.check_response(response.get_json())["requesting_google_scopes"]["scopes"] == [
        "https://www.googleapis.com/auth/userinfo.email"
    ]
    # A forged system token still gets 401, whatever the scopes say.
    headers["Authorization"] = "Bearer " + issuer.token(audience=BASE + "/x", email="a@b.c")
    assert web.post("/addon/homepage", json=body, headers=headers).status_code == 401


def test_the_add_on_learns_the_users_chat_id_from_their_verified_token(web, app, issuer):
    # The userIdToken's ``sub`` is the Google user id; Chat's DM lookup (findDirectMessage,
    # app authentication) needs users/{id}, as Google's travel-adk-ai-agent sample does.
    post(web, issuer, "/addon/homepage", ui.event("homepage"))
    assert app.store.get_record("chat-user", USER) == {"name": "users/10769150350006150715"}


def test_the_settings_card_shows_the_browsers_web_push_reaches(web, app, issuer):
    from functions.standins.web_push import BrowserKeys
    from mailbeacon.push import EndpointRules, add_subscription

    card = ui.the_card(post(web, issuer, "/addon/settings", ui.event("homepage")))
    assert "Browser notifications (Web Push)" in ui.text_of(card) and "Off" in ui.text_of(card)
    for name in ("laptop", "phone"):
        body = BrowserKeys().subscription(f"https://fcm.googleapis.com/fcm/send/{name}")
        add_subscription(app.records, USER, body, EndpointRules(), app.clock.now())
    card = ui.the_card(post(web, issuer, "/addon/settings", ui.event("homepage")))
    assert "2 browsers" in ui.text_of(card)
    assert '"url": "https://mb.example.com/dashboard/settings"' in json.dumps(card)


def test_an_alert_email_domain_the_operator_allowed_is_accepted_and_no_other(
    tmp_path: Path, issuer: TokenIssuer, gmail: Gmail
) -> None:
    """MAILBEACON_ALERT_EMAIL_DOMAINS: the same rule as the CLI and the dashboard apply."""
    env = {
        "MAILBEACON_GOOGLE_CERTS_URL": issuer.certs_url,
        "MAILBEACON_ADDON_SERVICE_ACCOUNT": SERVICE_ACCOUNT,
        "MAILBEACON_ADDON_CLIENT_ID": CLIENT_ID,
        "MAILBEACON_WORKSPACE_DOMAINS": "example.com",
        "MAILBEACON_GMAIL_API_URL": gmail.url,
        "MAILBEACON_ALERT_EMAIL_DOMAINS": "partner.example",
    }
    app = bootstrap(load_config(env, data_dir=tmp_path / "data", public_url=BASE))
    try:
        web = create_app(app).test_client()
        click = ui.event("settings_save_click")
        inputs = click["commonEventObject"]["formInputs"]
        inputs["email_to"] = {"stringInputs": {"value": ["desk@partner.example"]}}
        post(web, issuer, "/addon/settings/save", click)
        assert app.store.get_settings(USER).email_to == "desk@partner.example"

        inputs["email_to"] = {"stringInputs": {"value": ["eve@elsewhere.example"]}}
        text = ui.text_of(ui.the_card(post(web, issuer, "/addon/settings/save", click)))
        assert "Nothing was saved" in text and "partner.example" in text
        assert app.store.get_settings(USER).email_to == "desk@partner.example"
    finally:
        app.close()


class CountingRecords:
    """The Records port, counting the reads of each namespace (the seam the add-on reads)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.reads: dict[str, int] = {}

    def get_record(self, namespace: str, key: str) -> Any:
        self.reads[namespace] = self.reads.get(namespace, 0) + 1
        return self.inner.get_record(namespace, key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_track_and_insert_link_read_the_domain_policy_once_each(web, app, issuer):
    from mailbeacon.records import Namespace

    counting = CountingRecords(app.records)
    app.records = counting
    card = ui.the_card(post(web, issuer, "/addon/compose", ui.event("compose")))
    counting.reads.clear()
    track = ui.buttons(card)["Track opens"]
    response = post(
        web, issuer, ui.path_of(track["function"]), ui.press(track, ui.event("compose"))
    )
    assert counting.reads.get(Namespace.POLICIES) == 1
    insert = ui.buttons(ui.the_card(response))["Insert tracked link"]
    counting.reads.clear()
    click = ui.press(insert, ui.event("compose"), link_url="https://example.com/deck")
    post(web, issuer, ui.path_of(insert["function"]), click)
    assert counting.reads.get(Namespace.POLICIES) == 1
