"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it accepts and can be told to
refuse recipients with any reply (``451 ...`` greylisting, ``550 ...`` no such user)."""

from __future__ import annotations

import threading
from typing import Any

from aiosmtpd.controller import Controller

from functions.standins.loopback import free_port


class Inbox:
    """An aiosmtpd handler that keeps every message; a test may make it refuse recipients."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.refuse = ""  # a reply to every RCPT TO, e.g. "550 5.1.1 no such user"
        self.refuse_data = ""  # a reply to DATA, e.g. "451 4.3.0 local error"
        self.attempts = 0  # recipients offered, accepted or not
        self.received = threading.Condition()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        self.attempts += 1
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if self.refuse_data:
            return self.refuse_data
        with self.received:
            self.messages.append(envelope)
            self.received.notify_all()
        return "250 Message accepted for delivery"


class SmtpServer:
    """An Inbox served on a free loopback port."""

    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
