"""The sandbox SMS provider: texts land in the local sandbox log instead of on phones."""

from __future__ import annotations

from channels.sandbox import SandboxChannel
from inbox.conversations.models import Channel
from inbox.core.ports import (
    DeliveryLookup,
    DeliveryReceipt,
    OutboundEnvelope,
    PermanentDeliveryError,
)


class SandboxSmsChannel:
    """Writes each text to the sandbox log, once per idempotency key. It refuses what a real
    provider would: anything but one number in E.164."""

    def __init__(self, log: SandboxChannel) -> None:
        self.log = log

    async def deliver(self, envelope: OutboundEnvelope) -> DeliveryReceipt:
        if len(envelope.to) != 1 or not envelope.to[0].startswith("+"):
            raise PermanentDeliveryError(f"a text goes to one E.164 number, not {envelope.to!r}")
        return await self.log.deliver(envelope)

    async def find_delivery(self, idempotency_key: str) -> DeliveryReceipt | DeliveryLookup:
        return await self.log.find_delivery(idempotency_key)

    def sent(self) -> list[dict[str, object]]:
        """The texts in the log so far (for the demo and tests)."""
        return [e for e in self.log.entries() if e.get("channel") == Channel.SMS.value]
