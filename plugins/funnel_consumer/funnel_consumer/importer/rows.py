"""Checking legacy rows and mapping them to provider-neutral facts, never guessing.

A row that cannot be imported as it stands (no Stripe id, a plan code the catalog does
not know, a date that does not parse, a status that is not Stripe's) becomes a
`Problem` naming its table, legacy id, tenant and reason; the operator fixes the legacy
row and re-runs. Everything here is pure: no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from core.facts import CONSUMER_KEY as CONSUMER_KEY_FIELD
from core.facts import (
    CONSUMER_TENANT_ID,
    PRICING_ITEM_CODE,
    PaymentFact,
    RefundFact,
    SubscriptionFact,
)
from funnel_consumer.importer.source import CUSTOMERS, Row

CONSUMER_KEY = "funnel"
"""FunnelAI's consumer key: whose events these are."""
ITEM_CODE = PRICING_ITEM_CODE

SUBSCRIPTION_STATUSES = frozenset(
    {
        "incomplete",
        "incomplete_expired",
        "trialing",
        "active",
        "past_due",
        "unpaid",
        "paused",
        "canceled",
    }
)
"""Stripe's subscription statuses, which are also ours."""

PAYMENT_STATUSES: dict[str, str] = {
    "succeeded": "paid",
    "canceled": "failed",
    "requires_payment_method": "failed",
    "processing": "pending",
    "requires_confirmation": "pending",
    "requires_action": "pending",
    "requires_capture": "pending",
    "refunded": "refunded",
}
"""Legacy payment status (a Stripe payment intent's word, plus `refunded`) -> purchase status."""


@dataclass(frozen=True)
class Problem:
    """Why one legacy row was not imported."""

    table: str
    legacy_id: str | None
    tenant_id: str | None
    reason: str
    """missing_tenant_id | missing_stripe_id | unknown_plan_code | wrong_plan_kind | bad_date
    | unknown_status | bad_value | conflict"""
    message: str


class RowRejected(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class LegacyCustomer:
    tenant_id: str
    provider_customer_id: str
    tenant_name: str | None
    legal_name: str | None
    billing_email: str | None


@dataclass(frozen=True)
class LegacySubscription:
    legacy_id: str
    tenant_id: str
    fact: SubscriptionFact
    occurred_at: datetime
    created_at: datetime | None


@dataclass(frozen=True)
class LegacyPayment:
    legacy_id: str
    tenant_id: str
    facts: tuple[PaymentFact | RefundFact, ...]
    occurred_at: datetime
    created_at: datetime | None


def metadata(tenant_id: str, plan_code: str) -> dict[str, str]:
    """What our checkout puts on Stripe objects, so the facts resolve to the tenant."""
    return {
        CONSUMER_KEY_FIELD: CONSUMER_KEY,
        CONSUMER_TENANT_ID: tenant_id,
        ITEM_CODE: plan_code,
    }


def legacy_id(table: str, row: Row) -> str | None:
    value = row.get("tenant_id") if table == CUSTOMERS else row.get("id")
    return None if value is None else str(value)


def problem(table: str, row: Row, rejected: RowRejected) -> Problem:
    tenant = row.get("tenant_id")
    return Problem(
        table,
        legacy_id(table, row),
        None if tenant in (None, "") else str(tenant),
        rejected.reason,
        rejected.message,
    )


MAX_ID_LENGTH = 255
LIMITS = {"billing_email": 320}
"""Longest value our columns hold; every other text column holds MAX_ID_LENGTH characters."""


def _text(row: Row, column: str) -> str | None:
    value = row.get(column)
    if value is None:
        return None
    text = str(value).strip()
    if len(text) > LIMITS.get(column, MAX_ID_LENGTH):
        raise RowRejected(
            "bad_value", f"{column} is longer than {LIMITS.get(column, MAX_ID_LENGTH)} characters"
        )
    return text or None


def _tenant(row: Row) -> str:
    """The tenant id exactly as FunnelAI knows it (not trimmed: that would be a guess)."""
    value = row.get("tenant_id")
    tenant = "" if value is None else str(value)
    if not tenant.strip():
        raise RowRejected("missing_tenant_id", "tenant_id is empty")
    if len(tenant) > MAX_ID_LENGTH:
        raise RowRejected("bad_value", f"tenant_id is longer than {MAX_ID_LENGTH} characters")
    return tenant


def _stripe_id(row: Row, column: str) -> str:
    value = _text(row, column)
    if value is None:
        raise RowRejected("missing_stripe_id", f"{column} is empty")
    return value


def _time(row: Row, column: str) -> datetime | None:
    """An ISO-8601 time, or a timestamp column's value; a naive one is UTC; empty is None."""
    value = row.get(column)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise RowRejected("bad_date", f"{column} is not an ISO-8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _past(column: str, value: datetime | None, now: datetime) -> None:
    """A time that orders the row must not be in the future, or it would outrank webhooks."""
    if value is not None and value > now:
        raise RowRejected("bad_date", f"{column} is in the future: {value.isoformat()}")


def _plan(row: Row, catalog: dict[str, str], kind: str) -> str:
    code = _text(row, "plan_code")
    if code is None:
        raise RowRejected("unknown_plan_code", "plan_code is empty")
    if code not in catalog:
        raise RowRejected("unknown_plan_code", f"plan code '{code}' is not in the pricing catalog")
    if catalog[code] != kind:
        raise RowRejected(
            "wrong_plan_kind",
            f"plan code '{code}' is a {catalog[code]} item, not a {kind} one",
        )
    return code


def _flag(row: Row, column: str) -> bool:
    value = row.get(column)
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in {"1", "t", "true", "yes"}:
        return True
    if text in {"0", "f", "false", "no", ""}:
        return False
    raise RowRejected("bad_value", f"{column} is not a boolean: {value!r}")


def _amount(row: Row) -> int:
    value = row.get("amount")
    try:
        number = Decimal(str(value).strip())
    except Exception:
        raise RowRejected("bad_value", f"amount is not a number: {value!r}") from None
    if number != number.to_integral_value() or number < 0:
        raise RowRejected("bad_value", f"amount is not whole minor units: {value!r}")
    return int(number)


def _currency(row: Row) -> str:
    value = _text(row, "currency")
    if value is None or len(value) != 3 or not value.isalpha():
        raise RowRejected("bad_value", f"currency is not an ISO-4217 code: {row.get('currency')!r}")
    return value.lower()


def _newest(*times: datetime | None) -> datetime:
    present = [t for t in times if t is not None]
    if not present:
        raise RowRejected("bad_date", "the row has no time at all")
    return max(present)


def customer(row: Row) -> LegacyCustomer:
    return LegacyCustomer(
        tenant_id=_tenant(row),
        provider_customer_id=_stripe_id(row, "stripe_customer_id"),
        tenant_name=_text(row, "tenant_name"),
        legal_name=_text(row, "legal_name"),
        billing_email=_text(row, "billing_email"),
    )


def subscription(row: Row, catalog: dict[str, str], now: datetime) -> LegacySubscription:
    """A subscription row as the fact a `customer.subscription.*` event would carry.

    Its time is the newest of `created_at`, `current_period_start` and `canceled_at`
    (the period's end is a promise about the future, not something that happened).
    """
    tenant_id = _tenant(row)
    subscription_id = _stripe_id(row, "stripe_subscription_id")
    code = _plan(row, catalog, "recurring")
    status = _text(row, "status")
    if status not in SUBSCRIPTION_STATUSES:
        raise RowRejected(
            "unknown_status", f"status {row.get('status')!r} is not a Stripe subscription status"
        )
    start = _time(row, "current_period_start")
    end = _time(row, "current_period_end")
    canceled_at = _time(row, "canceled_at")
    created_at = _time(row, "created_at")
    for column, value in (
        ("current_period_start", start),
        ("canceled_at", canceled_at),
        ("created_at", created_at),
    ):
        _past(column, value, now)
    if start is not None and end is not None and end < start:
        raise RowRejected("bad_date", "current_period_end is before current_period_start")
    fact = SubscriptionFact(
        provider_subscription_id=subscription_id,
        provider_customer_id=_text(row, "stripe_customer_id"),
        status=status,
        current_period_start=start,
        current_period_end=end,
        cancel_at_period_end=_flag(row, "cancel_at_period_end"),
        canceled_at=canceled_at,
        trial_end=None,
        ended_at=None,
        metadata=metadata(tenant_id, code),
    )
    return LegacySubscription(
        legacy_id=str(row["id"]),
        tenant_id=tenant_id,
        fact=fact,
        occurred_at=_newest(created_at, start, canceled_at),
        created_at=created_at,
    )


def payment(row: Row, catalog: dict[str, str], now: datetime) -> LegacyPayment:
    """A payment row as the facts its payment intent's events would carry.

    `refunded` is a paid payment followed by a full refund (the legacy table keeps no
    refunded amount, so a partial refund cannot be told apart and is not a status here).
    """
    tenant_id = _tenant(row)
    payment_id = _stripe_id(row, "stripe_payment_intent_id")
    code = _plan(row, catalog, "one_time")
    legacy_status = _text(row, "status")
    if legacy_status not in PAYMENT_STATUSES:
        raise RowRejected(
            "unknown_status", f"status {row.get('status')!r} is not a known Stripe payment status"
        )
    status = PAYMENT_STATUSES[legacy_status]
    amount = _amount(row)
    currency = _currency(row)
    paid_at = _time(row, "paid_at")
    created_at = _time(row, "created_at")
    _past("paid_at", paid_at, now)
    _past("created_at", created_at, now)
    if status in {"paid", "refunded"} and paid_at is None:
        raise RowRejected("bad_date", f"a {legacy_status} payment needs paid_at")
    paid = PaymentFact(
        provider_payment_id=payment_id,
        status="paid" if status == "refunded" else status,
        amount=amount,
        currency=currency,
        provider_checkout_session_id=_text(row, "stripe_checkout_session_id"),
        metadata=metadata(tenant_id, code),
    )
    facts: tuple[PaymentFact | RefundFact, ...] = (paid,)
    if status == "refunded":
        facts = (paid, RefundFact(payment_id, amount=amount, amount_refunded=amount))
    return LegacyPayment(
        legacy_id=str(row["id"]),
        tenant_id=tenant_id,
        facts=facts,
        occurred_at=_newest(paid_at, created_at),
        created_at=created_at,
    )
