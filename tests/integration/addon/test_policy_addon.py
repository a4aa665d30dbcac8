"""The domain policy as a user meets it in Gmail: the compose card through the real add-on
endpoint (Google-signed tokens against loopback certificates, the SQLite store)."""

from __future__ import annotations

from typing import Any

from mailbeacon.policy import PolicyChange, update_policy
from tests.support import addon as ui

from .conftest import USER, post

DOMAIN = "example.com"  # the sender's; the compose fixture has two recipients inside it


def set_policy(app: Any, **change: Any) -> None:
    update_policy(
        app.records, DOMAIN, PolicyChange(**change), actor="boss@example.com", at=app.clock.now()
    )


def only_internal(event: dict[str, Any]) -> dict[str, Any]:
    event["gmail"] = {
        "toRecipients": ["linus@example.com"],
        "ccRecipients": [],
        "bccRecipients": [],
    }
    return event


def test_tracking_off_the_compose_card_explains_and_offers_no_track_button(web, app, issuer):
    set_policy(app, tracking=False)
    card = ui.the_card(post(web, issuer, "/addon/compose", ui.event("compose")))
    text = ui.text_of(card)
    assert "turned tracking off for example.com" in text
    assert "Track opens" not in ui.buttons(card)
    assert "Insert tracked link" not in ui.buttons(card)
    # A press that still arrives (a card opened before the change) is refused, nothing stored.
    press = ui.press(
        {"function": "https://mb.example.com/addon/compose/track"}, ui.event("compose")
    )
    answer = ui.the_card(post(web, issuer, "/addon/compose/track", press))
    assert "tracking is turned off for example.com" in ui.text_of(answer)
    assert app.store.list_messages(USER) == []


def test_track_internal_off_refuses_colleagues_only_and_warns_when_some_are_inside(
    web, app, issuer
):
    set_policy(app, track_internal=False)
    inside = ui.the_card(post(web, issuer, "/addon/compose", only_internal(ui.event("compose"))))
    assert "Every recipient is inside example.com" in ui.text_of(inside)
    assert "Track opens" not in ui.buttons(inside)
    press = ui.press(
        {"function": "https://mb.example.com/addon/compose/track"},
        only_internal(ui.event("compose")),
    )
    refused = ui.the_card(post(web, issuer, "/addon/compose/track", press))
    assert "does not track mail among its own people" in ui.text_of(refused)
    assert app.store.list_messages(USER) == []

    mixed = ui.the_card(post(web, issuer, "/addon/compose", ui.event("compose")))
    assert "2 recipient(s) are inside example.com: their opens are counted too" in ui.text_of(mixed)
    track = ui.buttons(mixed)["Track opens"]
    response = post(
        web, issuer, ui.path_of(track["function"]), ui.press(track, ui.event("compose"))
    )
    assert app.urls.pixel(app.store.list_messages(USER)[0].id) in str(ui.draft_update(response))


def test_the_disclosure_is_inserted_with_the_pixel_and_shown_on_the_card(web, app, issuer):
    set_policy(app, disclosure="Example Corp measures whether <this> email is read.")
    card = ui.the_card(post(web, issuer, "/addon/compose", ui.event("compose")))
    assert "Example Corp measures whether &lt;this&gt; email is read." in ui.text_of(card)
    track = ui.buttons(card)["Track opens"]
    response = post(
        web, issuer, ui.path_of(track["function"]), ui.press(track, ui.event("compose"))
    )
    (content,) = ui.draft_update(response)["insertContents"]
    (message,) = app.store.list_messages(USER)
    html = content["content"]
    notice = html.index("Example Corp measures whether &lt;this&gt; email is read.")
    assert notice < html.index(app.urls.pixel(message.id))


def test_a_channel_the_policy_leaves_out_cannot_be_saved_from_the_settings_card(web, app, issuer):
    set_policy(app, channels=["chat", "email"])
    response = post(web, issuer, "/addon/settings/save", ui.event("settings_save_click"))
    text = ui.text_of(ui.the_card(response))
    assert "Nothing was saved" in text and "do not allow alerts by slack" in text
    assert app.store.get_settings(USER).slack_webhook is None
