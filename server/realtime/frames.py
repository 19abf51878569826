"""Websocket frames: msgspec tagged unions, one decoder each way.

Every frame is a JSON object whose `type` names it. Event frames carry the account's sequence
number `seq`; a client keeps the last one it saw and sends it back in `hello` on reconnect.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


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


# Server to client: the logged events, one struct per type.
class EventFrame(Frame, kw_only=True):
    seq: int
    at: datetime
    data: dict[str, Any]


class MessageCreated(EventFrame, tag="message.created"):
    pass


class MessageUpdated(EventFrame, tag="message.updated"):
    pass


class ConversationUpdated(EventFrame, tag="conversation.updated"):
    pass


class NotificationCreated(EventFrame, tag="notification.created"):
    pass


class NotificationRead(EventFrame, tag="notification.read"):
    pass


class QueueUpdated(EventFrame, tag="queue.updated"):
    pass


class TaskUpdated(EventFrame, tag="task.updated"):
    pass


class ProspectUpdated(EventFrame, tag="prospect.updated"):
    pass


EVENT_FRAMES: dict[str, type[EventFrame]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in (
        MessageCreated,
        MessageUpdated,
        ConversationUpdated,
        NotificationCreated,
        NotificationRead,
        QueueUpdated,
        TaskUpdated,
        ProspectUpdated,
    )
}


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


ServerFrame = (
    MessageCreated
    | MessageUpdated
    | ConversationUpdated
    | NotificationCreated
    | NotificationRead
    | QueueUpdated
    | TaskUpdated
    | ProspectUpdated
    | Ready
    | Resync
    | Pong
    | PresenceUpdated
    | ErrorFrame
)

client_decoder = msgspec.json.Decoder(ClientFrame)
server_decoder = msgspec.json.Decoder(ServerFrame)
encoder = msgspec.json.Encoder()
