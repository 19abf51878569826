"""The bus between processes: a Litestar channels backend (memory in one process, Redis pub/sub
across processes), driven directly.

The channels plugin's own publish and subscribe workers end on the first backend error and are
never restarted (read in its source), so a Redis restart would silence live push for good. The
bus therefore talks to the backend itself: it reconnects with backoff, reports the outage once
and the recovery once, and tells the hub so clients can catch up from the event log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend

log = logging.getLogger(__name__)

Handler = Callable[[bytes], None]


class _SharedMemoryBackend(MemoryChannelsBackend):
    """One process: publisher and subscriber share one backend, started once."""

    async def on_startup(self) -> None:
        if self._queue is None:
            await super().on_startup()

    async def on_shutdown(self) -> None:
        pass  # shared: it lives as long as the process


def memory_backend_factory() -> Callable[[], ChannelsBackend]:
    backend = _SharedMemoryBackend()
    return lambda: backend


def redis_backend_factory(url: str, prefix: str) -> Callable[[], ChannelsBackend]:
    from litestar.channels.backends.redis import RedisChannelsPubSubBackend
    from redis.asyncio import Redis

    def make() -> ChannelsBackend:
        redis = Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=None, health_check_interval=5
        )
        return RedisChannelsPubSubBackend(redis=redis, key_prefix=prefix)

    return make


class Bus:
    def __init__(self, make_backend: Callable[[], ChannelsBackend], channel: str) -> None:
        self._make_backend = make_backend
        self.channel = channel
        self._publisher: ChannelsBackend | None = None
        self.up = asyncio.Event()
        self._down_logged = False
        self._on_restored: Callable[[], Awaitable[None]] | None = None

    def _report_down(self, exc: BaseException) -> None:
        self.up.clear()
        if not self._down_logged:
            self._down_logged = True
            log.error(
                "event bus unreachable (%s: %s); live push degraded, clients catch up "
                "from the event log",
                type(exc).__name__,
                exc,
            )

    def _report_up(self) -> None:
        if self._down_logged:
            log.warning("event bus reachable again; live push restored")
        self._down_logged = False
        self.up.set()

    async def publish(self, data: bytes) -> bool:
        """Send to every process. False when the bus is down: the log still holds the events."""
        try:
            if self._publisher is None:
                self._publisher = self._make_backend()
                await self._publisher.on_startup()
            await self._publisher.publish(data, [self.channel])
        except Exception as exc:
            self._report_down(exc)
            await self._close_publisher()
            return False
        if self._down_logged:
            # redis-py may reconnect the subscriber by itself without raising, so a publish
            # that gets through is news of recovery too; sockets catch up on what passed.
            self._report_up()
            if self._on_restored is not None:
                await self._on_restored()
        return True

    async def _close_publisher(self) -> None:
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            try:
                await publisher.on_shutdown()
            except Exception:
                log.debug("closing a broken bus publisher failed", exc_info=True)

    async def run(self, on_message: Handler, on_restored: Callable[[], Awaitable[None]]) -> None:
        """Receive forever, reconnecting with backoff. `on_restored` runs after every
        (re)subscription, so whatever was published while down is fetched from the log."""
        self._on_restored = on_restored
        delay = 0.2
        while True:
            backend = self._make_backend()
            try:
                await backend.on_startup()
                await backend.subscribe([self.channel])
                self._report_up()
                await on_restored()
                delay = 0.2
                async for _, data in backend.stream_events():
                    on_message(data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._report_down(exc)
            finally:
                if not isinstance(backend, MemoryChannelsBackend):
                    try:
                        await backend.on_shutdown()
                    except Exception:
                        log.debug("closing a broken bus subscriber failed", exc_info=True)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
