"""Schema versions: peewee-migrate over the migrations shipped in `bazaar/infra/migrations/`."""

from __future__ import annotations

import logging
import os

from peewee_migrate import Router

from bazaar.infra.db import database

MIGRATIONS_DIR = os.path.join(os.path.dirname(__file__), "migrations")


def router() -> Router:
    return Router(
        database.obj,
        migrate_dir=MIGRATIONS_DIR,
        ignore=["basemodel"],
        logger=logging.getLogger("bazaar.migrate"),
    )


def migrate() -> list[str]:
    """Apply every pending migration (idempotent); returns the names applied."""
    r = router()
    pending = list(r.diff)
    if pending:
        r.run()
    return pending


def rollback() -> str | None:
    """Undo the most recent migration; returns its name, or None when nothing is applied."""
    r = router()
    done = list(r.done)
    if not done:
        return None
    r.rollback()
    return done[-1]


def create(name: str) -> str:
    """Write a new migration file from the difference between the models and the schema."""
    return router().create(name, auto="bazaar.domain.models")
