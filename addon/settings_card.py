"""The settings card: every notification setting, with the last save's problems next to the
fields they concern. The form names match ``settings_form.parse_settings``."""

from __future__ import annotations

from collections.abc import Mapping

from mailbeacon import words
from mailbeacon.model import Notify, Settings, Strictness

from . import cards as c
from .config import SAVE_SETTINGS, AddonConfig
from .settings_form import APP_DM, OFF, WEBHOOK
from .views import REMIND_OPTIONS

NOTIFY_TEXT = {n: words.NOTIFY[n.value] for n in Notify}  # the one vocabulary
STRICTNESS_TEXT = {s: words.STRICTNESS[s.value] for s in Strictness}
HOURS = [(OFF, "Off")] + [(str(h), f"{h:02d}:00") for h in range(24)]


def _problem(errors: Mapping[str, str], *names: str) -> list[c.Json]:
    found = [errors[n] for n in names if n in errors]
    return [c.paragraph(markup=f'<font color="#b3261e">{c.esc(e)}</font>') for e in found]


def _channel(
    prefix: str,
    label: str,
    webhook: str | None,
    app_dm: bool,
    errors: Mapping[str, str],
    form: Mapping[str, str],
) -> list[c.Json]:
    mode = form.get(f"{prefix}_mode") or (WEBHOOK if webhook else APP_DM if app_dm else OFF)
    options = [
        (OFF, "Off"),
        (WEBHOOK, f"{label} incoming webhook"),
        (APP_DM, f"Direct message from the Mailbeacon {label} app"),
    ]
    hint = (
        "https://hooks.slack.com/services/..."
        if prefix == "slack"
        else "https://chat.googleapis.com/v1/spaces/..."
    )
    return [
        c.selection(f"{prefix}_mode", label, options, mode, kind="RADIO_BUTTON"),
        *_problem(errors, f"{prefix}_mode"),
        c.text_input(
            f"{prefix}_webhook",
            f"{label} webhook URL",
            value=form.get(f"{prefix}_webhook", webhook or ""),
            hint=hint,
        ),
        *_problem(errors, f"{prefix}_webhook"),
    ]


def settings_card(
    cfg: AddonConfig,
    settings: Settings,
    timezone: str,
    *,
    errors: Mapping[str, str] | None = None,
    form: Mapping[str, str] | None = None,
    saved: bool = False,
    browsers: int = 0,
    dashboard_url: str = "",
) -> c.Json:
    """The form, filled from ``settings`` (or, after a refused save, from what was typed)."""
    errors = errors or {}
    form = form or {}
    head: list[c.Json] = []
    if errors:
        head.append(c.paragraph("Nothing was saved. Please fix the problems shown below."))
    elif saved:
        head.append(c.paragraph("Saved."))
    head.append(c.decorated(settings.user, top="Signed in as"))
    quiet = settings.quiet_hours
    channels = [
        *_channel("slack", "Slack", settings.slack_webhook, settings.slack_app_dm, errors, form),
        c.divider(),
        *_channel("chat", "Google Chat", settings.chat_webhook, settings.chat_app_dm, errors, form),
        c.divider(),
        c.text_input(
            "email_to",
            "Email alerts to (empty: no email)",
            value=form.get("email_to", settings.email_to or ""),
        ),
        *_problem(errors, "email_to"),
        c.divider(),
        c.decorated(
            f"{browsers} browser{'s' if browsers != 1 else ''}" if browsers else "Off",
            top="Browser notifications (Web Push)",
            bottom="Turn on in each browser from the dashboard's button.",
            end_button=c.button(
                "Dashboard", c.open_link(f"{dashboard_url or cfg.base_url}/dashboard/settings")
            ),
        ),
    ]
    when = [
        c.selection(
            "notify",
            words.SETTING["notify"],
            [(n.value, NOTIFY_TEXT[n]) for n in Notify],
            form.get("notify", settings.notify.value),
            kind="RADIO_BUTTON",
        ),
        *_problem(errors, "notify"),
        c.selection(
            "quiet_start",
            words.SETTING["quiet_start"],
            HOURS,
            form.get("quiet_start", str(quiet.start) if quiet else OFF),
            kind="DROPDOWN",
        ),
        *_problem(errors, "quiet_start"),
        c.selection(
            "quiet_end",
            words.SETTING["quiet_end"],
            HOURS,
            form.get("quiet_end", str(quiet.end) if quiet else OFF),
            kind="DROPDOWN",
        ),
        *_problem(errors, "quiet_end"),
        c.decorated(
            timezone or settings.timezone,
            top="Time zone (from Gmail)",
            bottom="Quiet hours follow this zone; it is updated when you save.",
        ),
        *_problem(errors, "timezone"),
        c.selection(
            "reply_alerts",
            "Replies",
            [("on", "Tell me when a person replies"), ("off", "No reply alerts")],
            form.get("reply_alerts", "on" if settings.reply_alerts else "off"),
            kind="RADIO_BUTTON",
        ),
        c.selection(
            "remind_days",
            "New tracked emails: follow-up reminder",
            REMIND_OPTIONS,
            form.get("remind_days", str(settings.remind_days or "off")),
            kind="DROPDOWN",
        ),
        *_problem(errors, "remind_days"),
    ]
    accuracy = [
        c.selection(
            "strictness",
            "How strictly to call a hit a machine",
            [(s.value, STRICTNESS_TEXT[s]) for s in Strictness],
            form.get("strictness", settings.strictness.value),
            kind="RADIO_BUTTON",
        ),
        *_problem(errors, "strictness"),
    ]
    if settings.problems:
        accuracy += [c.decorated(p, top="Delivery problem") for p in settings.problems[:10]]
    save = c.button("Save", c.on_action(cfg.url(SAVE_SETTINGS)), filled=True)
    sections = [
        c.section(head),
        c.section(channels, "Where to tell you"),
        c.section(when, "When"),
        c.section(accuracy, words.SETTING["strictness"]),
    ]
    return c.card(
        "Notification settings", sections, subtitle="Mailbeacon", name="settings", footer=save
    )
