"""Parsing a backlog in a process of its own.

In one process, parsing a chunk (about 1 ms a message) and storing the chunk before it take
turns for the GIL; in a child process they run side by side on two cores. The child is
`python -m channels.email.parser_process`: it reads frames of raw messages on its stdin and
answers each with the parsed messages on its stdout (an 8-byte big-endian length, then
msgpack). It ends when its stdin ends, so it never outlives its parent, however the parent
ends: a `kill -9`d worker's child reads end-of-file and exits, and closes the stdio it shares.

The parent side never loses a message to the child: if the child dies or answers nonsense,
the chunk is parsed in a thread instead and the child is not used again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import struct
import sys
from pathlib import Path

import msgspec

from channels.email.parse import parse_message
from inbox.email.schemas import InboundMessage

log = logging.getLogger(__name__)

_LENGTH = struct.Struct(">Q")
_ROOT = Path(__file__).resolve().parents[2]


def _parse_all(raws: list[bytes]) -> list[InboundMessage]:
    return [parse_message(raw) for raw in raws]


class ParserProcess:
    """A child process that parses raw messages; `parse()` one chunk at a time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._lock = asyncio.Lock()
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(list[InboundMessage])
        self.failed = False

    @classmethod
    async def start(cls) -> ParserProcess:
        """Start the child; it imports the parser while the caller fetches the first chunk."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "channels.email.parser_process",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        return cls(process)

    @property
    def pid(self) -> int:
        return self._process.pid

    async def parse(self, raws: list[bytes]) -> list[InboundMessage]:
        """Each raw message parsed, in order (`parse_message`'s results)."""
        if not raws:
            return []
        async with self._lock:
            if not self.failed:
                try:
                    return await self._ask(raws)
                except asyncio.CancelledError:
                    # An answer may be on its way: the pipe can no longer be trusted.
                    self._fail()
                    raise
                except (OSError, EOFError, msgspec.DecodeError, ValueError) as exc:
                    log.warning(
                        "the parsing process failed (%s: %s); parsing in a thread",
                        type(exc).__name__,
                        exc,
                    )
                    self._fail()
            return await asyncio.to_thread(_parse_all, raws)

    async def _ask(self, raws: list[bytes]) -> list[InboundMessage]:
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        payload = self._encoder.encode(raws)
        stdin.write(_LENGTH.pack(len(payload)))
        stdin.write(payload)
        await stdin.drain()
        try:
            (size,) = _LENGTH.unpack(await stdout.readexactly(_LENGTH.size))
            parsed = self._decoder.decode(await stdout.readexactly(size))
        except asyncio.IncompleteReadError as exc:
            raise EOFError("the parsing process ended") from exc
        if len(parsed) != len(raws):
            raise ValueError(f"{len(parsed)} answers for {len(raws)} messages")
        return parsed

    def _fail(self) -> None:
        self.failed = True
        with contextlib.suppress(ProcessLookupError):
            self._process.kill()

    async def close(self) -> None:
        """End the child (end of its input) and wait for it; kill it if it lingers."""
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            await asyncio.wait_for(self._process.wait(), 5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            await self._process.wait()


def main() -> None:
    """The child: parse frames from stdin until it ends."""
    # Ctrl-C in a terminal reaches the whole process group: the parent decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Answers go to a private copy of stdout; anything printed by accident goes to stderr.
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    decoder = msgspec.msgpack.Decoder(list[bytes])
    encoder = msgspec.msgpack.Encoder()
    while True:
        header = requests.read(_LENGTH.size)
        if len(header) < _LENGTH.size:
            return  # the parent closed our input, or died
        (size,) = _LENGTH.unpack(header)
        payload = requests.read(size)
        if len(payload) < size:
            return
        answer = encoder.encode(_parse_all(decoder.decode(payload)))
        answers.write(_LENGTH.pack(len(answer)))
        answers.write(answer)
        answers.flush()


if __name__ == "__main__":
    main()
