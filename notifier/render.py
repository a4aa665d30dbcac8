"""Plain facts of an alert (who, when, client, link, dashboard) shared by all channels, in the
one vocabulary (mailbeacon.words) and the user's own time."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from mailbeacon import localtime, words
from mailbeacon.model import Event

from .decide import Alert


def local_time(at: datetime, timezone: str) -> str:
    """A time as the user reads it: their zone, minutes, zone abbreviation ("Mar 2, 10:15
    CET"), as the dashboard and the add-on show it."""
    return localtime.when_zone(at, timezone)


@dataclass(frozen=True)
class AlertView:
    """An alert reduced to labelled strings, so Slack, Chat and email say the same thing."""

    headline: str
    subject: str
    who: str
    when: str
    client: str
    link: str | None
    dashboard_url: str
    thread_key: str
    message_id: str
    kind: str = "opened"
    sender: str | None = None
    """Who replied (a reply alert)."""
    why: str = ""

    @classmethod
    def of(cls, alert: Alert, *, dashboard_url: str, timezone: str) -> AlertView:
        message = alert.message
        return cls(
            headline=alert.headline,
            subject=message.subject or "(no subject)",
            who=", ".join(message.recipients) or "someone",
            when=local_time(alert.event.at, timezone),
            client=words.client(alert.event.client, alert.event.user_agent),
            link=alert.event.url if alert.event.kind == "click" else None,
            dashboard_url=dashboard_url,
            thread_key=f"mailbeacon-{message.id}",
            message_id=message.id,
            kind=alert.kind.value,
            sender=alert.event.sender,
        )

    def fields(self) -> list[tuple[str, str]]:
        rows = [("Subject", self.subject), ("To", self.who), ("When", self.when)]
        rows.append(("From", self.sender) if self.sender else ("Client", self.client))
        if self.link:
            rows.append(("Link clicked", self.link))
        if self.why:
            rows.append(("Why", self.why))
        return rows

    def corrected(self, event: Event) -> AlertView:
        """The same alert as it should have read: hindsight found a machine, not a person."""
        did = "clicked a link in" if event.kind == "click" else "opened"
        who = words.VERDICT_SENTENCE.get(event.verdict.value, "a machine")
        headline = f"Correction: {who}, not a person, {did} “{self.subject}”. Not counted."
        return replace(self, headline=headline, why=words.reasons(event.reasons))

    def text(self) -> str:
        """A plain-text rendering: Slack's notification fallback and the email text part."""
        lines = [self.headline, ""]
        lines += [f"{label}: {value}" for label, value in self.fields()]
        lines += ["", f"Details: {self.dashboard_url}"]
        return "\n".join(lines)
