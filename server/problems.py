"""Every error as RFC 9457 problem details, from one table."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from inbox import errors

log = logging.getLogger(__name__)

STATUS: dict[type[errors.InboxError], int] = {
    errors.ValidationFailed: 400,
    errors.Unauthenticated: 401,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.PayloadTooLarge: 413,
    errors.Unprocessable: 422,
    errors.RateLimited: 429,
}
PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str, code: str, **extra: Any) -> Response[Any]:
    body = {
        "type": f"about:blank#{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    headers = {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def status_of(exc: errors.InboxError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def inbox_error_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, errors.InboxError)
    extra: dict[str, Any] = dict(exc.extra)
    if isinstance(exc, errors.ValidationFailed) and exc.fields:
        extra["errors"] = [{"field": k, "message": v} for k, v in exc.fields.items()]
    return problem(status_of(exc), exc.title, exc.detail, exc.code, **extra)


def _field_of(key: str | None, message: str) -> str:
    # msgspec names the place as "at `$.phones[0].number`", an unknown key as "field `bogus`"
    if "`$." in message:
        return message.split("`$.", 1)[1].split("`", 1)[0]
    if "unknown field `" in message:
        return message.split("unknown field `", 1)[1].split("`", 1)[0]
    return key if key and key != "data" else "body"


def validation_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, ValidationException)
    items = exc.extra if isinstance(exc.extra, list) else []
    fields = [
        {
            "field": _field_of(i.get("key"), str(i.get("message", ""))),
            "message": str(i.get("message", "")),
        }
        for i in items
        if isinstance(i, dict)
    ]
    detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields) or str(exc.detail)
    return problem(400, "Invalid input", detail, "validation_failed", errors=fields)


_HTTP_CODES = {
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def http_error_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    title = code.replace("_", " ").capitalize()
    return problem(exc.status_code, title, str(exc.detail), code)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return Response(
        {
            "type": "about:blank#internal_error",
            "title": "Internal error",
            "status": 500,
            "detail": "Something went wrong on our side. It has been logged.",
            "code": "internal_error",
        },
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
        media_type=PROBLEM_JSON,
    )


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    errors.InboxError: inbox_error_handler,
    ValidationException: validation_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}
