"""Tenants' customers at each provider, and the checkout sessions opened for them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from core.models.billing import Purchase, Subscription


class ProviderCustomer(Model):
    """A tenant's customer at one provider key: created once, reused for every later checkout."""

    id = fields.UUIDField(primary_key=True)
    provider_key = fields.CharField(max_length=40)
    consumer_key = fields.CharField(max_length=64)
    consumer_tenant_id = fields.CharField(max_length=255)
    provider_customer_id = fields.CharField(max_length=255)
    tenant_name = fields.CharField(max_length=255, null=True)
    legal_name = fields.CharField(max_length=255, null=True)
    billing_email = fields.CharField(max_length=320, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "provider_customers"
        unique_together = (
            ("provider_key", "consumer_key", "consumer_tenant_id"),
            ("provider_key", "provider_customer_id"),
        )


class CheckoutSession(Model):
    """A hosted checkout opened at a provider for one tenant and one pricing item."""

    id = fields.UUIDField(primary_key=True)
    provider_key = fields.CharField(max_length=40)
    provider_checkout_session_id = fields.CharField(max_length=255)
    url = fields.TextField(null=True)
    status = fields.CharField(max_length=16)
    mode = fields.CharField(max_length=16)
    payment_status = fields.CharField(max_length=32)
    pricing_item_code = fields.CharField(max_length=64)
    consumer_key = fields.CharField(max_length=64)
    consumer_tenant_id = fields.CharField(max_length=255)
    provider_customer_id = fields.CharField(max_length=255, null=True)
    provider_subscription_id = fields.CharField(max_length=255, null=True)
    """Set when a subscription checkout completes, so the subscription can be linked whichever
    of the two provider events arrives first."""
    provider_payment_id = fields.CharField(max_length=255, null=True)
    success_url = fields.TextField()
    cancel_url = fields.TextField()
    amount_total = fields.BigIntField(null=True)
    currency = fields.CharField(max_length=3, null=True)
    subscription: fields.ForeignKeyNullableRelation[Subscription] = fields.ForeignKeyField(
        "models.Subscription", null=True, related_name=False, on_delete=fields.SET_NULL
    )
    purchase: fields.ForeignKeyNullableRelation[Purchase] = fields.ForeignKeyField(
        "models.Purchase", null=True, related_name=False, on_delete=fields.SET_NULL
    )
    expires_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "checkout_sessions"
        unique_together = (("provider_key", "provider_checkout_session_id"),)
        indexes = (
            Index(
                fields=("consumer_key", "consumer_tenant_id"), name="checkout_sessions_tenant_idx"
            ),
            Index(fields=("status",), name="checkout_sessions_status_idx"),
            Index(fields=("status", "expires_at"), name="checkout_sessions_expiry_idx"),
            Index(fields=("provider_subscription_id",), name="checkout_sessions_subscription_idx"),
            Index(fields=("provider_payment_id",), name="checkout_sessions_payment_idx"),
        )
