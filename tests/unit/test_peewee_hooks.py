"""The peewee internals the connection pool (bazaar/infra/pool.py) and the row mapping (bazaar/infra/rows.py)
are written against. setup.cfg pins peewee to one minor series; before moving the pin, these must pass
on the new version — a failure here names the hook that changed."""

from __future__ import annotations

import configparser
import datetime
import decimal
import uuid
from pathlib import Path

import peewee as pw
import pytest
from packaging.requirements import Requirement
from playhouse.pool import PooledSqliteDatabase

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


class RecordingPool(PooledSqliteDatabase):
    """Records the calls of the hooks TransactionPooledPostgresqlDatabase overrides."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, object]] = []

    def _is_closed(self, conn):
        self.calls.append(("_is_closed", conn))
        return super()._is_closed(conn)

    def _can_reuse(self, conn):
        self.calls.append(("_can_reuse", conn))
        return super()._can_reuse(conn)

    def _close(self, conn, close_conn=False):
        self.calls.append(("_close", conn))
        super()._close(conn, close_conn)


@pytest.fixture
def pool(tmp_path):
    pool = RecordingPool(str(tmp_path / "pool.db"), max_connections=2, timeout=1.5, check_same_thread=False)
    yield pool
    pool.close_all()


def test_the_pool_checks_a_pooled_connection_out_through_is_closed_and_back_through_can_reuse_and_close(pool):
    assert (pool._max_connections, pool._wait_timeout) == (2, 1.5)
    pool.connect()
    conn = pool.connection()
    assert len(pool._in_use) == 1
    pool.close()
    assert ("_can_reuse", conn) in pool.calls and ("_close", conn) in pool.calls
    assert len(pool._in_use) == 0
    pool.calls.clear()
    pool.connect()
    assert pool.connection() is conn  # pooled, and checked before it was handed out again
    assert pool.calls[0] == ("_is_closed", conn)
    pool.close()


def test_a_broken_connection_state_can_be_forgotten(pool):
    pool.connect()
    pool._state.reset()
    assert pool.is_closed()


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
