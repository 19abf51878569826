"""One error hierarchy for the domain. Each error has a stable `code` the API and websocket expose."""

from __future__ import annotations

from collections.abc import Mapping


class InboxError(Exception):
    """Base of every domain error."""

    code = "inbox_error"
    title = "Request failed"

    def __init__(self, detail: str, *, extra: Mapping[str, object] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra: dict[str, object] = dict(extra or {})


class ValidationFailed(InboxError):
    """Input is malformed. `fields` maps a field name to what is wrong with it."""

    code = "validation_failed"
    title = "Invalid input"

    def __init__(self, detail: str, *, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.fields = dict(fields or {})

    @classmethod
    def field(cls, name: str, problem: str) -> ValidationFailed:
        return cls(f"{name}: {problem}", fields={name: problem})


class Unauthenticated(InboxError):
    code = "unauthenticated"
    title = "Not signed in"


class PermissionDenied(InboxError):
    code = "permission_denied"
    title = "Not allowed"


class NotFound(InboxError):
    code = "not_found"
    title = "Not found"


class Conflict(InboxError):
    code = "conflict"
    title = "Conflict"


class PayloadTooLarge(InboxError):
    code = "payload_too_large"
    title = "Payload too large"


class Unprocessable(InboxError):
    """Well-formed input that the rules refuse (e.g. texting an opted-out number)."""

    code = "unprocessable"
    title = "Cannot do that"


class RateLimited(InboxError):
    code = "rate_limited"
    title = "Too many attempts"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, extra={"retry_after": retry_after})
        self.retry_after = retry_after
