"""Writing one batch of legacy rows into our records, inside the batch's transaction.

Customers become the tenants' `ProviderCustomer` rows (names included); subscriptions
and payments go through `core.ingest.apply.apply_facts`, one row at a time with the row's own
time, so the same ordering rules as for webhooks decide: a record already holding newer
provider data keeps it, a changed legacy row moves its record, an unchanged one changes
nothing. A Stripe id that already belongs to another tenant is a conflict: reported,
never reassigned.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from core.billing.plan_cache import announce
from core.ingest.appliers.context import ApplyContext
from core.ingest.apply import apply_facts
from core.models import ProviderCustomer, Purchase, Subscription
from core.timeutil import utcnow
from funnel_consumer.importer import rows
from funnel_consumer.importer.rows import CONSUMER_KEY, ITEM_CODE, RowRejected
from funnel_consumer.importer.source import CUSTOMERS, PAYMENTS, SUBSCRIPTIONS, Row
from funnel_consumer.importer.tally import Tally

PROVIDER_KEY = "stripe"
NAME_FIELDS = ("tenant_name", "legal_name", "billing_email")


@dataclass(frozen=True)
class Batch:
    """The legacy rows of one batch of tenants, each table ordered by tenant."""

    customers: list[Row]
    subscriptions: list[Row]
    payments: list[Row]

    @property
    def size(self) -> int:
        return len(self.customers) + len(self.subscriptions) + len(self.payments)


def _ids(legacy: list[Row], column: str) -> set[str]:
    """The batch's values of a key column that could be ours (the rest fail validation),
    as `rows` reads them: Stripe ids trimmed, tenant ids as they are."""
    values = (str(row[column]) for row in legacy if row.get(column) is not None)
    if column != "tenant_id":
        values = (value.strip() for value in values)
    return {value for value in values if 0 < len(value) <= rows.MAX_ID_LENGTH}


def _outcome(ctx: ApplyContext) -> tuple[str, bool]:
    """One legacy row's outcome from what its facts did (outcome, newer data kept)."""
    seen = {key.split(".", 1)[1] for key in ctx.outcomes}
    if "created" in seen:
        return "created", False
    if "updated" in seen:
        return "updated", False
    return "unchanged", "stale" in seen


def _conflict(what: str, owner: tuple[str, str], tenant_id: str) -> RowRejected | None:
    if owner == (CONSUMER_KEY, tenant_id):
        return None
    return RowRejected(
        "conflict", f"{what} already belongs to tenant '{owner[1]}' of consumer '{owner[0]}'"
    )


class BatchWriter:
    """Applies one batch; counts every row's outcome in the tally."""

    def __init__(
        self,
        conn: BaseDBAsyncClient,
        *,
        catalog: dict[str, str],
        now: datetime,
        emit_events: bool,
        tally: Tally,
    ) -> None:
        self.conn = conn
        self.catalog = catalog
        self.now = now
        self.emit_events = emit_events
        self.tally = tally

    async def write(self, batch: Batch) -> None:
        await self._customers(batch.customers)
        await self._subscriptions(batch.subscriptions)
        await self._payments(batch.payments)

    # --- customers ------------------------------------------------------------------------

    async def _customers(self, legacy: list[Row]) -> None:
        tenants = _ids(legacy, "tenant_id")
        ids = _ids(legacy, "stripe_customer_id")
        known = await ProviderCustomer.filter(
            provider_key=PROVIDER_KEY, consumer_key=CONSUMER_KEY, consumer_tenant_id__in=tenants
        ).using_db(self.conn)
        known += await ProviderCustomer.filter(
            provider_key=PROVIDER_KEY, provider_customer_id__in=ids
        ).using_db(self.conn)
        by_tenant = {c.consumer_tenant_id: c for c in known if c.consumer_key == CONSUMER_KEY}
        by_id = {c.provider_customer_id: c for c in known}
        for row in legacy:
            try:
                customer = rows.customer(row)
                outcome = await self._customer(customer, by_tenant, by_id)
            except RowRejected as rejected:
                self.tally.skip(rows.problem(CUSTOMERS, row, rejected))
                continue
            self.tally.add(CUSTOMERS, outcome)

    async def _customer(
        self,
        legacy: rows.LegacyCustomer,
        by_tenant: dict[str, ProviderCustomer],
        by_id: dict[str, ProviderCustomer],
    ) -> str:
        owner = by_id.get(legacy.provider_customer_id)
        if owner is not None:
            conflict = _conflict(
                f"Stripe customer {legacy.provider_customer_id}",
                (owner.consumer_key, owner.consumer_tenant_id),
                legacy.tenant_id,
            )
            if conflict is not None:
                raise conflict
        record = by_tenant.get(legacy.tenant_id)
        if record is not None and record.provider_customer_id != legacy.provider_customer_id:
            raise RowRejected(
                "conflict",
                f"the tenant already has Stripe customer {record.provider_customer_id}, "
                f"the legacy row names {legacy.provider_customer_id}",
            )
        if record is None:
            record = await ProviderCustomer.create(
                provider_key=PROVIDER_KEY,
                consumer_key=CONSUMER_KEY,
                consumer_tenant_id=legacy.tenant_id,
                provider_customer_id=legacy.provider_customer_id,
                tenant_name=legacy.tenant_name,
                legal_name=legacy.legal_name,
                billing_email=legacy.billing_email,
                using_db=self.conn,
            )
            by_tenant[legacy.tenant_id] = by_id[legacy.provider_customer_id] = record
            return "created"
        changed = [
            name
            for name in NAME_FIELDS
            if getattr(legacy, name) is not None and getattr(legacy, name) != getattr(record, name)
        ]
        if not changed:
            return "unchanged"
        for name in changed:
            setattr(record, name, getattr(legacy, name))
        await record.save(using_db=self.conn, update_fields=[*changed, "updated_at"])
        return "updated"

    # --- subscriptions and payments -------------------------------------------------------

    async def _subscriptions(self, legacy: list[Row]) -> None:
        ids = _ids(legacy, "stripe_subscription_id")
        known: dict[str, dict[str, Any]] = {
            values["provider_subscription_id"]: values
            for values in await Subscription.filter(
                provider_key=PROVIDER_KEY, provider_subscription_id__in=ids
            )
            .using_db(self.conn)
            .values(
                "provider_subscription_id",
                "consumer_key",
                "consumer_tenant_id",
                "provider_customer_id",
                "trial_end",
                "ended_at",
                "pricing_item_code",
            )
        }
        for row in legacy:
            try:
                mapped = rows.subscription(row, self.catalog, self.now)
                outcome, newer_kept = await self._subscription(mapped, known)
            except RowRejected as rejected:
                self.tally.skip(rows.problem(SUBSCRIPTIONS, row, rejected))
                continue
            self.tally.add(SUBSCRIPTIONS, outcome, newer_kept=newer_kept)

    async def _subscription(
        self, legacy: rows.LegacySubscription, known: dict[str, dict[str, Any]]
    ) -> tuple[str, bool]:
        fact = legacy.fact
        record = known.get(fact.provider_subscription_id)
        if record is not None:
            conflict = _conflict(
                f"Stripe subscription {fact.provider_subscription_id}",
                (record["consumer_key"], record["consumer_tenant_id"]),
                legacy.tenant_id,
            )
            if conflict is not None:
                raise conflict
            # The legacy table has no trial end or end time: keep what the record knows.
            fact = replace(
                fact,
                trial_end=record["trial_end"],
                ended_at=record["ended_at"],
                provider_customer_id=fact.provider_customer_id or record["provider_customer_id"],
            )
        ctx = await self._apply([fact], legacy.occurred_at)
        outcome = _outcome(ctx)
        code = fact.metadata[ITEM_CODE]
        if record is not None and not outcome[1] and record["pricing_item_code"] != code:
            await self._change_plan(legacy, code)
            record["pricing_item_code"] = code
            outcome = ("updated", False)
        if outcome[0] == "created":
            known[fact.provider_subscription_id] = {
                "consumer_key": CONSUMER_KEY,
                "consumer_tenant_id": legacy.tenant_id,
                "provider_customer_id": fact.provider_customer_id,
                "trial_end": None,
                "ended_at": None,
                "pricing_item_code": code,
            }
            if legacy.created_at is not None:
                await (
                    Subscription.filter(
                        provider_key=PROVIDER_KEY,
                        provider_subscription_id=fact.provider_subscription_id,
                    )
                    .using_db(self.conn)
                    .update(created_at=legacy.created_at)
                )
        return outcome

    async def _change_plan(self, legacy: rows.LegacySubscription, code: str) -> None:
        """The legacy row, not older than the record, names another plan (an upgrade).

        The appliers keep a subscription's item as first seen (Stripe's metadata keeps the
        checkout's code), so the import moves it itself, and tells plan-status caches.
        """
        await (
            Subscription.filter(
                provider_key=PROVIDER_KEY,
                provider_subscription_id=legacy.fact.provider_subscription_id,
            )
            .using_db(self.conn)
            .update(pricing_item_code=code, updated_at=utcnow())
        )
        await announce(self.conn, [legacy.tenant_id])

    async def _payments(self, legacy: list[Row]) -> None:
        ids = _ids(legacy, "stripe_payment_intent_id")
        owners: dict[str, tuple[str, str]] = {
            values["provider_payment_id"]: (values["consumer_key"], values["consumer_tenant_id"])
            for values in await Purchase.filter(
                provider_key=PROVIDER_KEY, provider_payment_id__in=ids
            )
            .using_db(self.conn)
            .values("provider_payment_id", "consumer_key", "consumer_tenant_id")
        }
        for row in legacy:
            try:
                mapped = rows.payment(row, self.catalog, self.now)
                outcome = await self._payment(mapped, owners)
            except RowRejected as rejected:
                self.tally.skip(rows.problem(PAYMENTS, row, rejected))
                continue
            self.tally.add(PAYMENTS, outcome[0], newer_kept=outcome[1])

    async def _payment(
        self, legacy: rows.LegacyPayment, owners: dict[str, tuple[str, str]]
    ) -> tuple[str, bool]:
        payment_id = legacy.facts[0].provider_payment_id
        owner = owners.get(payment_id)
        if owner is not None:
            conflict = _conflict(f"Stripe payment {payment_id}", owner, legacy.tenant_id)
            if conflict is not None:
                raise conflict
        ctx = await self._apply(list(legacy.facts), legacy.occurred_at)
        outcome = _outcome(ctx)
        if outcome[0] == "created":
            owners[payment_id] = (CONSUMER_KEY, legacy.tenant_id)
            if legacy.created_at is not None:
                await (
                    Purchase.filter(provider_key=PROVIDER_KEY, provider_payment_id=payment_id)
                    .using_db(self.conn)
                    .update(created_at=legacy.created_at)
                )
        return outcome

    async def _apply(self, facts: list[Any], occurred_at: datetime) -> ApplyContext:
        return await apply_facts(
            PROVIDER_KEY,
            facts,
            occurred_at=occurred_at,
            using_db=self.conn,
            emit_events=self.emit_events,
        )
