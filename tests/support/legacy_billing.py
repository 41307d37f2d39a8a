"""Generated legacy FunnelAI billing databases (the contract's three tables), and what
each tenant's plan status must be after importing them.

`generate(tenants)` makes a deterministic, realistic data set: most tenants with a
customer row, a current subscription in any of Stripe's statuses, some with an older
canceled one, and some one-time payments in Stripe's payment intent words. It is
written to an SQLite file (`write_sqlite`) or a PostgreSQL database of this test
session's own (`write_postgres`), then read back by the importer through `--source`.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from funnel_consumer.importer.source import COLUMNS

from core.models import PricingItem
from tests.support.databases import POSTGRES_URL, _admin_url

CATALOG: list[dict[str, Any]] = [
    {
        "code": "starter_month",
        "name": "Starter",
        "kind": "recurring",
        "unit_amount": 1900,
        "interval": "month",
        "features": {"funnels": 5},
    },
    {
        "code": "pro_year",
        "name": "Pro",
        "kind": "recurring",
        "unit_amount": 19000,
        "interval": "year",
        "features": {"funnels": 50},
    },
    {
        "code": "lifetime_addon",
        "name": "Lifetime",
        "kind": "one_time",
        "unit_amount": 4900,
        "interval": None,
        "features": {"exports": True},
    },
    {
        "code": "extra_seats",
        "name": "Seats",
        "kind": "one_time",
        "unit_amount": 900,
        "interval": None,
        "features": {"seats": 3},
    },
]
PLANS = ("starter_month", "pro_year")
ITEMS = ("lifetime_addon", "extra_seats")
BASE = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
SUBSCRIPTION_STATUSES = (
    ["active"] * 10
    + ["trialing"] * 2
    + ["past_due"] * 2
    + ["canceled"] * 4
    + [
        "unpaid",
        "incomplete",
    ]
)
PAYMENT_STATUSES = ["succeeded"] * 7 + ["refunded", "requires_payment_method", "processing"]

_TYPES = {
    "id": "INTEGER PRIMARY KEY",
    "amount": "BIGINT",
    "cancel_at_period_end": "BOOLEAN",
}


async def seed_catalog() -> None:
    """The pricing items the legacy plan codes name, in our database."""
    for item in CATALOG:
        await PricingItem.create(currency="eur", **item)


def iso(value: datetime | None, n: int = 0) -> str | None:
    """ISO-8601 text as legacy code wrote it (mostly `Z`, sometimes `+00:00`)."""
    if value is None:
        return None
    text = value.isoformat()
    return text.replace("+00:00", "Z") if n % 3 else text


@dataclass(frozen=True)
class Expected:
    """A tenant's plan status as the legacy data says it is."""

    status: str
    plan: str | None
    entitled: bool
    purchases: list[str]


@dataclass
class Legacy:
    customers: list[dict[str, Any]] = field(default_factory=list)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    expected: dict[str, Expected] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return len(self.customers) + len(self.subscriptions) + len(self.payments)

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "billing_customers": self.customers,
            "billing_subscriptions": self.subscriptions,
            "billing_payments": self.payments,
        }


def tenant_id(n: int) -> str:
    return f"tenant_{n:06d}"


def generate(tenants: int, *, seed: int = 7) -> Legacy:
    """About four rows per tenant; deterministic for a seed."""
    rng = random.Random(seed)
    legacy = Legacy()
    for n in range(tenants):
        tenant = tenant_id(n)
        customer = f"cus_{n:06d}"
        if rng.random() < 0.95:
            legacy.customers.append(
                {
                    "tenant_id": tenant,
                    "tenant_name": f"Tenant {n}",
                    "legal_name": f"Tenant {n} SRL",
                    "billing_email": f"billing{n}@example.test",
                    "stripe_customer_id": customer,
                }
            )
        created = BASE + timedelta(minutes=n)
        if rng.random() < 0.2:
            legacy.subscriptions.append(
                _subscription(
                    legacy,
                    n,
                    tenant,
                    customer,
                    plan="starter_month",
                    status="canceled",
                    created=created,
                    start=created,
                    end=created + timedelta(days=30),
                    canceled=created + timedelta(days=20),
                )
            )
        plan = rng.choice(PLANS)
        status = rng.choice(SUBSCRIPTION_STATUSES)
        start = created + timedelta(days=60 + n % 300)
        end = start + (timedelta(days=30) if plan == "starter_month" else timedelta(days=365))
        canceled = start + timedelta(days=3) if status == "canceled" else None
        legacy.subscriptions.append(
            _subscription(
                legacy,
                n,
                tenant,
                customer,
                plan=plan,
                status=status,
                created=created + timedelta(days=40),
                start=start,
                end=end,
                canceled=canceled,
                cancel_at_period_end=n % 7 == 0,
            )
        )
        purchases = []
        for k in range(rng.choice((0, 0, 1, 2))):
            item = ITEMS[k]
            pay_status = rng.choice(PAYMENT_STATUSES)
            paid = (
                created + timedelta(days=10 + k)
                if pay_status in ("succeeded", "refunded")
                else None
            )
            legacy.payments.append(
                {
                    "id": len(legacy.payments) + 1,
                    "tenant_id": tenant,
                    "stripe_payment_intent_id": f"pi_{n:06d}_{k}",
                    "stripe_checkout_session_id": f"cs_{n:06d}_{k}",
                    "plan_code": item,
                    "amount": 4900 if item == "lifetime_addon" else 900,
                    "currency": "eur" if n % 5 else "EUR",
                    "status": pay_status,
                    "paid_at": iso(paid, n),
                    "created_at": iso(created + timedelta(days=10 + k, seconds=-30), n),
                }
            )
            if pay_status == "succeeded":
                purchases.append(item)
        legacy.expected[tenant] = Expected(
            status=status,
            plan=plan,
            entitled=status in ("active", "trialing"),
            purchases=sorted(purchases),
        )
    return legacy


def _subscription(
    legacy: Legacy,
    n: int,
    tenant: str,
    customer: str,
    *,
    plan: str,
    status: str,
    created: datetime,
    start: datetime,
    end: datetime,
    canceled: datetime | None = None,
    cancel_at_period_end: bool = False,
) -> dict[str, Any]:
    number = len(legacy.subscriptions) + 1
    return {
        "id": number,
        "tenant_id": tenant,
        "stripe_subscription_id": f"sub_{n:06d}_{number}",
        "stripe_customer_id": customer,
        "plan_code": plan,
        "status": status,
        "current_period_start": iso(start, n),
        "current_period_end": iso(end, n),
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": iso(canceled, n),
        "created_at": iso(created, n),
    }


def _ddl(table: str) -> str:
    columns = ", ".join(f"{c} {_TYPES.get(c, 'TEXT')}" for c in COLUMNS[table])
    return f"CREATE TABLE {table} ({columns}); CREATE INDEX {table}_tenant ON {table} (tenant_id);"


def write_sqlite(path: Path, legacy: Legacy) -> str:
    """The legacy tables in a new SQLite file; returns its `sqlite://` URL."""
    connection = sqlite3.connect(path)
    try:
        for table, rows in legacy.tables().items():
            connection.executescript(_ddl(table))
            columns = COLUMNS[table]
            connection.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                [tuple(row[c] for c in columns) for row in rows],
            )
        connection.commit()
    finally:
        connection.close()
    return f"sqlite://{path}"


def postgres_url(name: str) -> str:
    """The URL of a legacy PostgreSQL database of this session's own (named after ours)."""
    admin, ours = _admin_url(POSTGRES_URL)
    return admin.rsplit("/", 1)[0] + f"/{ours}_{name}"


async def write_postgres(name: str, legacy: Legacy) -> str:
    """The legacy tables in a fresh PostgreSQL database; returns its URL."""
    url = postgres_url(name)
    admin, database = _admin_url(url)
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{database}"')
    finally:
        await connection.close()
    connection = await asyncpg.connect(url)
    try:
        for table, rows in legacy.tables().items():
            await connection.execute(
                _ddl(table).replace("INTEGER PRIMARY KEY", "BIGINT PRIMARY KEY")
            )
            columns = COLUMNS[table]
            await connection.copy_records_to_table(
                table,
                records=[tuple(row[c] for c in columns) for row in rows],
                columns=list(columns),
            )
    finally:
        await connection.close()
    return url


async def drop_postgres(url: str) -> None:
    admin, database = _admin_url(url)
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await connection.close()


async def execute(url: str, sql: str, *args: Any) -> None:
    """Change the legacy database (a row updated since the last run); `?` placeholders."""
    if url.startswith("sqlite://"):
        connection = sqlite3.connect(url.split("://", 1)[1])
        try:
            connection.execute(sql, args)
            connection.commit()
        finally:
            connection.close()
        return
    parts = sql.split("?")
    numbered = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(numbered, *args)
    finally:
        await connection.close()


class LegacySources:
    """Legacy databases made for one test: SQLite files under its tmp dir, or PostgreSQL
    databases named after this session's own (dropped when the test ends)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.postgres: list[str] = []

    async def make(self, legacy: Legacy, kind: str = "sqlite", name: str = "legacy") -> str:
        if kind == "sqlite":
            return write_sqlite(self.tmp_path / f"{name}.sqlite3", legacy)
        url = await write_postgres(name, legacy)
        self.postgres.append(url)
        return url

    async def close(self) -> None:
        for url in self.postgres:
            await drop_postgres(url)


RECORD_FIELDS = {
    "subscriptions": (
        "provider_subscription_id",
        "provider_customer_id",
        "consumer_key",
        "consumer_tenant_id",
        "pricing_item_code",
        "status",
        "current_period_start",
        "current_period_end",
        "cancel_at_period_end",
        "canceled_at",
        "trial_end",
        "ended_at",
        "provider_updated_at",
        "created_at",
    ),
    "purchases": (
        "provider_payment_id",
        "provider_checkout_session_id",
        "consumer_key",
        "consumer_tenant_id",
        "pricing_item_code",
        "amount",
        "amount_refunded",
        "currency",
        "status",
        "paid_at",
        "refunded_at",
        "provider_updated_at",
        "created_at",
    ),
    "customers": (
        "provider_customer_id",
        "consumer_key",
        "consumer_tenant_id",
        "tenant_name",
        "legal_name",
        "billing_email",
    ),
}


async def snapshot(*, with_updated_at: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Every imported record's business fields (and `updated_at`: nothing was touched)."""
    from core.models import ProviderCustomer, Purchase, Subscription

    extra = ("updated_at",) if with_updated_at else ()
    models = {"subscriptions": Subscription, "purchases": Purchase, "customers": ProviderCustomer}
    found: dict[str, list[dict[str, Any]]] = {}
    for name, model in models.items():
        fields = (*RECORD_FIELDS[name], *extra)
        found[name] = await model.all().order_by(fields[0]).values(*fields)
    return found
