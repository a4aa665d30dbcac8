"""How the commands print for people: local times, plain words, aligned columns. ``--json``
prints the codes and UTC times instead (the contracts in DESIGN.md)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mailbeacon import localtime, words
from mailbeacon.clock import parse_time


def at(value: str | None, tz: str, now: datetime) -> str:
    """An ISO time as "Mar 2, 10:15 (2 hours ago)"; "never" for none."""
    if not value:
        return "never"
    moment = parse_time(value)
    return f"{localtime.when(moment, tz, now)} ({localtime.ago(moment, now)})"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int]) -> str:
    """Columns padded to ``widths`` (0: as long as it is), the header underlined."""

    def line(cells: Sequence[str]) -> str:
        out = []
        for cell, width in zip(cells, widths, strict=True):
            text = cell if not width or len(cell) <= width else cell[: width - 1] + "…"
            out.append(text.ljust(width) if width else text)
        return "  ".join(out).rstrip()

    return "\n".join([line(header), line(["-" * len(h) for h in header]), *map(line, rows)])


def machine_line(machine: dict[str, Any]) -> list[str]:
    """The stored summary's machine hits by kind and reason, in words (none: no line)."""
    text = words.machines(machine.get("by_verdict") or {}, machine.get("by_reason") or {})
    return [f"  Machines: {text}"] if text else []


def stats_text(data: dict[str, Any], tz: str, now: datetime) -> str:
    """`mailbeacon stats` for a person: what happened, newest first, in their time."""
    opens, clicks = data["opens"], data["clicks"]
    sent = data.get("sent_at") or data.get("created_at")
    devices = words.plural(opens["unique_human"], "device")
    lines = [
        f"{data['subject'] or '(no subject)'}",
        f"  To:       {', '.join(data.get('recipients', []))}",
        f"  Sent:     {at(sent, tz, now)}",
        f"  Status:   {words.status(data['status'])}",
        f"  Opens:    {opens['human']:,} by people ({devices}),"
        f" {opens['machine']:,} by machines (not counted)",
        f"  Clicks:   {clicks['human']:,} by people, {clicks['machine']:,} by machines",
        *machine_line(data.get("machine") or {}),
        f"  Last activity: {at(data.get('last_activity_at'), tz, now)}",
        f"  Id:       {data['message_id']}   (times in {tz})",
    ]
    for link in data.get("links", []):
        lines.append(
            f"  Link {link['index']}: {link['url']} ({words.plural(link['human_clicks'], 'click')})"
        )
    events = list(reversed(data["events"]))
    if not events:
        lines += ["", "No opens or clicks yet."]
        return "\n".join(lines)
    lines += ["", f"Timeline ({words.plural(len(events), 'event')}, newest first):"]
    for event in events:
        moment = localtime.stamp(parse_time(event["at"]), tz)
        what = words.KIND.get(event["kind"], event["kind"])
        who = words.verdict(event["verdict"])
        client = event.get("client_name") or words.client(event["client"])
        url = f" {event['url']}" if event.get("url") else ""
        why = words.reasons(event["reasons"])
        lines.append(f"  {moment}  {what:<5}  {who:<16}  {client}{url}")
        if event["verdict"] != "human" and why:
            lines.append(f"{'':22}why: {why}")
    return "\n".join(lines)


def settings_text(data: dict[str, Any]) -> str:
    """`mailbeacon settings` for a person: every setting by its name on the dashboard."""
    quiet = data.get("quiet_hours")
    zone = data.get("timezone") or ""
    muted = data.get("muted") or []
    problems = data.get("problems") or []
    browsers = (data.get("browser") or {}).get("subscriptions", 0)

    def value(text: str | None) -> str:
        return text if text else "not set"

    rows = [
        ("notify", words.NOTIFY.get(data["notify"], data["notify"])),
        ("slack_webhook", value(data.get("slack_webhook"))),
        ("slack_app_dm", "on" if data.get("slack_app_dm") else "off"),
        ("chat_webhook", value(data.get("chat_webhook"))),
        ("chat_app_dm", "on" if data.get("chat_app_dm") else "off"),
        ("email_to", value(data.get("email_to"))),
        (
            "quiet_hours",
            f"{quiet['start']:02d}:00 to {quiet['end']:02d}:00" if quiet else "off",
        ),
        ("timezone", zone or "not set (UTC; the dashboard uses your browser's)"),
        ("strictness", words.STRICTNESS.get(data["strictness"], data["strictness"])),
        ("muted", ", ".join(muted) if muted else "none"),
        ("browser", words.plural(browsers, "browser") if browsers else "none"),
        ("problems", "none" if not problems else f"{len(problems)}, newest last:"),
    ]
    width = max(len(words.SETTING[name]) for name, _ in rows) + 1
    lines = [f"Settings of {data['user']}"]
    lines += [f"  {(words.SETTING[name] + ':').ljust(width)} {text}" for name, text in rows]
    lines += [f"    {problem}" for problem in problems]
    return "\n".join(lines)
