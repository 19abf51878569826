"""Every error as RFC 9457 problem details, from one table."""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute
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


# The schema: every route documents the problems it can answer.


class FieldError(msgspec.Struct, kw_only=True):
    field: str
    message: str


class ProblemDetail(msgspec.Struct, kw_only=True):
    """An RFC 9457 problem: `code` is stable for programs, `detail` is for people. A refused
    input names each field in `errors`; some problems carry more members (e.g. `retry_after`)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldError] | msgspec.UnsetType = msgspec.UNSET


PROBLEMS = {
    400: "Invalid input; `errors` names each field",
    401: "Not signed in, or the session has ended",
    403: "Not allowed: the role, or a change without the CSRF token or from another origin",
    404: "No such thing, or not visible to you",
    409: "Conflicts with the current state",
    413: "The request body is too large",
    422: "Well-formed, but the rules refuse it",
    429: "Too many attempts; `retry_after` says when to try again",
    500: "Our fault; it has been logged",
    503: "A change collided with another one at the same moment and was not made; retry",
}
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def answers(*codes: int) -> dict[str, Any]:
    """A route's `opt` naming the problems it answers beyond those every route of its kind does
    (see `problem_codes`): `@post("/", opt=answers(409))`."""
    unknown = set(codes) - PROBLEMS.keys()
    if unknown:
        raise ValueError(f"no description for status {sorted(unknown)}")
    return {"problems": tuple(codes)}


def problem_codes(
    methods: Collection[str], has_path_params: bool, public: bool, extra: Collection[int] = ()
) -> list[int]:
    """Every route may refuse input (400, also any text with NUL on a route without
    parameters), refuse the role or the CSRF check (403) and fail (500); a signed-in route
    answers 401; one with an id in its path 404; a change (POST, PUT, PATCH, DELETE) 503 when
    its transaction kept losing races (`server/retry.py`); one that takes a body 413."""
    codes = {400, 403, 500, *extra}
    if not public:
        codes.add(401)
    if has_path_params:
        codes.add(404)
    if _WITH_BODY & set(methods):
        codes.add(413)
    if set(methods) - _SAFE:
        codes.add(503)
    return sorted(codes)


def problem_responses(codes: Collection[int]) -> dict[int, ResponseSpec]:
    return {
        code: ResponseSpec(
            data_container=ProblemDetail,
            media_type=PROBLEM_JSON,
            description=PROBLEMS[code],
            generate_examples=False,
        )
        for code in codes
    }


class ProblemResponses(ReceiveRoutePlugin):
    """Documents each route's problem responses (application/problem+json) in the OpenAPI
    schema, in place of Litestar's own 400 body, which this app never sends.

    `public_paths` are the patterns of routes that take no session (they never answer 401
    unless they say so with `answers(401)`)."""

    def __init__(self, public_paths: Collection[str]) -> None:
        self.public = [re.compile(p) for p in public_paths]

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        public = any(p.search(route.path) for p in self.public)
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            opt = handler.opt  # merged from every layer when the route was registered
            codes = problem_codes(
                handler.http_methods,
                has_path_params=bool(route.path_parameters),
                public=public or bool(opt.get("exclude_from_auth")),
                extra=opt.get("problems", ()),
            )
            handler.responses = {**problem_responses(codes), **(handler.responses or {})}
