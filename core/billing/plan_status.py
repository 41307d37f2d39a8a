"""A tenant's plan status: what a product reads to decide what the tenant may do.

Rules (the contract's, with the choices it leaves open written down here):
- The tenant's current subscription is the best of its subscriptions: an entitling one
  (active, trialing, past_due) before any other, then the one whose period ends last,
  then the newest. `status` is that subscription's status, or `none` without any.
- `entitled` is true for active and trialing, and for past_due until exactly
  `PAYMENTS_PAST_DUE_GRACE_DAYS` after the moment it became past_due (`past_due_since`, the
  provider's time of the fact that moved it there); 0 days: not entitled once past_due.
- `purchases` are the paid one-time purchases (partially refunded ones still count; fully
  refunded ones do not).
- `features` merges the plan's features (when entitled) with those of every paid one-time
  item, in the order they were paid: a number keeps the larger value, a true boolean stays
  true, anything else takes the later item's value.

It is the hottest read of the service, so it is one round trip: a single SQL statement
(`core.billing.queries`) without ORM objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from tortoise import connections

from core.billing import queries
from core.billing.plan_cache import cache
from core.store.dialect import for_dialect
from core.timeutil import isoformat, utcnow

ENTITLING = ("active", "trialing", "past_due")
KEEPS_FEATURES = ("paid", "partially_refunded")
_FLOOR = datetime.min.replace(tzinfo=UTC)


def _time(value: Any) -> datetime | None:
    """PostgreSQL hands back datetimes; SQLite hands back ISO text."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _features(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str | bytes):
        loaded = orjson.loads(value)
        return loaded if isinstance(loaded, dict) else {}
    return dict(value)


@dataclass(frozen=True)
class _Row:
    kind: str
    id: str
    consumer_key: str
    code: str
    status: str
    period_end: datetime | None
    cancel_at_period_end: bool
    trial_end: datetime | None
    past_due_since: datetime | None
    created_at: datetime | None
    paid_at: datetime | None
    item_name: str | None
    item_kind: str | None
    item_interval: str | None
    item_features: dict[str, Any]

    @classmethod
    def read(cls, row: dict[str, Any]) -> _Row:
        return cls(
            kind=row["kind"],
            id=str(row["id"]),
            consumer_key=row["consumer_key"],
            code=row["code"],
            status=row["status"],
            period_end=_time(row["period_end"]),
            cancel_at_period_end=bool(row["cancel_at_period_end"]),
            trial_end=_time(row["trial_end"]),
            past_due_since=_time(row["past_due_since"]),
            created_at=_time(row["created_at"]),
            paid_at=_time(row["paid_at"]),
            item_name=row["item_name"],
            item_kind=row["item_kind"],
            item_interval=row["item_interval"],
            item_features=_features(row["item_features"]),
        )

    def rank(self) -> tuple[int, datetime, datetime]:
        return (
            1 if self.status in ENTITLING else 0,
            self.period_end or _FLOOR,
            self.created_at or _FLOOR,
        )


def grace_end(past_due_since: datetime | None, grace_days: int) -> datetime | None:
    """When a past_due subscription's grace ends (None: it has none)."""
    if grace_days <= 0 or past_due_since is None:
        return None
    return past_due_since + timedelta(days=grace_days)


def is_entitled(
    status: str, past_due_since: datetime | None, grace_days: int, now: datetime
) -> bool:
    """Active and trialing are; past_due is until its grace ends, counted from the moment it
    became past_due. With no grace days it is not, whatever the clocks say: a record that
    says past_due describes a change that has happened."""
    if status in ("active", "trialing"):
        return True
    if status != "past_due":
        return False
    ends = grace_end(past_due_since, grace_days)
    return ends is not None and now < ends


def merge_features(into: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        current = into.get(key)
        numbers = (int, float)
        both_numbers = (
            isinstance(value, numbers)
            and isinstance(current, numbers)
            and not isinstance(value, bool)
            and not isinstance(current, bool)
        )
        if both_numbers:
            into[key] = max(current, value)
        elif isinstance(value, bool) and isinstance(current, bool):
            into[key] = current or value
        else:
            into[key] = value
    return into


async def _rows(consumer_tenant_id: str, consumer_key: str | None) -> list[_Row]:
    connection = connections.get("default")
    if consumer_key is None:
        statement, values = queries.PLAN_STATUS_ROWS, [consumer_tenant_id] * 2
    else:
        statement = queries.PLAN_STATUS_ROWS_OF_CONSUMER
        values = [consumer_tenant_id, consumer_key] * 2
    found = await connection.execute_query_dict(for_dialect(connection, statement), values)
    return [_Row.read(row) for row in found]


async def plan_status(
    consumer_tenant_id: str, consumer_key: str | None, grace_days: int
) -> dict[str, Any]:
    """The contract's plan-status object (see `plan_status_json`)."""
    loaded: dict[str, Any] = orjson.loads(
        await plan_status_json(consumer_tenant_id, consumer_key, grace_days)
    )
    return loaded


async def plan_status_json(
    consumer_tenant_id: str, consumer_key: str | None, grace_days: int
) -> bytes:
    """The plan-status object as JSON: from this process's cache when it can be trusted
    (`core.billing.plan_cache`), else from one indexed query.

    The cache holds the answer already serialized, without its last member `evaluatedAt`,
    which is appended fresh to every answer: a hit costs no serialization, and an answer
    costs a few hundred bytes of memory.
    """
    cached = cache.get(consumer_tenant_id, consumer_key)
    if cached is None:
        generation = cache.generation
        answer, valid_for = await evaluate(consumer_tenant_id, consumer_key, grace_days)
        answer.pop("evaluatedAt", None)
        cached = orjson.dumps(answer)
        cache.put(
            consumer_tenant_id,
            consumer_key,
            cached,
            read_at_generation=generation,
            valid_for=valid_for,
        )
    evaluated = isoformat(utcnow()) or ""
    return b"".join((cached[:-1], b',"evaluatedAt":"', evaluated.encode(), b'"}'))


async def evaluate(
    consumer_tenant_id: str,
    consumer_key: str | None,
    grace_days: int,
    *,
    now: datetime | None = None,
) -> tuple[dict[str, Any], float | None]:
    """The answer from the database as of `now` (default: this moment), and for how many
    seconds time alone leaves it true (None: until a write changes it)."""
    now = now or utcnow()
    rows = await _rows(consumer_tenant_id, consumer_key)
    subscriptions = [row for row in rows if row.kind == "s"]
    purchases = sorted(
        (row for row in rows if row.kind == "p"),
        key=lambda row: (row.paid_at or _FLOOR, row.created_at or _FLOOR),
    )
    current = max(subscriptions, key=_Row.rank) if subscriptions else None
    entitled = current is not None and is_entitled(
        current.status, current.past_due_since, grace_days, now
    )
    features: dict[str, Any] = {}
    plan = subscription = None
    if current is not None:
        plan = {
            "code": current.code,
            "name": current.item_name,
            "kind": current.item_kind or "recurring",
            "interval": current.item_interval,
        }
        subscription = {
            "id": current.id,
            "status": current.status,
            "currentPeriodEnd": isoformat(current.period_end),
            "cancelAtPeriodEnd": current.cancel_at_period_end,
            "trialEnd": isoformat(current.trial_end),
        }
        if entitled:
            merge_features(features, current.item_features)
    for purchase in purchases:
        merge_features(features, purchase.item_features)
    valid_for = None
    if current is not None and entitled and current.status == "past_due":
        ends = grace_end(current.past_due_since, grace_days)
        assert ends is not None  # entitled while past_due implies a grace end
        valid_for = (ends - now).total_seconds()
    answer = {
        "consumerKey": current.consumer_key if current is not None else consumer_key,
        "consumerTenantId": consumer_tenant_id,
        "entitled": entitled,
        "status": current.status if current is not None else "none",
        "plan": plan,
        "subscription": subscription,
        "purchases": [
            {"pricingItemCode": p.code, "paidAt": isoformat(p.paid_at)} for p in purchases
        ],
        "features": features,
        "evaluatedAt": isoformat(now),
    }
    return answer, valid_for
