"""Hand-written statements for the hottest paths, built from the models' metadata, and run
as server-side prepared statements.

On ``POST /orders`` the ORM spent longer compiling its inserts and conditional updates
than PostgreSQL spent running them (``Model.objects.create``: ~250 µs of Python each,
a conditional ``update()`` with ``F()`` ~390 µs; bench/results/orders.md). These helpers
build each statement's text once per model (only metadata goes into SQL; values are
always bound) and do what the ORM does with values (``pre_save``, ``get_db_prep_save``),
so the rows are the ones ``bulk_create`` would write. Like ``bulk_create`` they send no
``pre_save``/``post_save`` signal, and they do not know ``db_default``, generated columns or
multi-table inheritance: ``insert_rows`` refuses (``UnfaithfulInsert``) a model with any of
those, or with a save receiver connected, rather than write something else than the ORM would.
tests/test_db_faithful.py checks the rows against ``bulk_create``'s for every model it is
used on, and pins the Django version this was checked against.

``execute`` runs such a statement through ``PREPARE``/``EXECUTE``: PostgreSQL then parses
and plans it once per connection instead of on every request (checkout's store read, a
six-table join, spent ~0.3 ms of the server's CPU on parse and plan for 0.05 ms of work).
Prepared statements belong to a database session, so this is for direct connections or a
pooler in session mode; behind a transaction-mode pooler (PgBouncer's default) set
``DB_PREPARED_STATEMENTS=0``. Other databases than PostgreSQL run the plain statement.

``rows_insert`` goes one step further for batches (settlement writes hundreds of
envelopes and settlement rows a second): plain tuples, no instances, ``COPY … FROM
STDIN`` on PostgreSQL. Values go in as given — no field defaults, no ``auto_now``: name
every column that has no database default, and pass ready values (ints, strs, bools,
aware datetimes, None).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, router
from django.db.backends.signals import connection_created
from django.db.models import F, Model
from django.db.models.signals import post_save, pre_save

_PREPARED = "_shop_prepared_statements"


def table(model: type[Model]) -> str:
    """``model``'s table as hand-written SQL names it: quoted, from the model's metadata. The
    one way every ``<app>/sql.py`` names a table (never a literal such as ``products_sku``)."""
    return connection.ops.quote_name(model._meta.db_table)


def read_connection(model: type[Model]):
    """The connection a hand-written read of ``model``'s table uses: a replica where the
    request may read one (``shop/replicas.py``), the primary otherwise — as the ORM's reads."""
    return connections[router.db_for_read(model) or DEFAULT_DB_ALIAS]


def column(model: type[Model], name: str) -> str:
    """The quoted column of ``model``'s field ``name`` (a foreign key's ``_id`` column too)."""
    return connection.ops.quote_name(model._meta.get_field(name).column)


def _forget_prepared(sender, connection, **kwargs) -> None:
    # A new session has none of the old one's prepared statements.
    connection.__dict__[_PREPARED] = set()


connection_created.connect(_forget_prepared, dispatch_uid="shop-db-prepared-statements")


@cache
def _prepared_forms(sql: str) -> tuple[str, str, str]:
    """``(name, PREPARE …, EXECUTE …)`` of a statement written with ``%s`` placeholders."""
    if "%%" in sql:
        raise ValueError("a prepared statement cannot hold a literal %")
    name = "shop_" + hashlib.blake2b(sql.encode(), digest_size=8).hexdigest()
    number = itertools.count(1)
    prepare = f"PREPARE {name} AS " + re.sub("%s", lambda _: f"${next(number)}", sql)
    count = sql.count("%s")
    execute = f"EXECUTE {name}" + (f" ({', '.join(['%s'] * count)})" if count else "")
    return name, prepare, execute


def execute(cursor, sql: str, params: Sequence) -> None:
    """``cursor.execute(sql, params)``, as a prepared statement on PostgreSQL (see above), on
    the cursor's own connection (the primary's, or a replica's: ``read_connection``)."""
    db = getattr(cursor, "db", None) or connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql" or not settings.DB_PREPARED_STATEMENTS:
        cursor.execute(sql, params)
        return
    name, prepare, run = _prepared_forms(sql)
    prepared = db.__dict__.setdefault(_PREPARED, set())
    if name not in prepared:
        cursor.execute(prepare)
        prepared.add(name)
    cursor.execute(run, params)


@dataclass(frozen=True)
class CompiledQuery:
    """An ORM query compiled once, to be run again and again as a prepared statement with
    other values: ``compiled_query`` made it from a queryset holding stand-in values
    (``slots``), ``run_compiled`` puts the real ones in their places. For the hottest reads,
    where compiling the query cost the ORM more than PostgreSQL spent answering it (``/me``,
    the owner's figures and member pages); the SQL stays the ORM's."""

    sql: str
    params: tuple
    places: tuple[int, ...]


# A stand-in no row's id equals: put it in a query where a value comes at run time (the
# asker's id, the store's id), and name it in ``slots``.
STAND_IN = -7_316_402_559


def compiled_query(queryset, *, slots: Sequence = (STAND_IN,), suffix: str = "") -> CompiledQuery:
    """``queryset``'s SQL (plus ``suffix``, e.g. ``" LIMIT %s OFFSET %s"``, whose values come
    last) and where each stand-in of ``slots`` sits among its parameters (once each)."""
    sql, params = queryset.query.sql_with_params()
    places = []
    for slot in slots:
        found = [i for i, param in enumerate(params) if param == slot]
        if len(found) != 1:
            raise ValueError(f"the stand-in {slot!r} is {len(found)} times in the query's parameters")
        places.append(found[0])
    return CompiledQuery(sql=sql + suffix, params=tuple(params), places=tuple(places))


def run_compiled(cursor, query: CompiledQuery, values: Sequence, extra: Sequence = ()) -> None:
    """Run ``query`` with ``values`` in its slots' places and ``extra`` for its suffix."""
    params = list(query.params)
    for place, value in zip(query.places, values, strict=True):
        params[place] = value
    execute(cursor, query.sql, [*params, *extra])


@cache
def _insert_fields(model: type[Model]) -> tuple:
    meta = model._meta
    return tuple(f for f in meta.concrete_fields if f is not meta.auto_field)


@cache
def _insert_sql(model: type[Model], rows: int) -> str:
    meta = model._meta
    fields = _insert_fields(model)
    columns = ", ".join(column(model, f.name) for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    # Only model metadata is interpolated (table and column names); values are bound.
    return (
        f"INSERT INTO {table(model)} ({columns}) VALUES {', '.join([row] * rows)} "  # noqa: S608
        f"RETURNING {column(model, meta.pk.name)}"
    )


class UnfaithfulInsert(TypeError):
    """``insert_rows`` was asked to write a model it cannot write as the ORM would."""


@cache
def _unfaithful_fields(model: type[Model]) -> tuple[str, ...]:
    """Why the hand-written insert would differ from the ORM's for ``model`` (by its fields and
    table), as readable reasons; empty when it would not."""
    meta = model._meta
    reasons = [f"{f.name} has a db_default" for f in meta.concrete_fields if f.has_db_default()]
    reasons += [f"{f.name} is generated" for f in meta.concrete_fields if f.generated]
    if meta.parents:
        reasons.append("it inherits a table (multi-table inheritance)")
    return tuple(reasons)


def insert_rows_refusal(model: type[Model]) -> str:
    """Why ``insert_rows`` refuses ``model`` ('' when it accepts it): fields the hand-written
    statement does not know, or a save receiver it would skip."""
    reasons = list(_unfaithful_fields(model))
    if pre_save.has_listeners(model) or post_save.has_listeners(model):
        reasons.append("a pre_save or post_save receiver listens to it")
    return "; ".join(reasons)


def insert_rows(objs: Sequence[Model]) -> None:
    """Insert new instances of one model in one statement and set their primary keys, as
    ``bulk_create`` does (same values, no signals) for a fraction of its Python time. Other
    databases than PostgreSQL (the embedded demo's SQLite) simply use ``bulk_create``.

    Raises ``UnfaithfulInsert`` for a model whose rows it could not write as the ORM would
    (``insert_rows_refusal``): use ``bulk_create`` or ``save`` for those."""
    if not objs:
        return
    model = type(objs[0])
    refusal = insert_rows_refusal(model)
    if refusal:
        raise UnfaithfulInsert(f"insert_rows cannot write {model.__name__} as the ORM would: {refusal}")
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objs)
        return
    db = connections[DEFAULT_DB_ALIAS]
    plan = _insert_plan(model)
    params = [_db_value(obj, db, *step) for obj in objs for step in plan]
    with db.cursor() as cursor:
        execute(cursor, _insert_sql(model, len(objs)), params)
        ids = cursor.fetchall()
    for obj, (pk,) in zip(objs, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = db.alias


# Through fields of exactly these classes, a value of exactly these types goes to PostgreSQL
# as it is: ``get_db_prep_save`` only checks or converts it to its own type (``int()``,
# ``str()``, an aware datetime unchanged) and psycopg2 adapts it. Half of ``insert_rows``'s
# time went to that chain, value by value. Anything else (another field class, a subclass,
# a naive datetime, a JSON value) takes the ORM's own path.
_AS_IS = {
    models.AutoField: (int,),
    models.BigAutoField: (int,),
    models.SmallAutoField: (int,),
    models.IntegerField: (int,),
    models.BigIntegerField: (int,),
    models.SmallIntegerField: (int,),
    models.PositiveIntegerField: (int,),
    models.PositiveBigIntegerField: (int,),
    models.PositiveSmallIntegerField: (int,),
    models.CharField: (str,),
    models.BooleanField: (bool,),
    models.DateTimeField: (datetime,),
}


@cache
def _insert_plan(model: type[Model]) -> tuple:
    """Per inserted field: the field, the attribute to read when its ``pre_save`` is the
    plain read (else None: ``auto_now`` and the like run theirs), and the value types it
    sends unchanged (``_AS_IS``; a foreign key: its target's)."""
    plan = []
    for field in _insert_fields(model):
        # A foreign key (exactly Django's own) sends what its target field would.
        is_key = type(field) in (models.ForeignKey, models.OneToOneField)
        target = field.target_field if is_key else field
        plain_read = type(field).pre_save is models.Field.pre_save
        plan.append((field, field.attname if plain_read else None, _AS_IS.get(type(target), ())))
    return tuple(plan)


def _db_value(obj: Model, db, field, attname: str | None, kinds: tuple[type, ...]):
    """``field.get_db_prep_save(field.pre_save(obj, add=True), db)``, without the chain where
    it would change nothing (see ``_AS_IS``)."""
    value = getattr(obj, attname) if attname else field.pre_save(obj, add=True)
    if kinds and (value is None or (type(value) in kinds and getattr(value, "tzinfo", True) is not None)):
        return value
    return field.get_db_prep_save(value, db)


def execute_rowcount(sql: str, params: Sequence) -> int:
    """Run one hand-written statement (prepared); how many rows it changed."""
    with connection.cursor() as cursor:
        execute(cursor, sql, params)
        return cursor.rowcount


def bulk_add(
    *, model: type[Model], keys: Sequence[str], columns: Mapping[str, int], rows: Iterable[tuple]
) -> int:
    """Add to counter columns of many rows at once: each row is ``(*key values, amount)``, and
    each field of ``columns`` grows by its coefficient times the amount
    (``columns={"commission_pending_fen": -1, "commission_settled_fen": 1}``). Rows whose
    amount is 0 are skipped; a key may appear once. Returns how many rows changed.

    The lock-then-update idiom, in one place: on PostgreSQL the rows are locked in key order
    (``SELECT … ORDER BY <keys> FOR NO KEY UPDATE``), the order in which one-by-one updates
    would take them, so two concurrent batches queue instead of deadlocking; then one
    ``UPDATE … FROM (VALUES …)``. Keys and amounts are integers.

    ORM equivalent (and the path elsewhere, and for a single row): in key order,
    ``model.objects.filter(**keys).update(**{name: F(name) + coefficient * amount})``.
    """
    items = sorted(row for row in rows if row[-1])
    if len({row[:-1] for row in items}) != len(items):
        raise ValueError(f"bulk_add: a key of {model.__name__} appears twice; sum its amounts first")
    if connection.vendor != "postgresql" or len(items) < 2:
        changed = 0
        for *key, amount in items:
            changes = {name: F(name) + coefficient * amount for name, coefficient in columns.items()}
            changed += model.objects.filter(**dict(zip(keys, key, strict=True))).update(**changes)
        return changed
    names = [*keys, "amount"]
    values = ", ".join(["(" + ", ".join(["%s::bigint"] * len(names)) + ")"] * len(items))
    params = [value for row in items for value in row]
    joined = " AND ".join(f"t.{column(model, key)} = v.{key}" for key in keys)
    order = ", ".join(f"t.{column(model, key)}" for key in keys)
    assignments = ", ".join(
        f"{column(model, name)} = t.{column(model, name)} + {int(coefficient)} * v.amount"
        for name, coefficient in columns.items()
    )
    source = f"(VALUES {values}) AS v({', '.join(names)})"
    # Only model metadata and integer coefficients are interpolated; values are bound.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {table(model)} AS t JOIN {source} ON {joined} "  # noqa: S608
            f"ORDER BY {order} FOR NO KEY UPDATE OF t",
            params,
        )
        cursor.execute(f"UPDATE {table(model)} AS t SET {assignments} FROM {source} WHERE {joined}", params)  # noqa: S608
        return cursor.rowcount


def rows_insert(*, model: type[Model], fields: Sequence[str], rows: Iterable[tuple]) -> None:
    """Insert ``rows`` (tuples of values in ``fields`` order) into ``model``'s table: ``COPY``
    on PostgreSQL, ``bulk_create`` elsewhere (the SQLite demo). See the module docstring."""
    rows = list(rows)
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(
            [model(**dict(zip(fields, row, strict=True))) for row in rows], batch_size=500
        )
        return
    columns = ", ".join(column(model, name) for name in fields)
    buffer = io.StringIO()
    buffer.writelines("\t".join(map(_copy_text, row)) + "\n" for row in rows)
    buffer.seek(0)
    with connection.cursor() as cursor:
        cursor.copy_expert(f"COPY {table(model)} ({columns}) FROM STDIN", buffer)


class _CopyStream:
    """A file-like ``read`` over rows, formatted as ``COPY`` text only as PostgreSQL asks."""

    def __init__(self, rows: Iterable[tuple]) -> None:
        self._rows = iter(rows)
        self._rest = ""
        self.count = 0
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> str:
        try:
            return self._read(size)
        except BaseException as exc:  # psycopg2 would report it as a cancelled COPY
            self.error = exc
            raise

    def _read(self, size: int) -> str:
        parts, length = [self._rest], len(self._rest)
        while size < 0 or length < size:
            row = next(self._rows, None)
            if row is None:
                break
            text = row if type(row) is str else "\t".join(map(_copy_text, row)) + "\n"
            parts.append(text)
            length += len(text)
            self.count += 1
        data = "".join(parts)
        if size < 0:
            self._rest = ""
            return data
        self._rest = data[size:]
        return data[:size]


def rows_copy(*, model: type[Model], fields: Sequence[str], rows: Iterable[tuple]) -> int:
    """``rows_insert`` for a stream of any length: one ``COPY`` fed from the iterator while
    PostgreSQL reads it, so Python formats the next rows while the server writes the last
    ones, and nothing but a 64 kB buffer is held. Elsewhere (the SQLite demo) ``rows_insert``
    in batches.

    A row may also come as its ready ``COPY`` text line (values joined by tabs, each escaped
    with ``copy_escape``, ending in a newline), for a caller that formats a million rows faster
    knowing their types (PostgreSQL only). How many rows went in. An exception from the
    iterator aborts the ``COPY`` and is raised as it is (run it in ``atomic`` to go on using
    the connection afterwards)."""
    if connection.vendor != "postgresql":
        count, rows = 0, iter(rows)
        while batch := list(itertools.islice(rows, 5_000)):
            rows_insert(model=model, fields=fields, rows=batch)
            count += len(batch)
        return count
    columns = ", ".join(column(model, name) for name in fields)
    stream = _CopyStream(rows)
    with connection.cursor() as cursor:
        try:
            # size positionally: Django's debug cursor (DEBUG=1) passes only positional arguments on
            cursor.copy_expert(f"COPY {table(model)} ({columns}) FROM STDIN", stream, 65_536)
        except Exception:
            if stream.error is not None:
                raise stream.error from None
            raise
    return stream.count


def copy_escape(text: str) -> str:
    """A text value as ``COPY``'s text format writes it (backslash, tab and line ends escaped)."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def _copy_text(value: object) -> str:
    """One value in ``COPY``'s text format."""
    if type(value) is str:  # the common case first (a bill's million lines are mostly text)
        text = value
    elif value is None:
        return r"\N"
    elif isinstance(value, bool):
        return "t" if value else "f"
    elif isinstance(value, int):
        return str(value)
    elif isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("rows_insert takes aware datetimes only")
        return value.isoformat()
    else:
        text = str(value)
    return copy_escape(text)
