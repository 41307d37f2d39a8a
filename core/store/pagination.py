"""Keyset (cursor) pagination: stable order, no offsets, every row visited once.

The cursor is the sort key of the last row returned, base64url-encoded JSON; it is opaque
to callers. A page asks for one row more than the limit to know whether another follows.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from core.errors import FieldProblem, ValidationFailed

M = TypeVar("M", bound=Model)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class SortKey:
    """One column of the order; `descending` for newest-first."""

    field: str
    descending: bool = False


NEWEST_FIRST: tuple[SortKey, ...] = (SortKey("created_at", True), SortKey("id", True))


@dataclass(frozen=True)
class Page(Generic[M]):
    items: list[M]
    next_cursor: str | None


def _encode_value(value: Any) -> list[Any]:
    if isinstance(value, datetime):
        return ["d", value.isoformat()]
    if isinstance(value, uuid.UUID):
        return ["u", str(value)]
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, int):
        return ["i", value]
    return ["s", str(value)]


def _decode_value(tagged: Any) -> Any:
    tag, value = tagged
    if tag == "d":
        return datetime.fromisoformat(value)
    if tag == "u":
        return uuid.UUID(value)
    if tag == "b":
        return bool(value)
    if tag == "i":
        return int(value)
    if tag == "s":
        return str(value)
    raise ValueError(tag)


def cursor_scope(query: QuerySet[Any], order: Sequence[SortKey]) -> str:
    """What a cursor belongs to: the table and its sort keys, so one list's cursor
    (or junk that happens to decode) is refused by another instead of read as a position."""
    fields = ",".join(f"-{k.field}" if k.descending else k.field for k in order)
    return f"{query.model._meta.db_table}:{fields}"


def encode_cursor(values: Sequence[Any], scope: str = "") -> str:
    raw = orjson.dumps([scope, [_encode_value(v) for v in values]])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, width: int, scope: str = "") -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        given, tagged = orjson.loads(raw)
        values = [_decode_value(item) for item in tagged] if given == scope else []
    except Exception:
        values = []
    if len(values) != width:
        raise ValidationFailed([FieldProblem("cursor", "is not a cursor this list returned")])
    return values


def _after(order: Sequence[SortKey], values: Sequence[Any]) -> Q:
    """Rows strictly after `values` in `order`: (a > x) or (a = x and b > y) or ..."""
    branches = []
    for position, key in enumerate(order):
        equal = {order[i].field: values[i] for i in range(position)}
        lookup = f"{key.field}__lt" if key.descending else f"{key.field}__gt"
        branches.append(Q(**equal, **{lookup: values[position]}))
    return Q(*branches, join_type=Q.OR)


async def paginate(
    query: QuerySet[M],
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    order: Sequence[SortKey] = NEWEST_FIRST,
    prefetch: Sequence[str] = (),
    key: Callable[[M], Sequence[Any]] | None = None,
) -> Page[M]:
    """One page of `query` in `order` (whose last key must be unique, like `id`)."""
    scope = cursor_scope(query, order)
    if cursor:
        position = decode_cursor(cursor, len(order), scope)
        # The OR of `_after` is no index bound; the first key's half-open range is, so a page
        # deep in a list starts where the cursor is instead of walking the rows before it.
        first = order[0]
        edge = f"{first.field}__lte" if first.descending else f"{first.field}__gte"
        query = query.filter(Q(**{edge: position[0]}), _after(order, position))
    ordering = [f"-{k.field}" if k.descending else k.field for k in order]
    rows = await query.order_by(*ordering).limit(limit + 1).prefetch_related(*prefetch)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        values = key(last) if key else [getattr(last, k.field) for k in order]
        next_cursor = encode_cursor(values, scope)
    return Page(rows, next_cursor)
