"""Public endpoints of the platforms Mailbeacon talks to, named once.

These are defaults: configuration may point any of them at a loopback server (tests, the
rehearsal). Only strings live here; the code that calls them lives at the edges.
"""

from __future__ import annotations

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GMAIL_API_URL = "https://gmail.googleapis.com/"
CHAT_API_URL = "https://chat.googleapis.com/"
SLACK_API_URL = "https://slack.com/api/"
SLACK_WEBHOOK_HOST = "hooks.slack.com"
CHAT_WEBHOOK_HOST = "chat.googleapis.com"
CHAT_ISSUER_EMAILS = ("chat@system.gserviceaccount.com",)
CHAT_CERTS_URL = (
    "https://www.googleapis.com/service_accounts/v1/metadata/x509/chat@system.gserviceaccount.com"
)
