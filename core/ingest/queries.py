"""The ingest's SQL: stored events, deferred events, links, tenancy and provider-read tasks.

Every statement uses `core.store.dialect`'s one scheme (`$1, $2, ...`; SQLite reads `?1, ?2`);
those PostgreSQL needs in its own form (`FOR UPDATE SKIP LOCKED`) are `PerDialect` pairs, and
those built from a list of id kinds are functions, whose callers cache nothing: the few
shapes they make are converted once each by `for_dialect`'s cache.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.ingest.appliers.context import IdKind
from core.store.dialect import PerDialect

# --- stored provider events (core.ingest.intake) -----------------------------------------

EVENT_STORED = (
    "SELECT 1 FROM provider_events WHERE provider_key = $1 AND provider_event_id = $2 LIMIT 1"
)
"""Whether an event is stored (after a lost race on its unique key)."""

# --- deferred events (core.ingest.deferred) ----------------------------------------------

KINDS: tuple[IdKind, ...] = ("customer", "subscription", "payment", "checkout_session")
COLUMN: dict[IdKind, str] = {kind: f"waits_{kind}_id" for kind in KINDS}
"""The `provider_events` column holding the id of each kind an event waits for."""
KNOWN_IN: dict[IdKind, tuple[str, str]] = {
    "customer": ("provider_customers", "provider_customer_id"),
    "subscription": ("subscriptions", "provider_subscription_id"),
    "payment": ("purchases", "provider_payment_id"),
    "checkout_session": ("checkout_sessions", "provider_checkout_session_id"),
}
"""Where an id of each kind is known: a table unique on (provider_key, that column)."""


def waiting(kinds: Sequence[tuple[IdKind, int]], limit: int) -> str:
    """Deferred events of one provider key waiting for any of the ids, oldest first.

    One `provider_key = $n AND waits_x IN (...)` per kind (values: the key, then that kind's
    ids): each is answered by that kind's partial index (`WHERE status = 'deferred'`), several
    by a BitmapOr of them.
    """
    slot = 1
    clauses = []
    for kind, count in kinds:
        slots = ", ".join(f"${n}" for n in range(slot + 1, slot + 1 + count))
        clauses.append(f"(provider_key = ${slot} AND {COLUMN[kind]} IN ({slots}))")
        slot += 1 + count
    return (
        "SELECT id FROM provider_events WHERE status = 'deferred' AND"
        f" ({' OR '.join(clauses)}) ORDER BY event_created_at, received_at LIMIT {limit}"
    )


def any_known(kinds: Sequence[IdKind]) -> str:
    """One row if any of the ids is known (values: provider key and id, per kind)."""
    checks = " OR ".join(
        f"EXISTS (SELECT 1 FROM {KNOWN_IN[kind][0]} WHERE provider_key = ${2 * n + 1}"
        f" AND {KNOWN_IN[kind][1]} = ${2 * n + 2})"
        for n, kind in enumerate(kinds)
    )
    return f"SELECT 1 WHERE {checks}"


_PLACEABLE = " OR ".join(
    f"(w.{COLUMN[kind]} IS NOT NULL AND EXISTS (SELECT 1 FROM {table} k"
    f" WHERE k.provider_key = w.provider_key AND k.{column} = w.{COLUMN[kind]}))"
    for kind, (table, column) in KNOWN_IN.items()
)
_SCAN_COLUMNS = "id, provider_key, received_at, " + ", ".join(COLUMN.values())
SCAN_FIRST = (
    f"SELECT w.id, w.provider_key, w.received_at, ({_PLACEABLE}) AS placeable FROM"
    f" (SELECT {_SCAN_COLUMNS} FROM provider_events WHERE status = 'deferred'"
    " ORDER BY received_at, id LIMIT $1) w ORDER BY w.received_at, w.id"
)
SCAN_AFTER = (
    f"SELECT w.id, w.provider_key, w.received_at, ({_PLACEABLE}) AS placeable FROM"
    f" (SELECT {_SCAN_COLUMNS} FROM provider_events WHERE status = 'deferred'"
    " AND (received_at, id) > ($1, $2)"
    " ORDER BY received_at, id LIMIT $3) w ORDER BY w.received_at, w.id"
)
"""The safety net: the next batch of deferred events along `provider_events_deferred_idx`,
each checked against the unique keys of the tables where what it waits for would be."""

_EXPIRE = (
    "UPDATE provider_events SET status = 'unmatched', processed_at = $1"
    " WHERE id IN (SELECT id FROM provider_events WHERE status = 'deferred'"
    " AND received_at < $2 ORDER BY received_at, id LIMIT $3{lock})"
)
EXPIRE = PerDialect(
    postgres=_EXPIRE.format(lock=" FOR UPDATE SKIP LOCKED"), sqlite=_EXPIRE.format(lock="")
)
"""The TTL: the oldest deferred events past it become `unmatched`, a bounded batch at a time
(events being replayed right now are skipped, not waited for)."""

_CLAIMED = (
    "SELECT provider_key, provider_event_id, payload, status, "
    f"{', '.join(COLUMN.values())} FROM provider_events WHERE id = $1"
)
CLAIM_DEFERRED = PerDialect(postgres=f"{_CLAIMED} FOR UPDATE SKIP LOCKED", sqlite=_CLAIMED)
"""One event by its primary key, locked unless another transaction holds it. Whether it is
still deferred is read, not filtered on: `AND status = 'deferred'` would let the planner
pick the small partial index and walk it instead of the primary key."""
CLAIM_STORED = PerDialect(postgres=f"{_CLAIMED} FOR UPDATE", sqlite=_CLAIMED)
"""An operator's replay: one event by its primary key, whatever its status, locked, waiting
for a transaction that holds it (an automatic replay, or another operator's), so two
replays at once apply it once."""
MARK_APPLIED = "UPDATE provider_events SET status = 'processed', processed_at = $1 WHERE id = $2"
SET_WAITS = (
    "UPDATE provider_events SET "
    + ", ".join(
        f"{COLUMN[kind]} = CASE WHEN status = 'deferred' THEN ${n} ELSE {COLUMN[kind]} END"
        for n, kind in enumerate(KINDS, 1)
    )
    + f" WHERE id = ${len(KINDS) + 1}"
)
"""What a still-unknown event waits for now; an event applied or expired meanwhile keeps
what it had (the status is tested in the SET, so the row is found by its primary key)."""

# --- the appliers ------------------------------------------------------------------------

LINK_CHECKOUT_TO_SUBSCRIPTION = (
    "UPDATE checkout_sessions SET subscription_id = $1"
    " WHERE provider_key = $2 AND provider_subscription_id = $3 AND subscription_id IS NULL"
)
"""A new subscription: the checkout that started it, if it named it, points at it."""
ITEM_OF_PRICE = (
    "SELECT i.code FROM pricing_item_provider_prices p JOIN pricing_items i ON i.id = p.item_id"
    " WHERE p.provider_key = $1 AND p.provider_price_id = $2 LIMIT 1"
)
"""The pricing item whose price a provider price id is, at one provider key."""

# --- provider-read tasks (core.ingest.provider_read_tasks) -------------------------------

_CLAIM_READS = """
UPDATE provider_reads
   SET lease_owner = $1, lease_expires_at = $2, due_at = $3, attempts = attempts + 1,
       updated_at = $4
 WHERE id IN (SELECT id FROM provider_reads
               WHERE status = 'pending' AND due_at <= $5
               ORDER BY due_at
               LIMIT $6{lock})
RETURNING id, provider_key, kind, provider_object_id, attempts
"""
CLAIM_READS = PerDialect(
    postgres=_CLAIM_READS.format(lock=" FOR UPDATE SKIP LOCKED"),
    sqlite=_CLAIM_READS.format(lock=""),
)
"""Lease the longest-due pending tasks."""
FINISH_READ = """
UPDATE provider_reads
   SET status = $1, due_at = $2, last_error = $3, lease_owner = NULL, lease_expires_at = NULL,
       updated_at = $4
 WHERE id = $5 AND lease_owner = $6 AND status = 'pending'
"""
"""Leave a lease with the task's next state, only while it is still ours."""

# The /metrics gauge (`core.gauges`): the deferred and unmatched events, from the
# (status, received_at) index's two ranges; never the processed history.
COUNT_WAITING_EVENTS = (
    "SELECT status, COUNT(*) AS n FROM provider_events "
    "WHERE status IN ('deferred', 'unmatched') GROUP BY status"
)

PRUNED_PAYLOAD = ""
"""What a processed event's payload becomes once pruned: the row, its ids and status stay."""

# Retention (`core.retention`): processed events older than the cut, payload not yet pruned.
PRUNABLE_PAYLOADS = f"""
SELECT id FROM provider_events
 WHERE status = 'processed' AND received_at < $1 AND payload <> '{PRUNED_PAYLOAD}'
 ORDER BY received_at, id
 LIMIT $2
"""
COUNT_PRUNABLE_PAYLOADS = (
    "SELECT COUNT(*) AS n FROM provider_events "
    f"WHERE status = 'processed' AND received_at < $1 AND payload <> '{PRUNED_PAYLOAD}'"
)


def clear_payloads(count: int) -> str:
    """Empty the payload of `count` events ($1..$count)."""
    slots = ", ".join(f"${i}" for i in range(1, count + 1))
    return f"UPDATE provider_events SET payload = '{PRUNED_PAYLOAD}' WHERE id IN ({slots})"
