"""The peewee internals the connection pool (bazaar/infra/pool.py) and the row mapping (bazaar/infra/rows.py)
are written against. setup.cfg pins peewee to one minor series; before moving the pin, these must pass
on the new version — a failure here names the hook that changed."""

from __future__ import annotations

import configparser
import datetime
import decimal
import logging
import sqlite3
import uuid
from pathlib import Path

import peewee as pw
import pytest
from packaging.requirements import Requirement

from bazaar.infra import rows

ROOT = Path(__file__).resolve().parents[2]


def test_the_installed_peewee_is_the_pinned_minor_series():
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    (pin,) = [
        Requirement(line)
        for line in setup["options"]["install_requires"].splitlines()
        if line.strip().startswith("peewee") and not line.strip().startswith("peewee-")
    ]
    assert pin.specifier.contains(pw.__version__), f"peewee {pw.__version__} is outside setup.cfg's {pin}"
    assert not pin.specifier.contains("4.6.0"), "the pin must hold peewee to one minor series"


def test_a_connection_state_is_set_and_reset_through_its_fields(tmp_path):
    database = pw.SqliteDatabase(str(tmp_path / "state.db"))
    state, conn = database._state, object()
    state.set_connection(conn)
    assert (state.closed, state.conn, state.transactions) == (False, conn, [])
    assert not database.is_closed()
    state.reset()
    assert (state.closed, state.conn) == (True, None) and database.is_closed()


def test_driver_errors_come_out_as_peewees_and_statements_are_logged_for_debugging(tmp_path, caplog):
    database = pw.SqliteDatabase(str(tmp_path / "errors.db"))
    with pytest.raises(pw.OperationalError):
        with pw.__exception_wrapper__:
            raise sqlite3.OperationalError("gone")
    with caplog.at_level(logging.DEBUG, logger="peewee"):
        database._log_query("SELECT %s", [1])
    assert [record.msg for record in caplog.records] == [("SELECT %s", [1])]


def test_a_postgresql_database_opens_and_checks_connections_through_these_hooks():
    database = pw.PostgresqlDatabase("any")
    for hook in ("_connect", "_set_server_version", "_initialize_connection"):
        assert callable(getattr(database, hook))
    assert callable(database._adapter.is_connection_reusable)


class Item(pw.Model):
    name = pw.CharField()
    size = pw.IntegerField(null=True)


def test_a_model_instance_is_its_data_dict_and_a_dirty_set():
    item = Item(__no_default__=True)
    assert item.__data__ == {} and isinstance(item._dirty, set)
    item.__data__ = {"id": 7, "name": "lamp"}
    assert (item.id, item.name, item.size) == (7, "lamp", None)
    item.size = 3
    assert item._dirty == {"size"}
    item._dirty.clear()
    assert not item.is_dirty()


def test_a_query_names_its_selected_fields_and_takes_unconverted_values():
    query = Item.select(Item.id, Item.name).where(Item.name == pw.Value("__marker__", converter=False))
    assert query.selected_columns == [Item.id, Item.name]
    assert query.model is Item
    assert Item.size.python_value("4") == 4
    _sql, params = query.sql()
    assert params == ["__marker__"]


@pytest.mark.parametrize("field_class, held_type", list(rows._HELD_TYPES.items()))
def test_fields_the_row_mapping_reads_without_python_value_return_a_value_of_their_type_unchanged(
    field_class, held_type
):
    # rows.py skips `python_value` for these field classes when the driver already gave `held_type`.
    samples = {
        str: "lamp",
        int: 7,
        bool: True,
        datetime.datetime: datetime.datetime(2026, 12, 3, 8, 0, tzinfo=datetime.UTC),
        uuid.UUID: uuid.uuid4(),
        decimal.Decimal: decimal.Decimal("19.99"),
    }
    field = field_class() if field_class is not pw.DecimalField else pw.DecimalField(decimal_places=2)
    value = samples[held_type]
    assert field.python_value(value) is value
