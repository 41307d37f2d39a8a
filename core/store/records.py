"""Reading a record for update and saving some of its fields, in hand-written SQL.

The appliers run these for every webhook. Through the ORM each costs more Python building
the query (filters resolved, SQL rendered) than the database spends answering it; here the
statement is rendered once per model and shape and cached, and the values still go through
the model's own fields (`to_db_value`, `_init_from_db`), so the records are the same ORM
objects with the same conversions either way. `FOR UPDATE` is PostgreSQL's; SQLite takes
its lock on the whole database at the first write, so it needs none.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from core.store.dialect import for_dialect, is_postgres
from core.store.sql import fetch, later

M = TypeVar("M", bound=Model)
_STATEMENTS: dict[tuple[Any, ...], str] = {}


def _quoted(name: str) -> str:
    return f'"{name}"'


def _select(model: type[Model], keys: tuple[str, ...], for_update: bool) -> str:
    meta = model._meta
    columns = ", ".join(_quoted(c) for c in meta.fields_db_projection.values())
    where = " AND ".join(
        f"{_quoted(meta.fields_db_projection[k])} = ${n}" for n, k in enumerate(keys, 1)
    )
    lock = " FOR UPDATE" if for_update else ""
    return f"SELECT {columns} FROM {_quoted(meta.db_table)} WHERE {where} LIMIT 1{lock}"


async def find(
    conn: BaseDBAsyncClient, model: type[M], *, for_update: bool = False, **keys: Any
) -> M | None:
    """The record whose fields equal `keys`, locked if asked (written for unique keys; with
    several matches, any one). A None key matches nothing: this is `=`, not `IS NULL`."""
    names = tuple(keys)
    postgres = is_postgres(conn)
    cache_key = ("select", model, names, for_update, postgres)
    statement = _STATEMENTS.get(cache_key)
    if statement is None:
        statement = _STATEMENTS[cache_key] = for_dialect(
            conn, _select(model, names, for_update and postgres)
        )
    fields = model._meta.fields_map
    values = [fields[name].to_db_value(keys[name], model) for name in names]
    rows = await fetch(conn, statement, values)
    if not rows:
        return None
    return model._init_from_db(**dict(rows[0]))


def _update(model: type[Model], names: tuple[str, ...]) -> str:
    meta = model._meta
    assignments = ", ".join(
        f"{_quoted(meta.fields_db_projection[name])} = ${n}" for n, name in enumerate(names, 1)
    )
    pk = _quoted(meta.db_pk_column)
    return f"UPDATE {_quoted(meta.db_table)} SET {assignments} WHERE {pk} = ${len(names) + 1}"


async def save_fields(conn: BaseDBAsyncClient, record: Model, names: Iterable[str]) -> None:
    """Write exactly the named fields of a stored record in one UPDATE (as the ORM's
    `save(update_fields=...)`: an `auto_now` time such as `updated_at` moves only if named)."""
    meta = record._meta
    wanted = set(names)
    ordered = tuple(name for name in meta.fields_db_projection if name in wanted)
    cache_key = ("update", type(record), ordered, is_postgres(conn))
    statement = _STATEMENTS.get(cache_key)
    if statement is None:
        statement = _STATEMENTS[cache_key] = for_dialect(conn, _update(type(record), ordered))
    fields = meta.fields_map
    values = [fields[name].to_db_value(getattr(record, name), record) for name in ordered]
    values.append(fields[meta.pk_attr].to_db_value(record.pk, record))
    await fetch(conn, statement, values)


def _insert(model: type[Model], names: tuple[str, ...], unique: tuple[str, ...], pg: bool) -> str:
    meta = model._meta
    columns = ", ".join(_quoted(meta.fields_db_projection[name]) for name in names)
    slots = ", ".join(f"${n}" for n in range(1, len(names) + 1))
    target = ", ".join(_quoted(meta.fields_db_projection[name]) for name in unique)
    conflict = f" ON CONFLICT ({target}) DO NOTHING" if unique else " ON CONFLICT DO NOTHING"
    insert = f"INSERT INTO {_quoted(meta.db_table)} ({columns}) VALUES ({slots}){conflict}"
    if pg:  # a count to read back (the driver's status line for INSERT does not carry it)
        return f"WITH written AS ({insert} RETURNING 1) SELECT count(*) FROM written"
    return insert


async def insert(conn: BaseDBAsyncClient, record: Model) -> None:
    """Insert a new record built in memory (`Model(...)`, not yet saved), held back until the
    transaction's next statement (`core.store.sql.later`): one statement, no ORM machinery. A
    clash on a unique key raises `IntegrityError` then, or at commit, as the ORM's create
    would (the ingest retries its transaction on it)."""
    await _insert_later(conn, record, None)


async def insert_later_unless_exists(
    conn: BaseDBAsyncClient, record: Model, unique: tuple[str, ...] = ()
) -> None:
    """`insert_unless_exists` for a caller that need not know whether it was written: held
    back like `insert`, and a clash on the unique key leaves the row that was there."""
    await _insert_later(conn, record, unique)


async def _insert_later(
    conn: BaseDBAsyncClient, record: Model, unique: tuple[str, ...] | None
) -> None:
    model = type(record)
    names = tuple(model._meta.fields_db_projection)
    cache_key = ("insert-later", model, unique)
    statement = _STATEMENTS.get(cache_key)
    if statement is None:
        meta = model._meta
        columns = ", ".join(_quoted(meta.fields_db_projection[name]) for name in names)
        slots = ", ".join(f"${n}" for n in range(1, len(names) + 1))
        statement = f"INSERT INTO {_quoted(meta.db_table)} ({columns}) VALUES ({slots})"
        if unique is not None:
            target = ", ".join(_quoted(meta.fields_db_projection[name]) for name in unique)
            statement += (
                f" ON CONFLICT ({target}) DO NOTHING" if unique else " ON CONFLICT DO NOTHING"
            )
        _STATEMENTS[cache_key] = statement
    fields = model._meta.fields_map
    values = [fields[name].to_db_value(getattr(record, name), record) for name in names]
    await later(conn, statement, values)
    record._saved_in_db = True


async def create(conn: BaseDBAsyncClient, model: type[M], **values: Any) -> M:
    """`Model.create` for the appliers: build the record and `insert` it."""
    record = model(**values)
    await insert(conn, record)
    return record


async def insert_unless_exists(
    conn: BaseDBAsyncClient, record: Model, unique: tuple[str, ...] = ()
) -> bool:
    """Insert a new record unless one with the same `unique` fields exists (or is being
    inserted by a transaction not yet committed, which this waits for); whether it was.

    With no `unique` fields named, a clash on any of the table's unique keys counts. The
    database checks them on the unique indexes themselves, so no query plan is involved.
    """
    model = type(record)
    names = tuple(model._meta.fields_db_projection)
    pg = is_postgres(conn)
    cache_key = ("insert", model, unique, pg)
    statement = _STATEMENTS.get(cache_key)
    if statement is None:
        statement = _STATEMENTS[cache_key] = for_dialect(conn, _insert(model, names, unique, pg))
    fields = model._meta.fields_map
    values = [fields[name].to_db_value(getattr(record, name), record) for name in names]
    if pg:
        written = (await fetch(conn, statement, values))[0][0]
    else:
        written, _ = await conn.execute_query(statement, values)
    if written:
        record._saved_in_db = True
    return bool(written)
