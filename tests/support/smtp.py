"""A real SMTP server on loopback (aiosmtpd in its own thread) that keeps what it receives and
refuses recipients or messages as a test scripts it."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.live import free_port


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class Sink:
    """The handler: `rcpt_replies` refuses an address; `data_replies` answers the next DATAs."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.rcpt_replies: dict[str, str] = {}
        self.data_replies: list[str] = []
        self.data_commands = 0
        self.drop_on_data = False
        self._arrived = threading.Condition()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        refusal = self.rcpt_replies.get(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_commands += 1
        if self.drop_on_data:
            # The message arrived whole but the reply never does: the sender cannot tell.
            self.drop_on_data = False
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
            server.transport.abort()
            return "250 never heard"
        if self.data_replies:
            return self.data_replies.pop(0)
        with self._arrived:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
            self._arrived.notify_all()
        return "250 2.0.0 Ok: queued as TEST"

    def _wait(self, count: int, timeout: float) -> bool:
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.received) >= count, timeout)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait (without sleeping) until `count` messages arrived."""
        if not await asyncio.to_thread(self._wait, count, timeout):
            raise TimeoutError(f"{len(self.received)} of {count} messages arrived")
        return self.received


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    sink: Sink


@contextlib.contextmanager
def smtp_server(
    *,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
) -> Iterator[SmtpServer]:
    """With `starttls` the server offers STARTTLS and refuses mail until it is used; with
    `implicit_tls` it speaks TLS from the first byte (port 465 style)."""
    sink = Sink()
    port = free_port()
    tls: dict[str, Any] = {}
    if starttls is not None:
        tls = {"tls_context": starttls, "require_starttls": True}
    controller = Controller(sink, hostname="127.0.0.1", port=port, ssl_context=implicit_tls, **tls)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, sink)
    finally:
        controller.stop()
