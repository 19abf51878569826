"""The `inbox` command: migrate, serve, worker, demo, user create."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import sys
from collections.abc import Sequence

from server.settings import Settings, SettingsError, configure_logging, load_settings


def _fail(message: str) -> int:
    print(f"inbox: {message}", file=sys.stderr)
    return 2


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> int:
    from inbox.db import migrate

    migrate(settings.database_url)
    print("Database schema is up to date.")
    return 0


async def _check_schema(settings: Settings) -> str | None:
    from server.app import SchemaOutOfDate, ensure_schema
    from server.services import build_services

    services = build_services(settings)
    try:
        await ensure_schema(services)
    except SchemaOutOfDate as exc:
        return str(exc)
    finally:
        await services.engine.dispose()
    return None


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    problem = asyncio.run(_check_schema(settings))
    if problem:
        return _fail(problem)
    if args.workers > 1 and not settings.redis_url:
        return _fail("--workers above 1 needs INBOX_REDIS_URL for live events across processes")
    uvicorn.run(
        "server.asgi:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level.lower(),
        ws_per_message_deflate=False,
        proxy_headers=True,
    )
    return 0


def cmd_worker(settings: Settings, _: argparse.Namespace) -> int:
    from server.worker import run_worker

    problem = asyncio.run(_check_schema(settings))
    if problem:
        return _fail(problem)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_worker(settings))
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from server.demo import seed_demo

    asyncio.run(seed_demo(settings, out=sys.stdout))
    print(f"Open http://{args.host}:{args.port}/ and sign in with an account above.", flush=True)
    uvicorn.run(
        "server.asgi:app",
        host=args.host,
        port=args.port,
        log_level=settings.log_level.lower(),
        ws_per_message_deflate=False,
    )
    return 0


def cmd_user_create(settings: Settings, args: argparse.Namespace) -> int:
    from server.worker import create_user

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
    sub.add_parser("worker", help="run background work only (send queue)").set_defaults(
        run=cmd_worker
    )
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
