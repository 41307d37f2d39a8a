"""What tenants bought: one-time purchases and subscriptions, as the providers' facts left them.

`provider_updated_at` is the provider's own time of the newest fact applied to a record;
a fact older than it is stale and never rolls the record back.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class Purchase(Model):
    """A one-time payment for a pricing item."""

    id = fields.UUIDField(primary_key=True)
    provider_key = fields.CharField(max_length=40)
    provider_payment_id = fields.CharField(max_length=255)
    provider_checkout_session_id = fields.CharField(max_length=255, null=True)
    provider_customer_id = fields.CharField(max_length=255, null=True)
    consumer_key = fields.CharField(max_length=64)
    consumer_tenant_id = fields.CharField(max_length=255)
    pricing_item_code = fields.CharField(max_length=64)
    amount = fields.BigIntField()
    amount_refunded = fields.BigIntField(default=0)
    currency = fields.CharField(max_length=3)
    status = fields.CharField(max_length=24)
    paid_at = fields.DatetimeField(null=True)
    refunded_at = fields.DatetimeField(null=True)
    dispute_status = fields.CharField(max_length=24, null=True)
    """The status of its latest dispute (None: never disputed); `lost` takes it out of plan
    status."""
    provider_updated_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "purchases"
        unique_together = (("provider_key", "provider_payment_id"),)
        indexes = (
            Index(fields=("created_at", "id"), name="purchases_created_idx"),
            Index(
                fields=("consumer_tenant_id", "consumer_key", "status"), name="purchases_tenant_idx"
            ),
            Index(fields=("consumer_key", "created_at"), name="purchases_consumer_idx"),
            Index(fields=("status", "created_at"), name="purchases_status_idx"),
            Index(fields=("pricing_item_code", "created_at"), name="purchases_item_idx"),
        )


class Subscription(Model):
    """A recurring plan of one tenant at one provider."""

    id = fields.UUIDField(primary_key=True)
    provider_key = fields.CharField(max_length=40)
    provider_subscription_id = fields.CharField(max_length=255)
    provider_customer_id = fields.CharField(max_length=255, null=True)
    consumer_key = fields.CharField(max_length=64)
    consumer_tenant_id = fields.CharField(max_length=255)
    pricing_item_code = fields.CharField(max_length=64)
    status = fields.CharField(max_length=24)
    current_period_start = fields.DatetimeField(null=True)
    current_period_end = fields.DatetimeField(null=True)
    cancel_at_period_end = fields.BooleanField(default=False)
    canceled_at = fields.DatetimeField(null=True)
    trial_end = fields.DatetimeField(null=True)
    ended_at = fields.DatetimeField(null=True)
    past_due_since = fields.DatetimeField(null=True)
    """The provider's time of the fact that moved it to past_due (None unless past_due):
    the grace period of plan status counts from here."""
    provider_updated_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "subscriptions"
        unique_together = (("provider_key", "provider_subscription_id"),)
        indexes = (
            Index(fields=("created_at", "id"), name="subscriptions_created_idx"),
            Index(
                fields=("consumer_tenant_id", "consumer_key", "status"),
                name="subscriptions_tenant_idx",
            ),
            Index(fields=("consumer_key", "created_at"), name="subscriptions_consumer_idx"),
            Index(fields=("status", "created_at"), name="subscriptions_status_idx"),
            Index(fields=("pricing_item_code", "created_at"), name="subscriptions_item_idx"),
            Index(
                fields=("status", "current_period_end"), name="subscriptions_period_end_idx"
            ),  # the reconcile sweep's lapsed subscriptions
        )


class Invoice(Model):
    """A provider's invoice of one tenant (most often a subscription's), kept from its
    `invoice.*` events; its status only moves forward."""

    id = fields.UUIDField(primary_key=True)
    provider_key = fields.CharField(max_length=40)
    provider_invoice_id = fields.CharField(max_length=255)
    provider_subscription_id = fields.CharField(max_length=255, null=True)
    provider_payment_id = fields.CharField(max_length=255, null=True)
    subscription_id = fields.UUIDField(null=True)
    consumer_key = fields.CharField(max_length=64)
    consumer_tenant_id = fields.CharField(max_length=255)
    number = fields.CharField(max_length=255, null=True)
    status = fields.CharField(max_length=24)
    amount_due = fields.BigIntField(default=0)
    amount_paid = fields.BigIntField(default=0)
    currency = fields.CharField(max_length=3)
    period_start = fields.DatetimeField(null=True)
    period_end = fields.DatetimeField(null=True)
    hosted_invoice_url = fields.TextField(null=True)
    invoice_pdf_url = fields.TextField(null=True)
    provider_updated_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "invoices"
        unique_together = (("provider_key", "provider_invoice_id"),)
        indexes = (
            Index(fields=("created_at", "id"), name="invoices_created_idx"),
            Index(
                fields=("consumer_tenant_id", "consumer_key", "created_at"),
                name="invoices_tenant_idx",
            ),
            Index(fields=("subscription_id", "created_at"), name="invoices_subscription_idx"),
            Index(fields=("provider_payment_id", "provider_key"), name="invoices_payment_idx"),
        )


class Dispute(Model):
    """A chargeback of one payment: a one-time purchase's, or a subscription invoice's."""

    id = fields.UUIDField(primary_key=True)
    provider_key = fields.CharField(max_length=40)
    provider_dispute_id = fields.CharField(max_length=255)
    provider_payment_id = fields.CharField(max_length=255, null=True)
    purchase_id = fields.UUIDField(null=True)
    subscription_id = fields.UUIDField(null=True)
    consumer_key = fields.CharField(max_length=64)
    consumer_tenant_id = fields.CharField(max_length=255)
    amount = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    reason = fields.CharField(max_length=64, null=True)
    status = fields.CharField(max_length=24)
    provider_updated_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "disputes"
        unique_together = (("provider_key", "provider_dispute_id"),)
        indexes = (
            Index(fields=("created_at", "id"), name="disputes_created_idx"),
            Index(
                fields=("consumer_tenant_id", "consumer_key", "created_at"),
                name="disputes_tenant_idx",
            ),
            Index(fields=("status", "created_at"), name="disputes_status_idx"),
        )
