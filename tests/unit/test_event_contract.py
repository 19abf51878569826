"""The event contract: the structs in `inbox.events.types` are what is built, sent and
documented."""

from __future__ import annotations

import inspect
import re
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from inbox.events.types import EVENT_TYPES, ConversationUpdated, MessageCreated, event_table
from server.realtime.frames import EVENT_FRAMES, AnyEventFrame, encoder, server_decoder

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_event_table_is_the_structs() -> None:
    text = README.read_text()
    found = re.search(r"<!-- events:start[^>]*-->\n\n(.*?)\n<!-- events:end -->", text, re.S)
    assert found, "README.md lost its events:start / events:end markers"
    assert found.group(1) == event_table(), "run `python -m inbox.events.types` into README.md"


def test_every_struct_is_frozen_keyword_only_and_has_a_frame() -> None:
    names = [cls.type_name() for cls in EVENT_TYPES]
    assert len(set(names)) == len(names)
    assert sorted(EVENT_FRAMES) == sorted(names)
    for cls in EVENT_TYPES:
        assert cls.__struct_config__.frozen, cls
        params = inspect.signature(cls).parameters.values()
        assert all(p.kind is p.KEYWORD_ONLY for p in params), cls
        assert cls.audience, cls


def test_a_payload_is_the_fields_without_the_tag_and_unset_fields_stay_out() -> None:
    assert MessageCreated(conversation_id=7, message_id=311).payload() == {
        "conversation_id": 7,
        "message_id": 311,
    }
    assert ConversationUpdated(conversation_id=7, flagged=True).payload() == {
        "conversation_id": 7,
        "flagged": True,
    }
    assert ConversationUpdated(conversation_id=7, assignee_id=None).payload() == {
        "conversation_id": 7,
        "assignee_id": None,
    }


def test_the_sent_frame_decodes_as_its_typed_frame_and_old_payloads_still_do() -> None:
    at = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    event = ConversationUpdated(conversation_id=7, unread=False)
    sent = encoder.encode(AnyEventFrame(type=event.type_name(), seq=3, at=at, data=event.payload()))
    frame = server_decoder.decode(sent)
    assert isinstance(frame, EVENT_FRAMES["conversation.updated"])
    assert (frame.seq, frame.data) == (3, event)  # type: ignore[attr-defined]
    # A message.updated logged before the contract: no recipients, no sent_at. It is replayed
    # as stored; a client reads it as before.
    old = {"conversation_id": 7, "message_id": 9, "status": "sent", "error": ""}
    text = encoder.encode(AnyEventFrame(type="message.updated", seq=4, at=at, data=old))
    assert msgspec.json.decode(text)["data"] == old
