"""A local SMTP server (aiosmtpd) that keeps what it receives: dev writes .eml files, tests read them."""

from __future__ import annotations

import email
import email.policy
import logging
import threading
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from marketplace.devstack._proc import free_port

# aiosmtpd logs every command at INFO: thousands of lines for a fan-out, and time spent formatting them.
logging.getLogger("mail.log").setLevel(logging.WARNING)


class _Handler:
    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        refusal = self.sink.refused.get(address.lower())
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.sink.unanswered & {address.lower() for address in envelope.rcpt_tos}:
            # Hangs up instead of answering the end of the message: the client can't tell what became of it.
            server.transport.close()
            return "421 Closing connection"
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.sink.received(message, list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


class MailSink:
    """`smtputf8`: offer SMTPUTF8 (RFC 6531), as current relays do. `refused`: recipient address → the reply
    that refuses it at RCPT (`550 5.1.1 …` for good, `451 …` for now), for tests of failed deliveries;
    `unanswered`: recipient addresses whose message is taken but never answered (the connection is closed at
    the end of DATA), for tests of unconfirmed deliveries."""

    def __init__(self, directory: Path | None = None, *, port: int | None = None, smtputf8: bool = True) -> None:
        self.directory = directory
        self.port = port or 0
        self.smtputf8 = smtputf8
        self.refused: dict[str, str] = {}
        self.unanswered: set[str] = set()
        self.messages: list[tuple[EmailMessage, list[str]]] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def received(self, message: EmailMessage, recipients: list[str]) -> None:
        with self._lock:
            self.messages.append((message, recipients))
            count = len(self.messages)
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / f"{count:05d}.eml").write_bytes(message.as_bytes())

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m, rcpts in self.messages if address in rcpts]

    def start(self) -> None:
        self.port = self.port or free_port()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                      enable_SMTPUTF8=self.smtputf8)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
