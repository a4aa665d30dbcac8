"""Small ASGI helpers: plain answers, header look-ups, and bodies read under a deadline."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from .budget import Budget

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

TEXT = b"text/plain; charset=utf-8"
JSON = b"application/json"


class BodyRefused(Exception):
    """The request's body was not read in full: ``status`` says why (408, 413, 503)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Disconnected(Exception):
    """The client went away before its request was answered."""


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a (lower-case) request header."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def answer(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = TEXT,
    extra: Iterable[tuple[bytes, bytes]] = (),
    *,
    head: bool = False,
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def refuse(
    send: Send, scope: Scope, status: int, message: str, *, retry_after: int | None = None
) -> None:
    """An error answer: JSON under /api/ (as the API's own errors), text elsewhere."""
    extra = [(b"retry-after", str(retry_after).encode())] if retry_after is not None else []
    if status in (408, 413, 503) and retry_after is None:
        extra.append((b"connection", b"close"))
    if scope["path"].startswith("/api/"):
        body = json.dumps({"error": message}).encode() + b"\n"
        await answer(send, status, body, JSON, extra, head=scope["method"] == "HEAD")
    else:
        body = message.encode() + b"\n"
        await answer(send, status, body, TEXT, extra, head=scope["method"] == "HEAD")


async def read_body(
    scope: Scope,
    receive: Receive,
    *,
    limit: int,
    seconds: float,
    budget: Budget | None = None,
) -> bytes:
    """The whole request body, read on the loop within ``seconds``; BodyRefused otherwise.

    A declared length over ``limit`` is refused before a byte is read; a chunked body is
    refused as soon as it passes ``limit``; one that would take ``budget`` past its limit is
    refused 503. Whoever is slow pays with their connection only.
    """
    declared = header(scope, b"content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise BodyRefused(400, "bad Content-Length") from None
        if length > limit:
            raise BodyRefused(413, f"request body over {limit} bytes")
        if length == 0:
            return b""
    elif header(scope, b"transfer-encoding") is None:
        return b""  # no body (uvicorn would hand us an empty one anyway)
    chunks: list[bytes] = []
    size = held = 0
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise Disconnected
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise BodyRefused(413, f"request body over {limit} bytes")
                if budget is not None:
                    if not budget.take(len(chunk)):
                        raise BodyRefused(503, "busy: too many request bodies being read")
                    held += len(chunk)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
    except TimeoutError:
        raise BodyRefused(408, f"request body not received within {seconds:g} s") from None
    finally:
        if held:
            budget.give(held)  # type: ignore[union-attr]
