"""A live frame encoded once per change is byte for byte the frame the replay path sends."""

from __future__ import annotations

from datetime import UTC, datetime

from inbox.core.ports import StoredEvent
from inbox.events.types import MessageCreated
from server.realtime.frames import AnyEventFrame, encoder, server_decoder
from server.realtime.hub import LiveGroup, group_events


def test_grouped_frames_match_the_struct_frames_and_keep_each_accounts_order() -> None:
    at = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    shared = {"conversation_id": 7, "message_id": 311, "note": 'quote " and <b>'}
    other = {"conversation_id": 7, "flagged": True}
    events = [
        StoredEvent(1, 41, "message.created", shared, at),
        StoredEvent(2, 9, "message.created", shared, at),
        StoredEvent(1, 42, "conversation.updated", other, at),
        StoredEvent(1, 43, "message.created", {"conversation_id": 8, "message_id": 312}, at),
    ]
    groups = group_events(events)
    assert [(g.type, g.targets) for g in groups] == [
        ("message.created", [(1, 41), (2, 9)]),
        ("conversation.updated", [(1, 42)]),
        ("message.created", [(1, 43)]),
    ]
    live = LiveGroup(groups[0])
    expected = encoder.encode(AnyEventFrame(type="message.created", seq=41, at=at, data=shared))
    assert live.frame(41) == expected.decode()
    decoded = server_decoder.decode(live.frame(9))
    assert (decoded.seq, decoded.data) == (9, MessageCreated(conversation_id=7, message_id=311))
