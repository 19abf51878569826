"""The sandbox channel: delivers to a local JSON-lines log instead of the outside world.

Used by the demo and the tests until the email and SMS channels land, and always in demo mode.
Delivery is idempotent by key: a line for the key already in the log is the receipt.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from inbox.core.ports import DeliveryLookup, DeliveryReceipt, OutboundEnvelope


class SandboxChannel:
    """Appends each delivered message to `path`, one JSON object per line."""

    def __init__(self, path: Path, *, delay: float = 0.0) -> None:
        self.path = path
        # Simulated provider latency, split around the write so a crash can land on either side.
        self.delay = delay

    def _lookup(self, key: str) -> DeliveryReceipt | None:
        if not self.path.exists():
            return None
        with self.path.open(encoding="utf-8") as log:
            for line in log:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line from a crash mid-write is not a delivery
                if entry.get("key") == key:
                    return DeliveryReceipt(external_id=str(entry["id"]), detail="sandbox")
        return None

    def _append(self, envelope: OutboundEnvelope) -> DeliveryReceipt:
        existing = self._lookup(envelope.idempotency_key)
        if existing is not None:
            return existing
        self.path.parent.mkdir(parents=True, exist_ok=True)
        entry = {
            "key": envelope.idempotency_key,
            "id": f"sandbox-{envelope.message_id}",
            "channel": envelope.channel.value,
            "message_id": envelope.message_id,
            "to": list(envelope.to),
            "cc": list(envelope.cc),
            "bcc": list(envelope.bcc),
            "subject": envelope.subject,
            "body_text": envelope.body_text,
            "headers": envelope.headers,
            "at": datetime.now(UTC).isoformat(),
        }
        data = (json.dumps(entry) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return DeliveryReceipt(external_id=f"sandbox-{envelope.message_id}", detail="sandbox")

    async def deliver(self, envelope: OutboundEnvelope) -> DeliveryReceipt:
        if self.delay:
            await asyncio.sleep(self.delay / 2)
        receipt = await asyncio.to_thread(self._append, envelope)
        if self.delay:
            await asyncio.sleep(self.delay / 2)
        return receipt

    async def find_delivery(self, idempotency_key: str) -> DeliveryReceipt | DeliveryLookup:
        found = await asyncio.to_thread(self._lookup, idempotency_key)
        return found if found is not None else DeliveryLookup.NOT_DELIVERED

    def entries(self) -> list[dict[str, object]]:
        """Everything delivered so far (for the demo and tests)."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out
