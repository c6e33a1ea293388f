"""`search-indexer`: run, settings, reindex, status, check [--repair], retry-parked.

Exit status: 0 done (or healthy), 1 a dependency failed or the answer is bad news
(unhealthy, drift found), 2 configuration error. Failures print one line, never
a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys

import peewee as pw

from bazaar.infra import db
from config import Settings, SettingsError, load_settings
from config.log_setup import configure_logging
from search_indexer import maintenance, outbox
from search_indexer.indexer import Indexer
from search_indexer.indexes import Indexes, TaskFailed, Unreachable

log = logging.getLogger("search_indexer")

OK, FAILED, CONFIG_ERROR = 0, 1, 2


def cmd_run(settings: Settings, indexes: Indexes, args) -> int:
    indexer = Indexer(settings, indexes)
    if args.once:
        print(f"indexed {indexer.drain()} document(s)")
        return OK
    log.info(
        "indexing %s into %s_* (%s)",
        settings.database_url.split("@")[-1],
        settings.meili_index_prefix,
        "LISTEN/NOTIFY"
        if settings.db_kind == "postgresql"
        else f"polling every {settings.indexer_poll_interval_s} s",
    )
    indexer.run_forever()
    return OK


def cmd_settings(settings: Settings, indexes: Indexes, args) -> int:
    maintenance.apply_settings(indexes, print)
    return OK


def cmd_reindex(settings: Settings, indexes: Indexes, args) -> int:
    written = maintenance.reindex(indexes, settings.indexer_batch_size, print)
    print("reindexed: " + ", ".join(f"{count} {name}" for name, count in written.items()))
    return OK


def cmd_status(settings: Settings, indexes: Indexes, args) -> int:
    report = maintenance.status(indexes, settings.indexer_max_lag_s)
    for line in report.lines:
        print(line)
    print("healthy" if report.healthy else "unhealthy: " + "; ".join(report.problems))
    return OK if report.healthy else FAILED


def cmd_check(settings: Settings, indexes: Indexes, args) -> int:
    drift = maintenance.find_drift(indexes, settings.indexer_batch_size)
    for doc_type, found in drift.items():
        print(
            f"{indexes.uid_of_doc_type(doc_type)}: {len(found.missing)} missing, {len(found.extra)} extra, "
            f"{len(found.stale)} stale"
        )
    total = sum(len(found) for found in drift.values())
    if not total:
        print("no drift")
        return OK
    if not args.repair:
        print(f"{total} document(s) out of date; `search-indexer check --repair` fixes them")
        return FAILED
    print(
        f"enqueued {maintenance.repair(drift)} document(s); the indexer sends them "
        "(`search-indexer run`, or `run --once`)"
    )
    return OK


def cmd_retry_parked(settings: Settings, indexes: Indexes, args) -> int:
    with db.connection():
        print(f"{outbox.retry_parked()} parked row(s) back in line")
    return OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="search-indexer", description="Keeps the Meilisearch indexes in line with the database"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="send outbox changes to Meilisearch until SIGTERM")
    run.add_argument("--once", action="store_true", help="send everything due, then exit")
    run.set_defaults(handler=cmd_run)
    sub.add_parser("settings", help="create missing indexes and apply config/search_index.json").set_defaults(
        handler=cmd_settings
    )
    sub.add_parser("reindex", help="rebuild both indexes from the database and swap them in").set_defaults(
        handler=cmd_reindex
    )
    sub.add_parser(
        "status", help="health, outbox lag, documents against rows; exit 1 when unhealthy"
    ).set_defaults(handler=cmd_status)
    check = sub.add_parser("check", help="find documents missing, extra or stale; exit 1 when found")
    check.add_argument("--repair", action="store_true", help="enqueue the drifted documents to be sent again")
    check.set_defaults(handler=cmd_check)
    sub.add_parser("retry-parked", help="put parked outbox rows back in line").set_defaults(
        handler=cmd_retry_parked
    )
    return parser


def _say(message: str) -> None:
    print(f"search-indexer: {message}", file=sys.stderr)


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    """Run one command and return its exit status. Settings come from the environment, unless a
    caller embedding the CLI (the tests) hands its own and keeps its own logging."""
    args = build_parser().parse_args(argv)
    if settings is None:
        try:
            settings = load_settings()
        except SettingsError as exc:
            _say(f"configuration error: {exc}")
            return CONFIG_ERROR
        configure_logging(settings.log_level)
    if not settings.meili_url:
        _say("MEILI_URL is not set: search runs on the database and there is nothing to index")
        return CONFIG_ERROR
    if db.database.obj is None:
        db.open_database(settings)
    try:
        return args.handler(settings, Indexes(settings), args)
    except Unreachable as exc:
        _say(f"Meilisearch at {settings.meili_url} cannot be reached: {exc}")
    except TaskFailed as exc:
        _say(f"Meilisearch refused the work: {exc}")
    except (pw.DatabaseError, pw.InterfaceError) as exc:
        db.discard_broken_connection()
        _say(f"database error: {' '.join(str(exc).split())}")
    return FAILED


if __name__ == "__main__":
    sys.exit(main())
