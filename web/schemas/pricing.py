"""Pricing items: the create and update bodies, list filters, and the answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from web.schemas.common import ApiModel, ListQuery, RequestBody

Kind = Literal["recurring", "one_time"]
Interval = Literal["day", "week", "month", "year"]


class ProviderPriceIn(RequestBody):
    provider_key: str = Field(min_length=1, max_length=40)
    provider_price_id: str = Field(min_length=1, max_length=255)
    provider_product_id: str | None = Field(default=None, max_length=255)


class PricingItemCreate(RequestBody):
    code: str = Field(min_length=1, max_length=64, examples=["starter_month"])
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    kind: Kind
    unit_amount: int = Field(ge=0, description="Minor units: 1900 is 19.00")
    currency: str = Field(min_length=3, max_length=3, examples=["eur"])
    interval: Interval | None = None
    interval_count: int = Field(default=1, ge=1, le=365)
    trial_days: int = Field(default=0, ge=0, le=730)
    active: bool = True
    public: bool = False
    sort_order: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    features: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    provider_prices: list[ProviderPriceIn] = Field(default_factory=list, max_length=20)


class PricingItemPatch(RequestBody):
    """Every field optional; only the fields sent change. `code` cannot change."""

    code: str | None = Field(default=None, min_length=1, max_length=64)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    kind: Kind | None = None
    unit_amount: int | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    interval: Interval | None = None
    interval_count: int | None = Field(default=None, ge=1, le=365)
    trial_days: int | None = Field(default=None, ge=0, le=730)
    active: bool | None = None
    public: bool | None = None
    sort_order: int | None = Field(default=None, ge=-1_000_000, le=1_000_000)
    features: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    provider_prices: list[ProviderPriceIn] | None = Field(default=None, max_length=20)


class PricingItemQuery(ListQuery):
    active: bool | None = None
    kind: Kind | None = None
    provider_key: str | None = Field(default=None, max_length=40)
    include_archived: bool = False


class PublicPricingItemQuery(ListQuery):
    active: bool | None = None


class ProviderPriceOut(ApiModel):
    provider_key: str
    provider_price_id: str
    provider_product_id: str | None


class PricingItemOut(ApiModel):
    id: str
    code: str
    name: str
    description: str | None
    kind: Kind
    unit_amount: int
    currency: str
    interval: Interval | None
    interval_count: int
    trial_days: int
    active: bool
    public: bool
    sort_order: int
    features: dict[str, Any]
    metadata: dict[str, Any]
    provider_prices: list[ProviderPriceOut]
    created_at: str
    updated_at: str
    archived_at: str | None


class PublicPricingItemOut(ApiModel):
    id: str
    code: str
    name: str
    description: str | None
    kind: Kind
    unit_amount: int
    currency: str
    interval: Interval | None
    interval_count: int
    trial_days: int
    active: bool
    sort_order: int
    features: dict[str, Any]


class PricingItemList(ApiModel):
    data: list[PricingItemOut]
    next_cursor: str | None


class PublicPricingItemList(ApiModel):
    data: list[PublicPricingItemOut]
    next_cursor: str | None
