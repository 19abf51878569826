"""Websocket frames: msgspec tagged unions, one decoder each way.

Every frame is a JSON object whose `type` names it. Event frames carry the account's sequence
number `seq`; a client keeps the last one it saw and sends it back in `hello` on reconnect.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Union, cast

import msgspec

from inbox.events.types import EVENT_TYPES, Event


class Frame(msgspec.Struct, kw_only=True, tag_field="type"):
    pass


# Client to server.
class Hello(Frame, tag="hello", forbid_unknown_fields=True):
    after: int = 0


class Ping(Frame, tag="ping", forbid_unknown_fields=True):
    nonce: str = ""


class PresenceSet(Frame, tag="presence", forbid_unknown_fields=True):
    """What this tab shows: a conversation open (or none), and whether a reply is being typed."""

    conversation_id: int | None = None
    composing: bool = False


ClientFrame = Hello | Ping | PresenceSet


# Server to client: the logged events. Each frame is made from its event struct in
# `inbox.events.types`, which is the frame's `data`.
class EventFrame(Frame, kw_only=True):
    seq: int
    at: datetime


def _frame_of(event: type[Event]) -> type[EventFrame]:
    frame = msgspec.defstruct(
        event.__name__,
        [("data", event)],
        bases=(EventFrame,),
        tag=event.type_name(),
        kw_only=True,
        module=__name__,
    )
    return cast("type[EventFrame]", frame)


EVENT_FRAMES: dict[str, type[EventFrame]] = {
    event.type_name(): _frame_of(event) for event in EVENT_TYPES
}


class AnyEventFrame(msgspec.Struct, kw_only=True):
    """How every logged event goes out, whatever its type: the stored payload as `data`, which
    `server_decoder` reads as the typed frame above. A type this server does not know (logged
    by a newer or an older version) is still sent as it was stored, never skipped: a client
    that resumes after its `seq` would otherwise never see it."""

    type: str
    seq: int
    at: datetime
    data: dict[str, Any]


# Server to client: not logged.
class Ready(Frame, tag="ready"):
    """Replay is done; from here on frames are live. `seq` is the last one sent."""

    seq: int


class Resync(Frame, tag="resync"):
    """The events after the client's sequence are gone: reload state, continue from `seq`."""

    seq: int
    reason: str


class Pong(Frame, tag="pong"):
    nonce: str = ""


class PresenceUpdated(Frame, tag="presence.updated"):
    account_id: int
    name: str
    tab: str
    conversation_id: int | None
    composing: bool


class ErrorFrame(Frame, tag="error"):
    code: str
    detail: str


ServerFrame: Any = Union[(*EVENT_FRAMES.values(), Ready, Resync, Pong, PresenceUpdated, ErrorFrame)]

client_decoder = msgspec.json.Decoder(ClientFrame)
server_decoder = msgspec.json.Decoder(ServerFrame)
encoder = msgspec.json.Encoder()
