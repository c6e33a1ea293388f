"""`search-indexer` commands: what they print and their exit codes (0 good, 1 bad news, 2 configuration)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest

from bazaar.domain.clock import now
from bazaar.domain.models import SearchOutbox
from bazaar.infra import db
from bazaar.infra import search_outbox as outbox
from search_indexer.cli import main
from search_indexer.indexes import load_index_settings
from tests.conftest import make_product
from tests.indexer.support import found_products, outbox_rows


def run(settings, *args: str, capsys) -> tuple[int, str, str]:
    code = main(list(args), settings=settings)
    out, err = capsys.readouterr()
    return code, out, err


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_status_is_healthy_once_everything_is_indexed(api, meili_settings, indexer, creator, capsys):
    make_product(api, creator)
    indexer.drain()

    code, out, _ = run(meili_settings, "status", capsys=capsys)

    assert code == 0
    assert "meilisearch: available" in out
    assert "outbox: 0 pending, 0 parked" in out
    assert f"{meili_settings.meili_index_prefix}_products: 1 documents, 1 rows in the database" in out
    assert out.strip().endswith("healthy")


def test_status_reports_lag_past_the_limit_as_unhealthy(api, meili_settings, indexer, creator, capsys):
    indexer.drain()
    make_product(api, creator)
    with db.connection():
        SearchOutbox.update(created_at=now() - timedelta(minutes=5)).execute()

    code, out, _ = run(meili_settings, "status", capsys=capsys)

    assert code == 1
    assert "outbox: 1 pending, 0 parked, lag 300" in out
    assert "unhealthy: lag 300 s is over 60 s" in out


def test_status_lists_parked_rows_with_their_error(app, meili_settings, indexer, capsys):
    with db.connection(), db.database.atomic():
        outbox.record("widget", ["w-1"])
        SearchOutbox.update(parked=True, attempts=8, last_error="unknown document type 'widget'").execute()

    code, out, _ = run(meili_settings, "status", capsys=capsys)

    assert code == 1
    assert "parked widget w-1 after 8 attempt(s): unknown document type 'widget'" in out
    assert "1 parked outbox row(s)" in out


def test_status_names_an_unreachable_meilisearch_without_a_traceback(app, meili_settings, capsys):
    code, out, err = run(meili_settings.with_overrides(meili_url=closed_port_url()), "status", capsys=capsys)

    assert code == 1
    assert "meilisearch: unreachable" in out
    assert "unhealthy: Meilisearch is unreachable" in out
    assert "Traceback" not in out + err


def test_reindex_against_an_unreachable_meilisearch_says_so_in_one_line(app, meili_settings, capsys):
    url = closed_port_url()
    code, out, err = run(meili_settings.with_overrides(meili_url=url), "reindex", capsys=capsys)

    assert code == 1
    assert err.startswith(f"search-indexer: Meilisearch at {url} cannot be reached")
    assert len(err.strip().splitlines()) == 1


def test_commands_need_meili_url(app, meili_settings, capsys):
    code, _, err = run(meili_settings.with_overrides(meili_url=None), "status", capsys=capsys)

    assert code == 2
    assert "MEILI_URL is not set" in err


def test_an_unreachable_database_is_one_line_not_a_traceback(meili_settings):
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:9/nowhere",
        "MEILI_URL": meili_settings.meili_url,
        "MEILI_MASTER_KEY": meili_settings.meili_master_key or "",
    }
    done = subprocess.run(
        [sys.executable, "-m", "search_indexer", "check"],
        env=env,
        cwd=os.getcwd(),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 1
    assert done.stderr.startswith("search-indexer: database error:")
    assert "Traceback" not in done.stderr


def test_run_once_sends_everything_due_and_exits(api, search_api, meili_settings, creator, capsys):
    make_product(api, creator, name="Wireless Earbuds")

    code, out, _ = run(meili_settings, "run", "--once", capsys=capsys)

    assert code == 0
    assert out.strip() == "indexed 1 document(s)"
    assert found_products(search_api, q="earbuds") == ["Wireless Earbuds"]


def test_settings_creates_the_indexes_with_the_shipped_settings(app, meili_settings, indexes, capsys):
    code, out, _ = run(meili_settings, "settings", capsys=capsys)

    assert code == 0
    assert f"applied settings to {meili_settings.meili_index_prefix}_sessions" in out
    applied = indexes.client.index(indexes.uid("sessions")).get_settings()
    assert (
        applied["searchableAttributes"]
        == load_index_settings()["sessions"]["settings"]["searchableAttributes"]
    )


def test_reindex_reports_what_it_wrote(api, meili_settings, creator, capsys):
    make_product(api, creator)

    code, out, _ = run(meili_settings, "reindex", capsys=capsys)

    assert code == 0
    assert out.strip().endswith("reindexed: 0 sessions, 1 products")


def test_check_exits_1_on_drift_and_repair_enqueues_it(
    api, meili_settings, indexer, indexes, creator, capsys
):
    product = make_product(api, creator)
    indexer.drain()
    indexes.delete(indexes.uid("products"), [product["id"]])

    code, out, _ = run(meili_settings, "check", capsys=capsys)
    assert code == 1
    assert f"{meili_settings.meili_index_prefix}_products: 1 missing, 0 extra, 0 stale" in out

    code, out, _ = run(meili_settings, "check", "--repair", capsys=capsys)
    assert code == 0
    assert outbox_rows() == [("product", product["id"])]


def test_check_exits_0_without_drift(app, meili_settings, indexer, capsys):
    indexer.drain()

    code, out, _ = run(meili_settings, "check", capsys=capsys)

    assert code == 0
    assert out.strip().endswith("no drift")


def test_retry_parked_puts_parked_rows_back_in_line(app, meili_settings, capsys):
    with db.connection(), db.database.atomic():
        outbox.record("widget", ["w-1"])
        SearchOutbox.update(parked=True, attempts=8).execute()

    code, out, _ = run(meili_settings, "retry-parked", capsys=capsys)

    assert code == 0
    assert out.strip() == "1 parked row(s) back in line"
    with db.connection():
        row = SearchOutbox.get()
    assert (row.parked, row.attempts) == (False, 0)


@pytest.mark.parametrize("command", ["status", "check", "reindex", "settings", "retry-parked"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert "usage: search-indexer" in capsys.readouterr().out
