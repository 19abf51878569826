"""The channel of a production install that configured no provider: every send fails, saying
which setting is missing, instead of quietly landing in the sandbox log."""

from __future__ import annotations

from inbox.core.ports import (
    DeliveryLookup,
    DeliveryReceipt,
    OutboundEnvelope,
    PermanentDeliveryError,
)


class UnconfiguredChannel:
    def __init__(self, detail: str) -> None:
        self.detail = detail

    async def deliver(self, envelope: OutboundEnvelope) -> DeliveryReceipt:
        raise PermanentDeliveryError(self.detail)

    async def find_delivery(self, idempotency_key: str) -> DeliveryReceipt | DeliveryLookup:
        return DeliveryLookup.NOT_DELIVERED
