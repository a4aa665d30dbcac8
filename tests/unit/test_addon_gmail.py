"""Reading a Gmail message resource and finding pixel tokens in it; route names."""

from __future__ import annotations

import base64

from addon.config import AddonConfig, resolve_route
from mailbeacon.google.gmail import GmailReader, parse_message, pixel_tokens


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_nested_parts_sender_and_labels() -> None:
    message = parse_message(
        {
            "id": "m1",
            "labelIds": ["SENT", "IMPORTANT", 3],
            "payload": {
                "mimeType": "multipart/mixed",
                "headers": [
                    {"name": "Subject", "value": "x"},
                    {"name": "FROM", "value": "Sam <SAM@x.org>"},
                ],
                "parts": [
                    {
                        "mimeType": "multipart/alternative",
                        "parts": [
                            {"mimeType": "text/plain", "body": {"data": b64("plain")}},
                            {
                                "mimeType": "text/html",
                                "body": {"data": b64('<img src="https://h/p/AAAA.gif">')},
                            },
                        ],
                    },
                    {"mimeType": "application/pdf", "body": {"attachmentId": "att"}},
                    {"mimeType": "text/html", "body": {"data": "!!not base64!!"}},
                ],
            },
        }
    )
    assert (message.id, message.sender, message.is_sent) == ("m1", "sam@x.org", True)
    assert "plain" in message.html and 'src="https://h/p/AAAA.gif"' in message.html


def test_pixel_tokens_found_once_each_in_order() -> None:
    token_a, token_b = "a" * 40, "B-_" * 12
    html = (
        f'<img src="https://mb.example.com/p/{token_a}.gif"><img src="http://x/p/{token_b}.gif">'
        f'<img src="https://mb.example.com/p/{token_a}.gif"> /p/short.gif /p/{"c" * 40}.png'
    )
    assert pixel_tokens(html) == [token_a, token_b]
    assert parse_message({}).html == "" and pixel_tokens("") == []


def test_gmail_endpoint_accepts_root_or_service_url() -> None:
    assert GmailReader("http://127.0.0.1:9").api_url == "http://127.0.0.1:9/"
    assert GmailReader("http://127.0.0.1:9/gmail/v1/").api_url == "http://127.0.0.1:9/"


def test_route_names_and_aliases() -> None:
    assert resolve_route("/compose/track/") == "compose/track"
    assert resolve_route("addon/homepage") == "homepage"
    assert resolve_route("HOME") == "homepage" and resolve_route("contextual") == "message"
    assert resolve_route("../etc") is None and resolve_route("") is None
    audiences = AddonConfig(base_url="https://mb.example.com").endpoint_audiences
    assert "https://mb.example.com/addon/compose" in audiences
    assert "https://mb.example.com/addon?route=compose" in audiences
    assert AddonConfig(base_url="b", audiences=("only",)).endpoint_audiences == ("only",)
