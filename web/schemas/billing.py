"""Purchases, subscriptions and plan status: list filters and answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from web.schemas.common import ApiModel, ListQuery

PurchaseStatus = Literal["pending", "paid", "failed", "refunded", "partially_refunded"]
SubscriptionStatus = Literal[
    "incomplete",
    "incomplete_expired",
    "trialing",
    "active",
    "past_due",
    "unpaid",
    "paused",
    "canceled",
]


class PurchaseQuery(ListQuery):
    consumer_key: str | None = Field(default=None, max_length=64)
    consumer_tenant_id: str | None = Field(default=None, max_length=255)
    status: PurchaseStatus | None = None
    pricing_item_code: str | None = Field(default=None, max_length=64)


class SubscriptionQuery(ListQuery):
    consumer_key: str | None = Field(default=None, max_length=64)
    consumer_tenant_id: str | None = Field(default=None, max_length=255)
    status: SubscriptionStatus | None = None
    pricing_item_code: str | None = Field(default=None, max_length=64)


class PlanStatusQuery(ApiModel):
    consumer_key: str | None = Field(default=None, max_length=64)


class PurchaseOut(ApiModel):
    id: str
    provider_key: str
    provider_payment_id: str
    provider_checkout_session_id: str | None
    consumer_key: str
    consumer_tenant_id: str
    pricing_item_code: str
    amount: int
    amount_refunded: int
    currency: str
    status: PurchaseStatus
    paid_at: str | None
    refunded_at: str | None
    created_at: str
    updated_at: str


class SubscriptionOut(ApiModel):
    id: str
    provider_key: str
    provider_subscription_id: str
    provider_customer_id: str | None
    consumer_key: str
    consumer_tenant_id: str
    pricing_item_code: str
    status: SubscriptionStatus
    current_period_start: str | None
    current_period_end: str | None
    cancel_at_period_end: bool
    canceled_at: str | None
    trial_end: str | None
    ended_at: str | None
    created_at: str
    updated_at: str


class PurchaseList(ApiModel):
    data: list[PurchaseOut]
    next_cursor: str | None


class SubscriptionList(ApiModel):
    data: list[SubscriptionOut]
    next_cursor: str | None


class PlanOut(ApiModel):
    code: str
    name: str | None
    kind: str
    interval: str | None


class PlanSubscriptionOut(ApiModel):
    id: str
    status: SubscriptionStatus
    current_period_end: str | None
    cancel_at_period_end: bool
    trial_end: str | None


class PaidItemOut(ApiModel):
    pricing_item_code: str
    paid_at: str | None


class PlanStatusOut(ApiModel):
    consumer_key: str | None
    consumer_tenant_id: str
    entitled: bool
    status: SubscriptionStatus | Literal["none"]
    plan: PlanOut | None
    subscription: PlanSubscriptionOut | None
    purchases: list[PaidItemOut]
    features: dict[str, Any]
    evaluated_at: str


class WebhookReceived(ApiModel):
    received: bool
    status: Literal["processed", "ignored", "deferred", "duplicate"]
