"""`bazaar`: serve, migrate, makemigration, create-admin.

Configuration errors print one line and exit with status 2 (no traceback).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from typing import NoReturn

from config import Settings, SettingsError, load_settings
from config.log_setup import configure_logging

log = logging.getLogger("bazaar")


def _fail(message: str, code: int = 2) -> NoReturn:
    print(f"bazaar: {message}", file=sys.stderr)
    sys.exit(code)


def _open(settings: Settings) -> None:
    from bazaar.infra import db

    db.open_database(settings)


def cmd_serve(settings: Settings, args) -> None:
    # Patch before anything below imports peewee: its per-connection state is a `threading.local`
    # fixed at import time, and the workers fork from this process. Imported unpatched, every greenlet
    # of a worker would share one connection state (and one open transaction).
    from gevent import monkey

    monkey.patch_all()
    import gc

    from gunicorn.app.base import BaseApplication

    # The workers' code, imported before they fork: they share its pages copy-on-write (PSS counts each
    # shared page once over all processes) instead of each importing a copy of its own — idle server
    # 120 → 85 MB PSS. Imports only: opening pools and Redis connections, starting greenlets and threads
    # is each worker's, when it builds its app (`bazaar.wsgi`).
    import bazaar.app  # noqa: F401
    from bazaar.serving import gunicorn_options

    if settings.db_kind == "sqlite":
        # The embedded default migrates itself so `bazaar serve` works on a bare machine; the master closes
        # what it opened, so workers start with no connection of its.
        from bazaar.infra import schema

        _open(settings)
        applied = schema.migrate()
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        from bazaar.infra import db

        db.database.obj.close_all()  # workers open their own pools after the fork
    options = gunicorn_options(settings, host=args.host, port=args.port, workers=args.workers)
    log.info(
        "starting Stream Bazaar on %s with %d worker(s) — %s",
        options["bind"],
        options["workers"],
        settings.mode_description(),
    )
    if settings.db_kind == "sqlite" and options["workers"] > 1:
        log.warning(
            "SQLite with %d workers: writes serialize on one file; use PostgreSQL for production",
            options["workers"],
        )

    class Server(BaseApplication):
        def load_config(self):
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            from bazaar.wsgi import app

            return app

    # Out of the collector's reach: a full collection in a worker writes to the header of every object
    # it visits, which would copy every page of the shared code into that worker by the first busy minute.
    gc.freeze()
    Server().run()


def cmd_migrate(settings: Settings, args) -> None:
    from bazaar.infra import schema

    _open(settings)
    try:
        if args.rollback:
            name = schema.rollback()
            print(f"rolled back {name}" if name else "nothing to roll back")
        else:
            applied = schema.migrate()
            print("applied: " + ", ".join(applied) if applied else "database is up to date")
    except Exception as exc:  # report database failures as one line, not a traceback
        _fail(f"migration failed: {exc}".strip(), 1)


def cmd_makemigration(settings: Settings, args) -> None:
    from bazaar.infra import schema

    _open(settings)
    print(f"created migration {schema.create(args.name)}")


def cmd_create_admin(settings: Settings, args) -> None:
    from bazaar.domain.errors import DomainError
    from bazaar.domain.inputs import validated
    from bazaar.domain.models import Role
    from bazaar.entry.http.schemas import UserCreate
    from bazaar.infra import schema
    from bazaar.live.state import make_live_state
    from bazaar.services.auth import AuthService

    password = settings.admin_password
    if not password:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            _fail("passwords do not match", 1)
    try:
        account = validated(
            UserCreate,
            {"username": args.username, "email": args.email, "password": password, "role": Role.ADMIN},
        )
        _open(settings)
        if settings.db_kind == "sqlite":
            schema.migrate()
        user = AuthService(settings, make_live_state(settings)).create_user(**account.model_dump())
    except DomainError as exc:
        details = "; ".join(f"{k} {v}" for k, v in (exc.details or {}).items())
        _fail(f"{exc.message}" + (f" ({details})" if details and details not in exc.message else ""), 1)
    print(f"created admin {user.username} (id {user.id})")


def cmd_webhooks(settings: Settings, args) -> None:
    import signal
    import threading

    from bazaar.services.webhooks import WebhookDelivery

    _open(settings)
    delivery = WebhookDelivery(settings)
    if args.action == "status":
        for state, value in delivery.status().items():
            print(f"{state}: {value}")
    elif args.action == "retry-parked":
        print(f"{delivery.retry_parked()} parked deliveries queued again")
    else:
        if not settings.webhook_url:
            _fail("WEBHOOK_URL is not set: there is nowhere to deliver to")
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        delivery.run(stop)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bazaar", description="Stream Bazaar API service")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API (REST + /ws) under gunicorn")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.set_defaults(handler=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply pending migrations (idempotent)")
    migrate.add_argument("--rollback", action="store_true", help="undo the latest migration")
    migrate.set_defaults(handler=cmd_migrate)

    make = sub.add_parser("makemigration", help="write a new migration from model changes")
    make.add_argument("name")
    make.set_defaults(handler=cmd_makemigration)

    admin = sub.add_parser(
        "create-admin", help="create an admin (password from BAZAAR_ADMIN_PASSWORD or a prompt)"
    )
    admin.add_argument("--username", required=True)
    admin.add_argument("--email", required=True)
    admin.set_defaults(handler=cmd_create_admin)

    webhooks = sub.add_parser("webhooks", help="outgoing webhooks: delivery loop, status, retry-parked")
    webhooks.add_argument("action", choices=("run", "status", "retry-parked"))
    webhooks.set_defaults(handler=cmd_webhooks)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        _fail(f"configuration error: {exc}")
    configure_logging(settings.log_level)
    args.handler(settings, args)


if __name__ == "__main__":
    main()
