"""The SMTP email channel: one connection and one mail transaction per message (aiosmtplib).

Outcomes map onto the send queue's two kinds of failure: a 4xx reply (or a connection that
fails before the message is handed over) may succeed later and is retried; a 5xx reply is
final. The transaction is driven step by step (MAIL, RCPT per recipient, DATA) rather than with
`aiosmtplib.send`, because the step a failure happens in decides what it means: a connection
lost during DATA may come after the server took the message, so it is not retried blindly.

For the same reason the send queue is told when DATA is about to start (`deliver_staged`):
everything before it (connecting, TLS, login, MAIL, RCPT) cannot deliver the message, so a
sender that dies there leaves a message the queue can simply send again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import aiosmtplib

from channels.email.mime import build_message
from channels.email.tls import client_context, untrusted_certificate, untrusted_message
from inbox.conversations.attachments import AttachmentStore
from inbox.core.ports import (
    DeliveryLookup,
    DeliveryReceipt,
    OutboundAttachment,
    OutboundEnvelope,
    PermanentDeliveryError,
    RecipientResult,
    TransientDeliveryError,
)
from inbox.outbox.models import RecipientStatus

log = logging.getLogger(__name__)

SmtpTls = Literal["none", "starttls", "tls"]
HandOver = Callable[[], Awaitable[None]]


async def _no_mark() -> None:
    return None


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    username: str = ""
    password: str = ""
    tls: SmtpTls = "starttls"
    timeout: float = 60.0
    # A PEM bundle of the CAs to trust instead of the system's (INBOX_TLS_CA_FILE).
    ca_file: str | None = None


def _reply(exc: aiosmtplib.SMTPResponseException) -> str:
    return f"{exc.code} {exc.message}".strip()


def _is_transient(code: int) -> bool:
    return 400 <= code < 500


class _Transaction:
    """One MAIL/RCPT/DATA exchange on an open connection, remembering what each step said."""

    def __init__(self, smtp: aiosmtplib.SMTP, envelope: OutboundEnvelope) -> None:
        self.smtp = smtp
        self.envelope = envelope
        self.results: list[RecipientResult] = []

    async def recipients(self) -> list[str]:
        accepted = []
        for address in self.envelope.recipients:
            try:
                await self.smtp.rcpt(address)
            except aiosmtplib.SMTPRecipientRefused as exc:
                status = (
                    RecipientStatus.DEFERRED if _is_transient(exc.code) else RecipientStatus.FAILED
                )
                self.results.append(RecipientResult(address, status, _reply(exc)))
            else:
                accepted.append(address)
        return accepted

    def final_refusals(self) -> tuple[RecipientResult, ...]:
        """The refusals of a message that went to the others. A temporary one is final too:
        the queue retries whole messages, and resending to all would duplicate it for those
        who already have it."""
        return tuple(
            RecipientResult(r.address, RecipientStatus.FAILED, f"{r.detail} (not retried)")
            if r.status is RecipientStatus.DEFERRED
            else r
            for r in self.results
        )

    def refused_error(self) -> Exception:
        """Every recipient was refused: retry if any of them may be accepted later."""
        detail = "; ".join(f"{r.address}: {r.detail}" for r in self.results)
        results = tuple(self.results)
        if any(r.status is RecipientStatus.DEFERRED for r in results):
            return TransientDeliveryError(f"recipients refused: {detail}", recipients=results)
        return PermanentDeliveryError(f"recipients refused: {detail}", recipients=results)


class SmtpChannel:
    """Implements `inbox.ports.OutboundChannel` over SMTP."""

    def __init__(self, config: SmtpConfig, store: AttachmentStore) -> None:
        self.config = config
        self.store = store

    def _client(self) -> aiosmtplib.SMTP:
        c = self.config
        return aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            username=c.username or None,
            password=c.password or None,
            use_tls=c.tls == "tls",
            start_tls=c.tls == "starttls",
            timeout=c.timeout,
            # The certificate and host name are always verified; never a silent downgrade.
            tls_context=client_context(c.ca_file) if c.tls != "none" else None,
        )

    async def _files(self, envelope: OutboundEnvelope) -> list[tuple[OutboundAttachment, bytes]]:
        return [(a, await self.store.get(a.storage_key)) for a in envelope.attachments]

    async def deliver(self, envelope: OutboundEnvelope) -> DeliveryReceipt:
        """Send once. 4xx and connection trouble before DATA raise TransientDeliveryError;
        5xx raises PermanentDeliveryError; partly refused recipients are in the receipt."""
        return await self.deliver_staged(envelope, _no_mark)

    async def deliver_staged(
        self, envelope: OutboundEnvelope, hand_over: HandOver
    ) -> DeliveryReceipt:
        """`deliver`, awaiting `hand_over()` once the recipients are accepted and just before
        DATA. Whatever it raises ends the transaction without DATA (QUIT discards it)."""
        try:
            message = build_message(envelope, await self._files(envelope), date=datetime.now(UTC))
            data = message.as_bytes()
        except (ValueError, UnicodeError) as exc:
            raise PermanentDeliveryError(f"the message could not be written: {exc}") from exc
        except OSError as exc:
            raise TransientDeliveryError(f"an attachment could not be read: {exc}") from exc
        smtp = self._client()
        try:
            await smtp.connect()
        except aiosmtplib.SMTPAuthenticationError as exc:
            # Wrong credentials are the operator's to fix; the queue keeps retrying meanwhile.
            raise TransientDeliveryError(f"SMTP login failed: {_reply(exc)}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise self._response_error(exc) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            untrusted = untrusted_certificate(exc)
            if untrusted is not None:
                # The operator's to fix, like a wrong password: the mail stays queued meanwhile.
                log.error("%s", untrusted_message("SMTP", untrusted))
                raise TransientDeliveryError(untrusted_message("SMTP", untrusted)) from exc
            raise TransientDeliveryError(f"cannot reach the SMTP server: {exc}") from exc
        try:
            return await self._transact(smtp, envelope, data, hand_over)
        finally:
            await self._close(smtp)

    async def _transact(
        self, smtp: aiosmtplib.SMTP, envelope: OutboundEnvelope, data: bytes, hand_over: HandOver
    ) -> DeliveryReceipt:
        transaction = _Transaction(smtp, envelope)
        try:
            # Bounces go to the shared reply mailbox, which is watched, not to the CMU's own.
            await smtp.mail(envelope.reply_to or envelope.from_address)
            accepted = await transaction.recipients()
            if not accepted:
                raise transaction.refused_error()
        except aiosmtplib.SMTPResponseException as exc:
            raise self._response_error(exc) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TransientDeliveryError(f"SMTP connection lost: {exc}") from exc
        except (ValueError, UnicodeError) as exc:
            raise PermanentDeliveryError(f"an address cannot be sent over SMTP: {exc}") from exc
        await hand_over()
        try:
            response = await smtp.data(data)
        except aiosmtplib.SMTPResponseException as exc:
            raise self._response_error(exc, tuple(transaction.results), accepted) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise PermanentDeliveryError(
                "The connection to the SMTP server was lost while the message was being handed "
                f"over ({exc}); it may have been delivered, so it is not sent again."
            ) from exc
        sent = tuple(RecipientResult(a, RecipientStatus.SENT, "") for a in accepted)
        return DeliveryReceipt(
            detail=f"{response.code} {response.message}".strip(),
            recipients=sent + transaction.final_refusals(),
        )

    @staticmethod
    def _response_error(
        exc: aiosmtplib.SMTPResponseException,
        refused: tuple[RecipientResult, ...] = (),
        accepted: list[str] | None = None,
    ) -> Exception:
        reply = _reply(exc)
        transient = _is_transient(exc.code)
        status = RecipientStatus.DEFERRED if transient else RecipientStatus.FAILED
        results = tuple(RecipientResult(a, status, reply) for a in accepted or []) + refused
        if transient:
            return TransientDeliveryError(reply, recipients=results)
        return PermanentDeliveryError(reply, recipients=results)

    @staticmethod
    async def _close(smtp: aiosmtplib.SMTP) -> None:
        try:
            await asyncio.wait_for(smtp.quit(), 5)
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            smtp.close()

    async def find_delivery(self, idempotency_key: str) -> DeliveryReceipt | DeliveryLookup:
        """SMTP cannot say whether an earlier connection handed a message over: there is no
        command to ask a server about a Message-ID it may have accepted, and we keep no copy in
        a Sent folder to look in. The queue therefore does not resend (a duplicate in the
        prospect's inbox is worse than a failure the CMU sees and can resend). It asks only
        about the message a sender was handing over (DATA) when it died, so that is at most
        one message per crash."""
        return DeliveryLookup.UNKNOWN
