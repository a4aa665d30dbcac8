"""Loopback stand-ins for the clouds Mailbeacon talks to: Google (ID-token certificates and
token minting, sign-in, Gmail, Chat, the Firestore and Pub/Sub emulators) and Slack (OAuth, Web
API, webhooks), plus webhook receivers and a Web Push service.

Each one is a real HTTP server on 127.0.0.1 that speaks the platform's published wire format
(its module's docstring names the reference), so the product's own clients run unchanged
against it. They are product code because `mailbeacon deploy --rehearse` walks a user's journey
through them; the tests and the benches use the same ones. Nothing here imports Flask or
Mailbeacon's edge: a stand-in only knows the wire.
"""
