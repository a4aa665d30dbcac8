"""Settings: alert channels (through mailbeacon.settings, as the CLI and the add-on), the
browsers that get Web Push, Gmail labels, and personal access tokens for /api/v1."""

from __future__ import annotations

from typing import Any

from flask import Response, g, request

from mailbeacon import access_tokens, localtime, push, words
from mailbeacon.errors import InvalidInput
from mailbeacon.model import Settings
from mailbeacon.records import Namespace
from mailbeacon.sentwatch import set_label_opt_in

from ..site import Site, Views, form, not_found, page, see

views = Views()

CHOICES = {
    "notify": tuple(words.NOTIFY.items()),
    "strictness": tuple(words.STRICTNESS.items()),
    "hours": (("", "Off"), *((str(h), f"{h:02d}:00") for h in range(24))),
}


def form_values(settings: Settings, browser_zone: str) -> dict[str, Any]:
    """What the settings form shows for saved settings (the zone: saved, else the browser's)."""
    quiet = settings.quiet_hours
    return {
        "notify": settings.notify.value,
        "slack_webhook": settings.slack_webhook or "",
        "slack_app_dm": settings.slack_app_dm,
        "chat_webhook": settings.chat_webhook or "",
        "chat_app_dm": settings.chat_app_dm,
        "email_to": settings.email_to or "",
        "quiet_start": str(quiet.start) if quiet else "",
        "quiet_end": str(quiet.end) if quiet else "",
        "timezone": settings.timezone or browser_zone,
        "strictness": settings.strictness.value,
    }


def settings_page(site: Site, status: int = 200, **extra: Any) -> Response:
    deps = site.deps
    tokens = access_tokens.list_tokens(deps.records, g.user)
    settings = deps.store.get_settings(g.user)
    extra.setdefault("values", form_values(settings, site.zone(settings.timezone)))
    extra.setdefault("errors", {})
    extra["settings"] = settings
    if deps.config.sentwatch.labels:  # offered only when the operator turned labels on
        labels = deps.records.get_record(Namespace.LABEL_OPT_IN, g.user.lower())
        extra["gmail_labels"] = labels is not None
    browsers = [s.to_public() for s in push.list_subscriptions(deps.records, g.user)]
    return site.render(
        "settings.html",
        status,
        tokens=tokens,
        choices=CHOICES,
        zones=localtime.zones(),
        browsers=browsers,
        push_ready=deps.vapid.available,
        **extra,
    )


@views.get("/dashboard/settings")
@page
def settings(site: Site) -> Response:
    return settings_page(site)


@views.post("/dashboard/settings")
@form
def save_settings(site: Site) -> Response:
    from mailbeacon.settings import InvalidSettings, SettingsChange

    posted = request.form
    start, end = posted.get("quiet_start", ""), posted.get("quiet_end", "")
    quiet = f"{start}-{end}" if start and end else ""
    change = SettingsChange(
        notify=posted.get("notify", ""),
        slack_webhook=posted.get("slack_webhook", ""),
        slack_app_dm=posted.get("slack_app_dm") == "on",
        chat_webhook=posted.get("chat_webhook", ""),
        chat_app_dm=posted.get("chat_app_dm") == "on",
        email_to=posted.get("email_to", ""),
        quiet_hours=quiet,
        timezone=posted.get("timezone", "") or "UTC",
        strictness=posted.get("strictness", ""),
        clear_problems=posted.get("clear_problems") == "on",
    )
    try:
        if bool(start) != bool(end):
            raise InvalidSettings({"quiet_hours": words.QUIET_BOTH})
        site.deps.settings.update(g.user, change)
    except InvalidSettings as exc:
        return settings_page(
            site,
            400,
            errors=exc.errors,
            values={**posted.to_dict(), "slack_app_dm": "slack_app_dm" in posted,
                    "chat_app_dm": "chat_app_dm" in posted},
            problem="Nothing was saved: " + words.field_errors(exc.errors),
        )  # fmt: skip
    return settings_page(site, saved=True)


@views.post("/dashboard/settings/gmail-labels")
@form
def gmail_labels(site: Site) -> Response:
    """The user's own opt-in (the operator set up gmail.modify delegation)."""
    deps = site.deps
    if not deps.config.sentwatch.labels:
        return not_found()
    set_label_opt_in(deps.records, g.user, request.form.get("labels") == "on", deps.clock.now())
    return see("/dashboard/settings")


@views.post("/dashboard/settings/push/<sub_id>/remove")
@form
def remove_browser(site: Site, sub_id: str) -> Response:
    if not push.delete_subscription(site.deps.records, g.user, sub_id):
        return not_found()
    return see("/dashboard/settings")


@views.post("/dashboard/settings/tokens")
@form
def create_token(site: Site) -> Response:
    try:
        token, secret = access_tokens.create_token(
            site.deps.records, g.user, request.form.get("name", ""), site.deps.clock.now()
        )
    except InvalidInput as exc:
        return settings_page(site, 400, problem=str(exc))
    return settings_page(site, created=token, secret=secret)


@views.post("/dashboard/settings/tokens/<token_id>/revoke")
@form
def revoke_token(site: Site, token_id: str) -> Response:
    if not access_tokens.revoke_token(site.deps.records, g.user, token_id):
        return not_found()
    return see("/dashboard/settings")
