"""What reconcile re-reads: the subscriptions, open checkout sessions and non-final purchases
we know, narrowed to a provider key, a consumer or a tenant.

Ended subscriptions (`canceled`, `incomplete_expired`) and refunded purchases are final at
the provider, so re-reading them could change nothing; they are left out, as is a purchase
named by its checkout session (no payment was taken, so there is none to read).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

from core.models import CheckoutSession, Purchase, Subscription

Kind = Literal["subscription", "checkout_session", "purchase"]
ENDED_SUBSCRIPTION = ("canceled", "incomplete_expired")
FINAL_PURCHASE = ("refunded",)
PAGE = 500


@dataclass(frozen=True)
class Scope:
    """Which of our records to re-read (None: all)."""

    provider_key: str | None = None
    consumer_key: str | None = None
    consumer_tenant_id: str | None = None

    def lookups(self) -> dict[str, str]:
        found = {
            "provider_key": self.provider_key,
            "consumer_key": self.consumer_key,
            "consumer_tenant_id": self.consumer_tenant_id,
        }
        return {name: value for name, value in found.items() if value is not None}


@dataclass(frozen=True)
class Known:
    """One object we know, by its provider's id."""

    kind: Kind
    provider_key: str
    provider_object_id: str
    consumer_tenant_id: str

    @property
    def label(self) -> str:
        return f"{self.kind.replace('_', ' ')} {self.provider_object_id} ({self.provider_key})"


async def _pages(
    query: Any, kind: Kind, id_field: str, *extra: str
) -> AsyncIterator[tuple[Known, dict[str, Any]]]:
    """Every row of the query, in pages by primary key (a long history never loads at once)."""
    last: Any = None
    while True:
        page = query.order_by("id").limit(PAGE)
        if last is not None:
            page = page.filter(id__gt=last)
        rows = await page.values("id", "provider_key", id_field, "consumer_tenant_id", *extra)
        for row in rows:
            known = Known(kind, row["provider_key"], row[id_field], row["consumer_tenant_id"])
            yield known, row
        if len(rows) < PAGE:
            return
        last = rows[-1]["id"]


def _unlinked(where: dict[str, str], mode: str, id_field: str, link: str) -> Any:
    """Completed checkouts that name a subscription or payment we have no record of: their
    own webhook was lost (and the provider read a checkout asks for had not run yet)."""
    return CheckoutSession.filter(
        **where, status="complete", mode=mode, **{f"{link}_id__isnull": True}
    ).filter(**{f"{id_field}__isnull": False})


async def known_objects(scope: Scope) -> AsyncIterator[Known]:
    """Subscriptions first (a checkout's completion links to its subscription), then open
    checkout sessions, then non-final purchases; with each kind, the ones a completed
    checkout names that we have no record of."""
    where = scope.lookups()
    subscriptions = Subscription.filter(**where).exclude(status__in=ENDED_SUBSCRIPTION)
    async for known, _ in _pages(subscriptions, "subscription", "provider_subscription_id"):
        yield known
    named = _unlinked(where, "subscription", "provider_subscription_id", "subscription")
    async for known, _ in _pages(named, "subscription", "provider_subscription_id"):
        yield known
    sessions = CheckoutSession.filter(**where, status="open")
    async for known, _ in _pages(sessions, "checkout_session", "provider_checkout_session_id"):
        yield known
    purchases = Purchase.filter(**where).exclude(status__in=FINAL_PURCHASE)
    async for known, row in _pages(
        purchases, "purchase", "provider_payment_id", "provider_checkout_session_id"
    ):
        # A checkout that took no payment (a 100% promotion code) has no payment to read.
        if row["provider_checkout_session_id"] != known.provider_object_id:
            yield known
    paid_for = _unlinked(where, "payment", "provider_payment_id", "purchase")
    async for known, _ in _pages(paid_for, "purchase", "provider_payment_id"):
        yield known
