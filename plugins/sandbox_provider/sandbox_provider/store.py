"""The sandbox's own side, kept in the `sandbox_objects` table: what a real provider holds.

Rows survive restarts and are shared by every process on one PostgreSQL database; a state
change locks its row (`SELECT ... FOR UPDATE`; SQLite serializes writers anyway), so two
clicks on Pay cannot both complete one session.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from core.models import SandboxObject

CUSTOMER = "customer"
CHECKOUT_SESSION = "checkout_session"
SUBSCRIPTION = "subscription"
INVOICE = "invoice"
PAYMENT_INTENT = "payment_intent"
PORTAL_SESSION = "portal_session"
DISPUTE = "dispute"
REFUND = "refund"
"""Not a row: a refund is kept in its payment intent's `refunds`; only its id is made here."""
IDEMPOTENCY = "idempotency"
"""What an action with an idempotency key did, so a retry with that key does it only once."""
PENDING_EVENT = "event_pending"
"""An event not yet accepted by the service's webhook; sent (again) on the next action."""
EVENT = "event"
"""An event the service's webhook accepted."""
INBOX = "inbox"
"""What the development inbox received (`POST /sandbox/inbox`)."""

PREFIXES = {
    CUSTOMER: "cus",
    CHECKOUT_SESSION: "cs",
    SUBSCRIPTION: "sub",
    INVOICE: "in",
    PAYMENT_INTENT: "pi",
    PORTAL_SESSION: "bps",
    DISPUTE: "dp",
    REFUND: "re",
    EVENT: "evt",
    INBOX: "ibx",
}


def new_id(kind: str) -> str:
    """`sub_sbx_<24 hex>`: the provider's kind of id, marked as the sandbox's."""
    return f"{PREFIXES[kind]}_sbx_{secrets.token_hex(12)}"


class Clock:
    """Event times in milliseconds, strictly increasing within this process.

    The appliers order subscription facts by the provider's event time, so two events about
    one subscription must never share a time; each object also remembers the last time it
    was used (`clock` in its data), which keeps the order across processes and restarts.
    """

    def __init__(self) -> None:
        self._last = 0

    def tick(self, floor: int = 0) -> int:
        now = int(time.time() * 1000)
        self._last = max(now, self._last + 1, floor + 1)
        return self._last


CLOCK = Clock()


def stamp(data: dict[str, Any]) -> float:
    """The next event time for the object `data` (unix seconds, millisecond resolution)."""
    ms = CLOCK.tick(int(data.get("clock") or 0))
    data["clock"] = ms
    return ms / 1000


MAX_ID = 64
"""The longest id `sandbox_objects` stores; a longer one names nothing."""


def can_exist(object_id: str) -> bool:
    """Whether `object_id` could name a stored object: a longer one is answered "not
    found" without a query (Tortoise would refuse it as a filter value, a 500)."""
    return len(object_id) <= MAX_ID


async def find(
    object_id: str, kind: str, *, using_db: BaseDBAsyncClient | None = None
) -> SandboxObject | None:
    if not can_exist(object_id):
        return None
    query = SandboxObject.filter(id=object_id, kind=kind)
    if using_db is not None:
        query = query.using_db(using_db)
    return await query.first()


async def lock(conn: BaseDBAsyncClient, object_id: str, kind: str) -> SandboxObject | None:
    """The row, locked for the rest of the transaction `conn`."""
    if not can_exist(object_id):
        return None
    return (
        await SandboxObject.filter(id=object_id, kind=kind)
        .using_db(conn)
        .select_for_update()
        .first()
    )


async def create(
    conn: BaseDBAsyncClient | None,
    object_id: str,
    provider_key: str,
    kind: str,
    data: dict[str, Any],
) -> SandboxObject:
    return await SandboxObject.create(
        id=object_id, provider_key=provider_key, kind=kind, data=data, using_db=conn
    )


async def save(conn: BaseDBAsyncClient, row: SandboxObject) -> None:
    await row.save(using_db=conn, update_fields=["data", "kind", "updated_at"])


async def next_invoice_number(conn: BaseDBAsyncClient, provider_key: str) -> str:
    """`SBX-0001`, `SBX-0002`...: the key's invoices counted, plus one. Two invoices made at
    the same instant on PostgreSQL may share a number (the count is not locked); the sandbox
    keeps numbers for people to read, never as a key."""
    count = (
        await SandboxObject.filter(provider_key=provider_key, kind=INVOICE).using_db(conn).count()
    )
    return f"SBX-{count + 1:04d}"


async def replace(conn: BaseDBAsyncClient, object_id: str, data: dict[str, Any]) -> None:
    """Overwrite an object's data (one the caller holds locked or has just created)."""
    await SandboxObject.filter(id=object_id).using_db(conn).update(data=data)
