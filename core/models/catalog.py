"""The pricing catalog: what can be bought, for how much, and each provider's price for it."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class PricingItem(Model):
    """A plan or one-time item. Never deleted: archiving keeps the history purchases refer to."""

    id = fields.UUIDField(primary_key=True)
    code = fields.CharField(max_length=64, unique=True)
    name = fields.CharField(max_length=200)
    description = fields.TextField(null=True)
    kind = fields.CharField(max_length=16)
    unit_amount = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    interval = fields.CharField(max_length=8, null=True, source_field="billing_interval")
    interval_count = fields.IntField(default=1)
    trial_days = fields.IntField(default=0)
    active = fields.BooleanField(default=True)
    public = fields.BooleanField(default=False)
    sort_order = fields.IntField(default=0)
    features: dict[str, Any] = fields.JSONField(default=dict)
    metadata: dict[str, Any] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    archived_at = fields.DatetimeField(null=True)

    provider_prices: fields.ReverseRelation[PricingItemProviderPrice]

    class Meta:
        table = "pricing_items"
        indexes = (
            Index(fields=("created_at", "id"), name="pricing_items_created_idx"),
            Index(fields=("kind",), name="pricing_items_kind_idx"),
            Index(fields=("active",), name="pricing_items_active_idx"),
            Index(
                fields=("public", "sort_order", "unit_amount", "id"),
                name="pricing_items_public_idx",
            ),
        )


class PricingItemProviderPrice(Model):
    """One provider key's price (and product) for a pricing item."""

    id = fields.IntField(primary_key=True)
    item: fields.ForeignKeyRelation[PricingItem] = fields.ForeignKeyField(
        "models.PricingItem", related_name="provider_prices", on_delete=fields.CASCADE
    )
    provider_key = fields.CharField(max_length=40)
    provider_price_id = fields.CharField(max_length=255)
    provider_product_id = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "pricing_item_provider_prices"
        unique_together = (("item", "provider_key"), ("provider_key", "provider_price_id"))
