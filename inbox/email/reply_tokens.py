"""Signed conversation tokens for the plus-address in Reply-To (`replies+TOKEN@domain`).

A token is the conversation id and an HMAC-SHA256 tag of it under the secret key, in lower-case
base32: case-insensitive like a mailbox name, unguessable (80-bit tag), and unforgeable without
the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

_TAG_BYTES = 10
_PURPOSE = b"inbox.reply-token.v1:"


def _tag(secret: str, conversation_id: int) -> bytes:
    message = _PURPOSE + str(conversation_id).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()[:_TAG_BYTES]


def make_reply_token(secret: str, conversation_id: int) -> str:
    raw = conversation_id.to_bytes(8, "big") + _tag(secret, conversation_id)
    return base64.b32encode(raw).decode().rstrip("=").lower()


def read_reply_token(secret: str, token: str) -> int | None:
    """The conversation id a token names, or None when it is not one of ours."""
    cleaned = token.strip().upper()
    try:
        raw = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except (ValueError, TypeError):
        return None
    if len(raw) != 8 + _TAG_BYTES:
        return None
    conversation_id = int.from_bytes(raw[:8], "big")
    if not hmac.compare_digest(raw[8:], _tag(secret, conversation_id)):
        return None
    return conversation_id


def reply_address(reply_mailbox: str, token: str) -> str:
    """`replies@oem.example` + token -> `replies+token@oem.example`."""
    local, _, domain = reply_mailbox.partition("@")
    return f"{local}+{token}@{domain}"


def token_in_address(reply_mailbox: str, address: str) -> str | None:
    """The token in an address sent to our reply mailbox (`replies+TOKEN@...`), if any."""
    local, _, domain = address.strip().lower().partition("@")
    box_local, _, box_domain = reply_mailbox.lower().partition("@")
    if domain != box_domain or "+" not in local:
        return None
    base, _, token = local.partition("+")
    return token if base == box_local and token else None
