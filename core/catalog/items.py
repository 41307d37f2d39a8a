"""The pricing catalog service: create, change, archive and list pricing items.

Rules that span fields live here (a recurring item needs an interval, a one-time item
has none), so every entry point gets them. Items are never deleted: archiving keeps the
history that purchases and subscriptions refer to by code.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from core.billing.plan_cache import EVERYONE, announce
from core.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from core.models import PricingItem, PricingItemProviderPrice
from core.store.pagination import Page, SortKey, paginate
from core.store.unit_of_work import unit_of_work
from core.timeutil import utcnow

KINDS = ("recurring", "one_time")
INTERVALS = ("day", "week", "month", "year")
CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
CURRENCY_PATTERN = re.compile(r"^[a-z]{3}$")
MAX_UNIT_AMOUNT = 99_999_999_999
# Changing any of these makes existing provider prices wrong (provider prices are immutable).
PRICE_DEFINING = ("kind", "unit_amount", "currency", "interval", "interval_count")
PUBLIC_ORDER = (SortKey("sort_order"), SortKey("unit_amount"), SortKey("id"))


@dataclass(frozen=True)
class PriceRef:
    provider_key: str
    provider_price_id: str
    provider_product_id: str | None = None


@dataclass
class ItemFields:
    """A pricing item's writable fields, snake_case, after type validation."""

    code: str
    name: str
    kind: str
    unit_amount: int
    currency: str
    description: str | None = None
    interval: str | None = None
    interval_count: int = 1
    trial_days: int = 0
    active: bool = True
    public: bool = False
    sort_order: int = 0
    features: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemWithPrices:
    item: PricingItem
    prices: list[PricingItemProviderPrice]


def _problems(
    fields: ItemFields, prices: list[PriceRef] | None, providers: Collection[str]
) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    if not CODE_PATTERN.match(fields.code):
        problems.append(
            FieldProblem(
                "code", "1-64 letters, digits, '_', '-' or '.', starting with a letter or digit"
            )
        )
    if not fields.name.strip():
        problems.append(FieldProblem("name", "must not be empty"))
    if fields.kind not in KINDS:
        problems.append(FieldProblem("kind", f"must be one of {', '.join(KINDS)}"))
    if not 0 <= fields.unit_amount <= MAX_UNIT_AMOUNT:
        problems.append(FieldProblem("unitAmount", f"must be 0 to {MAX_UNIT_AMOUNT} minor units"))
    if not CURRENCY_PATTERN.match(fields.currency):
        problems.append(FieldProblem("currency", "must be a three-letter ISO-4217 code"))
    if fields.kind == "recurring":
        if fields.interval not in INTERVALS:
            problems.append(
                FieldProblem("interval", f"a recurring item needs one of {', '.join(INTERVALS)}")
            )
    elif fields.kind == "one_time":
        if fields.interval is not None:
            problems.append(FieldProblem("interval", "a one_time item has no interval"))
        if fields.trial_days:
            problems.append(FieldProblem("trialDays", "a one_time item has no trial"))
        if fields.interval_count != 1:
            problems.append(FieldProblem("intervalCount", "a one_time item has no interval"))
    if fields.interval_count < 1:
        problems.append(FieldProblem("intervalCount", "must be at least 1"))
    if not 0 <= fields.trial_days <= 730:
        problems.append(FieldProblem("trialDays", "must be 0 to 730"))
    for position, ref in enumerate(prices or ()):
        if ref.provider_key not in providers:
            problems.append(
                FieldProblem(
                    f"providerPrices[{position}].providerKey",
                    f"'{ref.provider_key}' is not an enabled provider",
                )
            )
        if not ref.provider_price_id.strip():
            problems.append(
                FieldProblem(f"providerPrices[{position}].providerPriceId", "must not be empty")
            )
    keys = [ref.provider_key for ref in prices or ()]
    if len(keys) != len(set(keys)):
        problems.append(FieldProblem("providerPrices", "one price per provider key"))
    return problems


def _normalized(fields: ItemFields) -> ItemFields:
    fields.currency = fields.currency.lower()
    return fields


async def _prices_of(item: PricingItem) -> list[PricingItemProviderPrice]:
    return await PricingItemProviderPrice.filter(item_id=item.id).order_by("provider_key")


async def _check_prices_free(prices: list[PriceRef], item_id: uuid.UUID | None) -> None:
    for ref in prices:
        taken = (
            await PricingItemProviderPrice.filter(
                provider_key=ref.provider_key, provider_price_id=ref.provider_price_id
            )
            .exclude(item_id=item_id)
            .exists()
        )
        if taken:
            raise Conflict(
                f"provider price '{ref.provider_price_id}' of '{ref.provider_key}' belongs to another item",
                code="provider_price_taken",
            )


async def _replace_prices(item: PricingItem, prices: list[PriceRef]) -> None:
    await PricingItemProviderPrice.filter(item_id=item.id).delete()
    for ref in prices:
        await PricingItemProviderPrice.create(
            item=item,
            provider_key=ref.provider_key,
            provider_price_id=ref.provider_price_id,
            provider_product_id=ref.provider_product_id,
        )


async def create_item(
    fields: ItemFields, prices: list[PriceRef], providers: Collection[str]
) -> ItemWithPrices:
    """Create an item; 409 `pricing_item_code_taken` when its code exists (archived included)."""
    fields = _normalized(fields)
    problems = _problems(fields, prices, providers)
    if problems:
        raise ValidationFailed(problems)
    if await PricingItem.filter(code=fields.code).exists():
        raise _code_taken(fields.code)
    await _check_prices_free(prices, None)
    try:
        async with unit_of_work() as conn:
            item = await PricingItem.create(**vars(fields), using_db=conn)
            await _replace_prices(item, prices)
            await catalog_changed(conn)
    except IntegrityError:
        if await PricingItem.filter(code=fields.code).exists():
            raise _code_taken(fields.code) from None
        raise Conflict(
            "a provider price of this item belongs to another item", code="provider_price_taken"
        ) from None
    return ItemWithPrices(item, await _prices_of(item))


def _code_taken(code: str) -> Conflict:
    return Conflict(f"pricing item code '{code}' is already taken", code="pricing_item_code_taken")


async def catalog_changed(conn: BaseDBAsyncClient) -> None:
    """Inside the change's unit of work: plan status shows item names and features, so every
    process drops its cached answers once it committed."""
    await announce(conn, [EVERYONE])


async def find_item(ref: str) -> PricingItem:
    """An item by its id or, failing that, its code; 404 `pricing_item_not_found`."""
    item = None
    with contextlib.suppress(ValueError):
        item = await PricingItem.get_or_none(id=uuid.UUID(ref))
    if item is None:
        item = await PricingItem.get_or_none(code=ref)
    if item is None:
        raise NotFound(f"pricing item '{ref}' not found", code="pricing_item_not_found")
    return item


async def get_item(ref: str) -> ItemWithPrices:
    item = await find_item(ref)
    return ItemWithPrices(item, await _prices_of(item))


async def update_item(
    ref: str, changes: Mapping[str, Any], prices: list[PriceRef] | None, providers: Collection[str]
) -> ItemWithPrices:
    """Apply a partial update. The code cannot change; `active: true` also un-archives.

    Changing what defines the price (amount, currency, kind, interval) drops the stored
    provider prices unless new ones come in the same request: a provider's price is
    immutable, and checking out at a stale price would charge the wrong amount.
    """
    item = await find_item(ref)
    if "code" in changes and changes["code"] != item.code:
        raise ValidationFailed(
            [FieldProblem("code", "cannot be changed; create a new item instead")]
        )
    current = ItemFields(**{name: getattr(item, name) for name in ItemFields.__dataclass_fields__})
    merged = _normalized(
        ItemFields(**{**vars(current), **{k: v for k, v in changes.items() if k != "code"}})
    )
    if merged.kind == "one_time" and "interval" not in changes and "kind" in changes:
        merged.interval, merged.interval_count, merged.trial_days = None, 1, 0
    problems = _problems(merged, prices, providers)
    if problems:
        raise ValidationFailed(problems)
    price_changed = any(getattr(merged, name) != getattr(current, name) for name in PRICE_DEFINING)
    if prices is not None:
        await _check_prices_free(prices, item.id)
    async with unit_of_work() as conn:
        for name, value in vars(merged).items():
            setattr(item, name, value)
        if changes.get("active") is True:
            item.archived_at = None
        await item.save(using_db=conn)
        if prices is not None:
            await _replace_prices(item, prices)
        elif price_changed:
            await PricingItemProviderPrice.filter(item_id=item.id).using_db(conn).delete()
        await catalog_changed(conn)
    return ItemWithPrices(item, await _prices_of(item))


async def archive_item(ref: str) -> None:
    """Archive (inactive, `archivedAt` set once); archiving twice changes nothing."""
    item = await find_item(ref)
    if item.archived_at is None:
        item.active = False
        item.archived_at = utcnow()
        async with unit_of_work() as conn:
            await item.save(update_fields=["active", "archived_at", "updated_at"], using_db=conn)
            await catalog_changed(conn)


async def list_items(
    *,
    active: bool | None,
    kind: str | None,
    provider_key: str | None,
    include_archived: bool,
    limit: int,
    cursor: str | None,
) -> Page[PricingItem]:
    """Every item, newest first, inactive included, archived only when asked for."""
    query = PricingItem.all()
    if not include_archived:
        query = query.filter(archived_at__isnull=True)
    if active is not None:
        query = query.filter(active=active)
    if kind is not None:
        query = query.filter(kind=kind)
    if provider_key is not None:
        query = query.filter(provider_prices__provider_key=provider_key)
    return await paginate(query, limit=limit, cursor=cursor, prefetch=["provider_prices"])


async def list_public(*, active: bool | None, limit: int, cursor: str | None) -> Page[PricingItem]:
    """Public, unarchived items ordered by `sortOrder`, then `unitAmount`."""
    query = PricingItem.filter(public=True, archived_at__isnull=True)
    if active is not None:
        query = query.filter(active=active)
    return await paginate(query, limit=limit, cursor=cursor, order=PUBLIC_ORDER)
