"""Reads that map rows to model instances without peewee's per-execution work: `select_all` (any query
selecting whole models), `Pages` (pages, with their total if asked, SQL built once per shape) and
`PreparedSelect` (the hottest by-id reads, PREPAREd on PostgreSQL). `select_all` and `Pages` give the
rows' views instead when handed a `RowViews` (a view built once per distinct row).

The mapping writes instances' `__data__` and `_dirty` directly (peewee internals: setup.cfg pins peewee's
minor series and tests/unit/test_peewee_hooks.py checks them).
"""

from __future__ import annotations

import datetime
import decimal
import functools
import itertools
import re
import uuid
import weakref
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

import peewee as pw

from bazaar.infra.db import database, is_postgres
from bazaar.infra.uuid_columns import uuid_from_text, uuids_as_text

if TYPE_CHECKING:
    from bazaar.infra.shared_reads import SharedReads


def select_all(query: pw.ModelSelect, views: RowViews | None = None) -> list:
    """The rows of a query selecting whole models (see `_RowPlan`), as model instances (or as `views`
    gives them).

    What `list(query)` gives, for a fraction of its CPU: peewee works out on every execution
    which result column fills which field, and sets each value through the field's descriptor.
    """
    return _RowPlan.of(query).read(database.execute(query).fetchall(), views)


class SharedView(dict):
    """A view `RowViews` hands to every read of its row. Never changed (a caller copies it instead), so its
    encoding is kept with it: `encoded`, set by whoever encodes it first (None until then)."""

    __slots__ = ("encoded",)

    def __init__(self, view: dict):
        super().__init__(view)
        self.encoded: bytes | None = None


class RowViews:
    """The views (public dicts) of rows, `view(instance)` of each, built once per distinct row.

    A view is a function of its row alone, so a row the database gives again (the same values, as the
    driver gave them, in the same columns) has the view built before: a page of a small catalogue is
    mostly rows seen before, and building their views (instances, ISO dates, JSON columns decoded, ids
    as text) took more CPU than PostgreSQL answering the page. A row that changed in any column is
    another row, whose view is built anew. The views are shared between callers (`SharedView`): never
    change one (copy it). Up to `_CAPACITY` rows are remembered (all forgotten when full, as `Pages` does).
    """

    _CAPACITY = 512

    def __init__(self, view: Callable[[pw.Model], dict]):
        self._view = view
        self._built: dict[tuple, dict] = {}  # (row plan, row) → view

    def of(self, plan: _RowPlan, rows: list) -> list[dict]:
        built, found = self._built, []
        for row in rows:
            key = (plan, row)
            view = built.get(key)
            if view is None:
                if len(built) >= self._CAPACITY:
                    built.clear()
                view = built[key] = SharedView(self._view(plan.instances([row])[0]))
            found.append(view)
        return found


class Pages:
    """Pages (queries with LIMIT/OFFSET selecting whole models, as `select_all` maps them) whose SQL is
    built once per shape, as `PreparedSelect`'s is, for queries of many shapes (a search page: which
    filters, which order, how many words): peewee spends 1–3 ms building the SQL of a joined page,
    more than the database answering it. Pages of one shape differ only in their values. On PostgreSQL,
    outside a transaction, a page asked for by several greenlets in the same turn of the event loop is
    read once for them (`SharedReads`), as a `_Statement`'s rows are.
    """

    _CAPACITY = 1024

    def __init__(self) -> None:
        self._compiled: dict[tuple, tuple[str, list, list, _RowPlan]] = {}
        self._statements: dict[tuple, _Statement] = {}  # counted pages' statements, PREPAREd on PostgreSQL

    def read(
        self,
        shape: Hashable,
        build: Callable[..., pw.ModelSelect],
        values: list,
        views: RowViews | None = None,
    ) -> list:
        """The instances (or `views`) of the page `build(*placeholders)` returns, one placeholder per
        value of `values` (in that order)."""
        sql, bound, plan = self._bound(shape, build, values)
        key = (sql, tuple(bound))
        return plan.read(self._shared(key) if _shareable() else _rows_of(key), views)

    @functools.cached_property
    def _shared(self) -> SharedReads:
        return _shared_reads(_rows_of)

    def read_counted(
        self,
        shape: Hashable,
        build: Callable[..., tuple[pw.ModelSelect, pw.Node]],
        values: list,
        views: RowViews | None = None,
    ) -> tuple[list, int | None]:
        """`read` of a page `build` returns with a column giving how many rows it has without LIMIT/OFFSET
        (`count(*) OVER ()`), and that number: None when the page is empty (past the end, or nothing at
        all).

        On PostgreSQL the statement is PREPAREd once per pooled connection: planning the joined page
        took PostgreSQL longer than running it. Only these pages are: their rows are sorted whole anyway
        (relevance needs every match ranked), so a generic plan cannot lose an early stop, which a page
        read in index order can (a plan for few matches scanning all of 100,000 products)."""
        key = ("counted", shape)
        sql, bound, plan = self._bound(key, build, values, counted=True)
        statement = self._statements.get(key)
        if statement is None or statement.sql != sql:
            statement = self._statements[key] = _Statement(sql)
        rows = statement.run(bound)
        total = rows[0][-1] if rows else None
        return plan.read([row[:-1] for row in rows], views), total

    def _bound(
        self, shape: Hashable, build, values: list, counted: bool = False
    ) -> tuple[str, list, _RowPlan]:
        key = (type(database.obj), shape)
        compiled = self._compiled.get(key)
        if compiled is None:
            if len(self._compiled) >= self._CAPACITY:
                self._compiled.clear()
                self._statements.clear()
            compiled = self._compiled[key] = _compile(build, len(values), counted)
        sql, params, slots, plan = compiled
        return sql, [param if slot is None else values[slot] for param, slot in zip(params, slots)], plan


def _rows_of(statement: tuple[str, tuple]) -> list:
    sql, bound = statement
    return database.execute_sql(sql, bound).fetchall()


def _shareable() -> bool:
    """Whether a read may be shared with the greenlets asking for the same rows at once (`SharedReads`): on
    PostgreSQL, outside a transaction (one reads on its own connection and sees its own writes)."""
    return is_postgres() and database.is_closed()


def _shared_reads(read: Callable) -> SharedReads:
    from bazaar.infra.shared_reads import SharedReads  # it loads gevent, as PostgreSQL's pool does

    return SharedReads(read)


def _compile(build: Callable, count: int, counted: bool = False) -> tuple[str, list, list, _RowPlan]:
    """(SQL, its parameters, which of the `count` values fills each parameter, row plan) of the query
    `build` returns given one placeholder per value; `counted`: `build` returns (the query, a column
    selected after its models' fields)."""
    markers = [f"__bazaar_param_{i}__" for i in range(count)]
    built = build(*(pw.Value(marker, converter=False) for marker in markers))
    query, total = built if counted else (built, None)
    sql, params = (query if total is None else query.select_extend(total)).sql()
    slots = [markers.index(p) if isinstance(p, str) and p in markers else None for p in params]
    return sql, params, slots, _RowPlan.of(query)


class _RowPlan:
    """How the rows of a query selecting whole models become instances, worked out once per shape.

    The query selects the fields of its own model first, then of models joined through one of
    its foreign keys each; the joined instances are attached through those keys (an outer join
    that found nothing attaches nothing).
    """

    _by_shape: dict[tuple, _RowPlan] = {}

    @classmethod
    def of(cls, query: pw.ModelSelect) -> _RowPlan:
        columns = query.selected_columns
        shape = (query.model, *map(id, columns))  # model fields live as long as their models
        plan = cls._by_shape.get(shape)
        if plan is None:
            plan = cls._by_shape[shape] = cls(query.model, columns)
        return plan

    def __init__(self, model: type[pw.Model], columns: list):
        if not all(isinstance(c, pw.Field) and not isinstance(c, pw.FieldAlias) for c in columns):
            raise TypeError("only queries selecting model fields map to instances this way")
        self.models = [model] + list(dict.fromkeys(c.model for c in columns if c.model is not model))
        # Per result column: which model's data it fills, under which name, converted how — unless the
        # driver already gave the type the field holds (psycopg2 does for most columns; SQLite seldom).
        # A uuid given as text (`uuids_as_text`; SQLite's hex) is read by `uuid_from_text`, not UUID's parser.
        self.columns = [(self.models.index(c.model), c.name, _converter(c), _held_type(c)) for c in columns]
        self.joins = [
            (index, _foreign_key_to(model, joined).name, joined._meta.primary_key.name)
            for index, joined in enumerate(self.models)
            if index
        ]

    def read(self, rows: list, views: RowViews | None) -> list:
        """The instances of `rows`, or their views when `views` is given."""
        return self.instances(rows) if views is None else views.of(self, rows)

    def instances(self, rows: list) -> list:
        models, columns, joins = self.models, self.columns, self.joins
        found = []
        for row in rows:
            data = [{} for _ in models]
            for value, (index, name, python_value, held) in zip(row, columns):
                data[index][name] = value if value is None or type(value) is held else python_value(value)
            base = _bare(models[0], data[0])
            for index, attr, primary_key in joins:
                if data[index].get(primary_key) is not None:  # an outer join that found nothing: no instance
                    setattr(base, attr, _bare(models[index], data[index]))
            base._dirty.clear()
            found.append(base)
        return found


# Fields whose `python_value` returns a value of this exact type unchanged (peewee 3.17/3.18: `adapt` or an
# isinstance check); subclasses (JSON, enums) convert whatever they get.
_HELD_TYPES = {
    pw.CharField: str,
    pw.TextField: str,
    pw.IntegerField: int,
    pw.AutoField: int,
    pw.BooleanField: bool,
    pw.DateTimeField: datetime.datetime,
    pw.UUIDField: uuid.UUID,
    pw.DecimalField: decimal.Decimal,
}


def _held_type(field: pw.Field) -> type | None:
    if type(field) is pw.ForeignKeyField:
        field = field.rel_field
    return _HELD_TYPES.get(type(field))


def _converter(field: pw.Field) -> Callable:
    return uuid_from_text if _held_type(field) is uuid.UUID else field.python_value


def _bare(model: type[pw.Model], data: dict) -> pw.Model:
    """An instance holding `data`, as `model(__no_default__=True)` then setting `__data__` makes it."""
    instance = model.__new__(model)
    instance.__data__ = data
    instance._dirty = set()
    instance.__rel__ = {}
    return instance


def _foreign_key_to(model: type[pw.Model], target: type[pw.Model]) -> pw.ForeignKeyField:
    keys = [
        f for f in model._meta.sorted_fields if isinstance(f, pw.ForeignKeyField) and f.rel_model is target
    ]
    if len(keys) != 1:
        raise TypeError(f"{target.__name__} must join {model.__name__} through exactly one foreign key")
    return keys[0]


class _Statement:
    """One SQL statement, PREPAREd on each pooled PostgreSQL connection the first time it runs there
    (elsewhere executed as it is). On PostgreSQL, outside a transaction, the greenlets asking for its rows
    with the same parameters in the same turn of the event loop share one read (`SharedReads`)."""

    _names = itertools.count(1)

    def __init__(self, sql: str):
        self.sql = sql
        self._name = f"bazaar_prepared_{next(self._names)}"
        self._executes: dict[int, str] = {}  # parameter count → the EXECUTE statement
        self._prepared_on: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # connections

    def run(self, bound: list) -> list:
        """The rows of the statement with `bound` as its parameters (shared: never change them)."""
        if _shareable():
            return self._shared(tuple(bound))
        if is_postgres():
            return self._read(bound)
        return database.execute_sql(self.sql, bound).fetchall()

    @functools.cached_property
    def _shared(self) -> SharedReads:
        return _shared_reads(self._read)

    def _read(self, bound) -> list:
        execute = self._executes.get(len(bound))
        if execute is None:
            execute = f"EXECUTE {self._name}(" + ", ".join(["%s"] * len(bound)) + ")"
            self._executes[len(bound)] = execute

        def run_on(conn) -> list:
            cursor = conn.cursor()
            uuids_as_text(cursor)  # the row plan converts what a view needs, for new rows only
            if conn in self._prepared_on:
                database._log_query(execute, bound)  # peewee's debug log of every statement
                cursor.execute(execute, bound)
                return cursor.fetchall()
            # First use on this connection: PREPARE and EXECUTE in one round trip (the last one's result).
            numbered = iter(range(1, len(bound) + 1))
            prepare = f"PREPARE {self._name} AS " + re.sub("%s", lambda _: f"${next(numbered)}", self.sql)
            statements = prepare.replace("%", "%%") + "; " + execute
            database._log_query(statements, bound)
            try:
                cursor.execute(statements, bound)
            except Exception:
                database.retire(conn)  # whether its PREPARE took effect is unknown
                raise
            self._prepared_on[conn] = True
            return cursor.fetchall()

        return database.run(run_on)


class PreparedSelect:
    """A SELECT whose SQL is generated once per kind of database, then executed with new values.

    For the hottest reads (a row by id on every request): building the SQL of a joined peewee
    query costs more CPU than the database spends answering it, and PostgreSQL spends more time
    planning such a join than running it. So the SQL is built once, and on PostgreSQL each pooled
    connection PREPAREs the statement once and EXECUTEs it after that.

    `build` receives placeholder nodes, one per field in `fields`, and returns a query selecting
    whole models (as `select_all` maps them); `rows(*values)` converts each value with its field
    and returns the instances (or their views, given `views`).
    """

    def __init__(self, build: Callable[..., pw.ModelSelect], *fields: pw.Field):
        self._build = build
        self._fields = fields
        self._compiled: dict[type, tuple[_Statement, list, list, _RowPlan]] = {}

    def _compile(self) -> tuple[_Statement, list, list, _RowPlan]:
        """(statement, its parameters, which of `fields` fills each parameter, row plan) for this database."""
        kind = type(database.obj)
        if kind not in self._compiled:
            sql, params, slots, plan = _compile(self._build, len(self._fields))
            self._compiled[kind] = (_Statement(sql), params, slots, plan)
        return self._compiled[kind]

    def rows(self, *values, views: RowViews | None = None) -> list:
        """The instances (or `views`) of the rows read with `values`."""
        statement, params, slots, plan = self._compile()
        converted = [field.db_value(value) for field, value in zip(self._fields, values)]
        return plan.read(
            statement.run([param if slot is None else converted[slot] for param, slot in zip(params, slots)]),
            views,
        )

    def first(self, *values, views: RowViews | None = None):
        found = self.rows(*values, views=views)
        return found[0] if found else None
