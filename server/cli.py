"""The `inbox` command: migrate, serve, worker, demo, user create."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import sys
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from server.settings import (
    Settings,
    SettingsError,
    configure_logging,
    keep_secret_key,
    load_settings,
    redact_url,
)


def _fail(message: str) -> int:
    print(f"inbox: {message}", file=sys.stderr)
    return 2


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> int:
    from inbox.core.db import migrate

    try:
        migrate(settings.database.url)
    except Exception as exc:
        problem = database_problem(settings, exc)
        if problem is None:
            raise
        return _fail(problem)
    print("Database schema is up to date.")
    return 0


def database_problem(settings: Settings, exc: BaseException) -> str | None:
    """One line naming the setting and the cause when `exc` means the database cannot be
    used (unreachable, refused, not a database); None for anything else. The URL is shown
    without its password."""
    import sqlalchemy as sa

    if not isinstance(exc, sa.exc.SQLAlchemyError | OSError):
        return None
    where = redact_url(settings.database.url)
    cause: BaseException = getattr(exc, "orig", None) or exc
    detail = " ".join(str(cause).split()) or type(cause).__name__
    password = urlsplit(settings.database.url).password
    if password:
        detail = detail.replace(password, "***")
    return f"INBOX_DATABASE_URL: cannot use the database at {where}: {detail[:300]}"


async def _check_schema(settings: Settings) -> str | None:
    """None when the database answers and its schema is current (migrated first when
    INBOX_AUTO_MIGRATE is on); else one line saying what is wrong."""
    from inbox.core.db import make_engine, migrate, schema_is_current

    engine = None
    try:
        if settings.database.auto_migrate:
            await asyncio.to_thread(migrate, settings.database.url)
            return None
        engine = make_engine(settings.database.url)
        current, revision, head = await schema_is_current(engine)
    except Exception as exc:
        problem = database_problem(settings, exc)
        if problem is None:
            raise
        return problem
    finally:
        if engine is not None:
            await engine.dispose()
    if not current:
        return (
            f"INBOX_DATABASE_URL ({redact_url(settings.database.url)}): the database schema is "
            f"at {revision or 'nothing (an empty database)'} but this code needs {head}: "
            "run `inbox migrate` first."
        )
    return None


def uvicorn_proxy_options(settings: Settings) -> dict[str, Any]:
    """Believe X-Forwarded-For and X-Forwarded-Proto only from INBOX_TRUSTED_PROXIES (uvicorn
    would otherwise trust them from 127.0.0.1, or FORWARDED_ALLOW_IPS, by default)."""
    if not settings.web.trusted_proxies:
        return {"proxy_headers": False, "forwarded_allow_ips": []}
    return {"proxy_headers": True, "forwarded_allow_ips": list(settings.web.trusted_proxies)}


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    problem = asyncio.run(_check_schema(settings))
    if problem:
        return _fail(problem)
    if args.workers > 1 and not settings.redis.url:
        return _fail("--workers above 1 needs INBOX_REDIS_URL for live events across processes")
    keep_secret_key(settings)  # before uvicorn's processes read it (server/asgi.py)
    uvicorn.run(
        "server.asgi:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level.lower(),
        ws_per_message_deflate=False,
        **uvicorn_proxy_options(settings),
    )
    return 0


def cmd_worker(settings: Settings, _: argparse.Namespace) -> int:
    from server.worker import run_worker

    problem = asyncio.run(_check_schema(settings))
    if problem:
        return _fail(problem)
    settings = keep_secret_key(settings)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_worker(settings))
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from server.demo import seed_demo

    settings = keep_secret_key(settings)
    try:
        asyncio.run(seed_demo(settings, out=sys.stdout))
    except Exception as exc:
        problem = database_problem(settings, exc)
        if problem is None:
            raise
        return _fail(problem)
    print(f"Open http://{args.host}:{args.port}/ and sign in with an account above.", flush=True)
    uvicorn.run(
        "server.asgi:app",
        host=args.host,
        port=args.port,
        log_level=settings.log_level.lower(),
        ws_per_message_deflate=False,
        **uvicorn_proxy_options(settings),
    )
    return 0


def cmd_user_create(settings: Settings, args: argparse.Namespace) -> int:
    from server.worker import create_user

    # Before asking for a password: a database that is unreachable or not migrated yet
    # (migrated here when INBOX_AUTO_MIGRATE is on, as `serve` would).
    problem = asyncio.run(_check_schema(settings))
    if problem:
        return _fail(problem)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            return _fail("the passwords differ")
    from inbox.errors import InboxError

    try:
        account = asyncio.run(create_user(settings, args.email, args.name, args.role, password))
    except InboxError as exc:
        return _fail(exc.detail)
    except Exception as exc:
        problem = database_problem(settings, exc)
        if problem is None:
            raise
        return _fail(problem)
    print(f"Created {account.role} {account.email} (id {account.id}).")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(run=cmd_migrate)
    serve = sub.add_parser("serve", help="run the web app")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=cmd_serve)
    sub.add_parser(
        "worker", help="run the background work only (send queue, SMS placer, scheduler...)"
    ).set_defaults(run=cmd_worker)
    demo = sub.add_parser("demo", help="seed demo data and run the app with sandbox channels")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.set_defaults(run=cmd_demo, demo=True)
    user = sub.add_parser("user", help="manage accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    create = user_sub.add_parser("create", help="create an account")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--role", choices=["admin", "contact_manager"], default="contact_manager")
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    create.set_defaults(run=cmd_user_create)
    return parser


def _default_public_url(args: argparse.Namespace) -> None:
    """Serving on a chosen port: unless told otherwise, browsers come to that port, and the
    origin check must expect them there."""
    if hasattr(args, "port") and not os.environ.get("INBOX_PUBLIC_URL"):
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host  # noqa: S104
        os.environ["INBOX_PUBLIC_URL"] = f"http://{host}:{args.port}"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "demo", False):
        os.environ.setdefault("INBOX_MODE", "demo")
    _default_public_url(args)
    try:
        settings = load_settings()
    except SettingsError as exc:
        return _fail(str(exc))
    configure_logging(settings)
    code: int = args.run(settings, args)
    return code


if __name__ == "__main__":
    sys.exit(main())
