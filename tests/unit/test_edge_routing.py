"""Which pool a request goes to, who the caller is, and the WSGI environ made from ASGI."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

from functions.edge.asgi import BodyRefused, read_body
from functions.edge.budget import Budget
from functions.edge.router import caller_of, is_expensive
from functions.edge.wsgi import BUFFER, Exchange, NoRoom, environ_for


def scope(path: str, query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": headers or [],
        "http_version": "1.1",
        "server": ("127.0.0.1", 8080),
        "client": ("203.0.113.9", 5123),
        "scheme": "http",
    }


def test_exports_searches_long_pages_and_domain_overviews_are_expensive() -> None:
    for path, query in [
        ("/api/v1/messages.csv", b""),
        ("/dashboard/messages/abc/events.csv", b""),
        ("/dashboard/export", b""),
        ("/api/v1/messages", b"q=plan"),
        ("/api/v1/messages", b"limit=200"),
        ("/dashboard/messages", b"status=opened&limit=51"),
        ("/api/v1/overview", b"scope=domain"),
    ]:
        assert is_expensive(scope(path, query)), (path, query)
    for path, query in [
        ("/api/v1/messages", b""),
        ("/api/v1/messages", b"limit=50&cursor=x"),
        ("/api/v1/overview", b""),
        ("/dashboard/messages/abc", b""),
        ("/api/v1/messages", b"limit=abc"),  # the app's 400, not a long page
    ]:
        assert not is_expensive(scope(path, query)), (path, query)


def test_the_caller_is_their_credential_digested_and_anonymous_callers_share_one() -> None:
    ana = caller_of(scope("/x", headers=[(b"authorization", b"Bearer dev:ana@example.com")]))
    cookie = caller_of(scope("/x", headers=[(b"cookie", b"__session=abc")]))
    assert len({ana, cookie, caller_of(scope("/x"))}) == 3
    assert "ana" not in ana and caller_of(scope("/x")) == "anonymous"


def test_the_environ_is_pep_3333s() -> None:
    raw = scope(
        "/dashboard/messages",
        b"q=caf%C3%A9",
        [
            (b"host", b"mail.example.com"),
            (b"content-type", b"application/json"),
            (b"content-length", b"999"),
            (b"cookie", b"a=1"),
            (b"cookie", b"b=2"),
            (b"x-forwarded-for", b"198.51.100.1"),
            (b"x_forwarded_for", b"6.6.6.6"),  # an underscore must not pass for a dash
        ],
    )
    raw["raw_path"] = b"/dashboard/caf%C3%A9"
    environ = environ_for(raw, b'{"a": 1}')
    assert environ["PATH_INFO"] == "/dashboard/café".encode().decode("latin-1")
    assert environ["QUERY_STRING"] == "q=caf%C3%A9"
    assert environ["CONTENT_LENGTH"] == "8" and environ["CONTENT_TYPE"] == "application/json"
    assert environ["wsgi.input"].read() == b'{"a": 1}'
    assert environ["HTTP_COOKIE"] == "a=1; b=2" and environ["HTTP_HOST"] == "mail.example.com"
    assert environ["HTTP_X_FORWARDED_FOR"] == "198.51.100.1"
    assert environ["REMOTE_ADDR"] == "203.0.113.9" and environ["SERVER_PORT"] == "8080"


def test_a_caller_is_one_caller_however_the_credential_is_spelled() -> None:
    """The per-caller limit keyed on the raw header: "bearer  dev:x" or another cookie beside
    the session gave the same caller a second export place."""
    token = caller_of(scope("/x", headers=[(b"authorization", b"Bearer dev:ana@example.com")]))
    for spelling in (b"bearer  dev:ana@example.com", b" BEARER dev:ana@example.com "):
        assert caller_of(scope("/x", headers=[(b"authorization", spelling)])) == token
    session = caller_of(scope("/x", headers=[(b"cookie", b"__session=abc")]))
    for cookie in (b"a=1; __session=abc", b"__session=abc; mb_tz=Europe/Paris"):
        assert caller_of(scope("/x", headers=[(b"cookie", cookie)])) == session
    assert caller_of(scope("/x", headers=[(b"cookie", b"mb_tz=UTC")])) == "anonymous"


def test_bodies_read_at_once_hold_at_most_the_budget() -> None:
    """Bodies are read before a pool place is taken, so the budget alone bounds what they
    hold: a body that would pass it is refused 503, and what a body held is given back
    whatever its end (read, refused, cut off)."""
    budget = Budget(10)
    scope = {"headers": [(b"content-length", b"8")]}

    def chunks(*parts: bytes) -> Any:
        messages = iter(
            [
                {"type": "http.request", "body": p, "more_body": n < len(parts) - 1}
                for n, p in enumerate(parts)
            ]
        )

        async def receive() -> dict[str, Any]:
            return next(messages)

        return receive

    async def read(*parts: bytes) -> bytes:
        return await read_body(scope, chunks(*parts), limit=100, seconds=5, budget=budget)

    assert asyncio.run(read(b"abcd", b"efgh")) == b"abcdefgh"
    assert budget.used == 0
    budget.take(5)  # another body being read holds five
    with pytest.raises(BodyRefused) as refused:
        asyncio.run(read(b"abcd", b"efgh"))
    assert refused.value.status == 503 and budget.used == 5


def test_an_error_after_the_body_began_is_raised_not_glued_to_it() -> None:
    """PEP 3333: once body bytes were produced the head counts as sent, so start_response
    with exc_info re-raises (the server answers 500 or drops the connection); replacing the
    status glued a 500 to the half of a CSV."""

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/csv")])
        yield b"a,b\n"
        try:
            raise LookupError("the store went away")
        except LookupError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        yield b"error page"

    with pytest.raises(LookupError):
        Exchange(Budget(1 << 20)).call(app, {})


def test_long_answers_written_aside_are_bounded_and_given_back() -> None:
    budget = Budget(BUFFER * 4)

    def long(size: int) -> Any:
        def app(environ: dict[str, Any], start_response: Any) -> Any:
            start_response("200 OK", [("Content-Type", "text/csv")])
            return (b"x" * 1024 for _ in range(size // 1024))

        return app

    status, _, body = Exchange(budget).call(long(BUFFER * 3), {})
    assert status == 200 and not isinstance(body, bytes) and budget.used == BUFFER * 3
    with pytest.raises(NoRoom):  # a second would pass the budget while the first waits
        Exchange(budget).call(long(BUFFER * 3), {})
    assert budget.used == BUFFER * 3  # (the refused one gave its part back)
    assert len(body.read(BUFFER * 4)) == BUFFER * 3
    body.close()
    assert budget.used == 0
