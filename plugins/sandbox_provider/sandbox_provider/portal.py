"""The hosted portal page: `GET /sandbox/portal/<id>`, where a tenant manages what it bought.

A portal session (`SandboxProvider.create_portal_session`) names one customer of one sandbox key
and a return URL, for `portal_expires_after` seconds. Its page lists the customer's subscriptions
(with Cancel at period end, Cancel now, Resume and Change plan), its invoices and its one-time
payments, and links back to the return URL. Like the checkout page: Jinja templates, inline CSS,
no JavaScript, the same security headers, HTML error pages (an expired session is one, 410).

Each button POSTs to `/sandbox/portal/<id>/...`, runs the sandbox's action (the provider's
side), sends its events to the service's webhook, so the service's records follow, and
redirects (303) back to the page. A plan change first makes sure the host knows the new item's
sandbox price (a `PricingItemProviderPrice` row), so the webhook moves the record to that item.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from quart import Blueprint, Response, redirect, render_template, request
from quart_schema import hide
from tortoise.exceptions import IntegrityError

from core.errors import ApiError, NotFound, ProviderError, Unprocessable
from core.models import PricingItem, PricingItemProviderPrice, SandboxObject
from core.providers import CheckoutItem, Proration
from core.timeutil import from_unix, utcnow
from sandbox_provider import actions, managing, money, objects, store
from sandbox_provider.page import SECURITY_HEADERS
from sandbox_provider.provider import SandboxProvider
from sandbox_provider.runtime import sandbox_provider
from sandbox_provider.sender import DeliveryFailed

blueprint = Blueprint("sandbox_portal", __name__, template_folder="templates")

TITLES = {
    404: "Portal not found",
    409: "That is not possible now",
    410: "This portal session has expired",
    422: "That plan cannot be chosen",
    502: "Change not confirmed",
}
PRORATIONS: dict[str, Proration] = {
    "create_prorations": "create_prorations",
    "always_invoice": "always_invoice",
    "none": "none",
}
DONE = {
    "cancel-at-period-end": "The subscription will be canceled at the end of its period.",
    "cancel-now": "The subscription is canceled.",
    "resume": "The subscription continues: the cancellation is undone.",
    "change": "The plan is changed.",
}
KINDS = (store.SUBSCRIPTION, store.INVOICE, store.PAYMENT_INTENT)


async def _html(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/html", headers=SECURITY_HEADERS)


async def _error(error: ApiError) -> Response:
    body = await render_template(
        "sandbox/error.html",
        title=TITLES.get(error.status_code, "Something went wrong"),
        message=error.message,
        status=error.status_code,
        code=error.code,
        page="Sandbox portal",
    )
    return await _html(body, error.status_code)


def _see_other(url: str) -> Response:
    response = redirect(url, 303)
    response.headers.update(SECURITY_HEADERS)
    return response  # type: ignore[return-value]


async def _portal(session_id: str) -> tuple[dict[str, Any], SandboxProvider]:
    """The session and its provider; 404 unknown (or a key this app does not run), 410 expired."""
    row = await store.find(session_id, store.PORTAL_SESSION)
    provider = sandbox_provider(row.provider_key) if row is not None else None
    if row is None or provider is None:
        raise NotFound(f"portal session '{session_id}' not found", code="portal_session_not_found")
    if expired(row.data, utcnow()):
        raise ApiError(
            "This portal session has expired: open the billing page from the product again.",
            code="portal_session_expired",
            status_code=410,
        )
    return row.data, provider


async def _customer_objects(provider_key: str, customer_id: str) -> dict[str, list[dict[str, Any]]]:
    """The customer's subscriptions, invoices and payment intents, newest first."""
    rows = await SandboxObject.filter(provider_key=provider_key, kind__in=KINDS).order_by(
        "-created_at", "-id"
    )
    found: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    for row in rows:
        if row.data.get("customer") == customer_id:
            found[row.kind].append(row.data)
    return found


def _date(value: Any) -> str | None:
    moment = from_unix(value) if isinstance(value, int | float) else None
    return f"{moment.day} {moment:%b %Y}" if moment is not None else None


def _time(value: Any) -> str | None:
    moment = from_unix(value) if isinstance(value, int | float) else None
    return f"{_date(value)}, {moment:%H:%M} UTC" if moment is not None else None


def _link(value: Any) -> str | None:
    """A return URL the page may link to: http(s) only (never `javascript:` or `data:`)."""
    text = str(value or "")
    return text if text.startswith(("http://", "https://")) else None


def _price(item: dict[str, Any]) -> str:
    amount = money.amount(int(item.get("unit_amount") or 0), str(item.get("currency") or ""))
    return f"{amount} {money.interval(item)}"


async def _choices(current: dict[str, Any]) -> list[dict[str, str]]:
    """The catalog's other active recurring items in the subscription's currency."""
    items = await PricingItem.filter(
        kind="recurring", active=True, archived_at__isnull=True, currency=current.get("currency")
    ).order_by("sort_order", "unit_amount", "code")
    return [
        {
            "code": item.code,
            "label": f"{item.name}: "
            + _price(
                {
                    "unit_amount": item.unit_amount,
                    "currency": item.currency,
                    "interval": item.interval,
                    "interval_count": item.interval_count,
                }
            ),
        }
        for item in items
        if item.code != current.get("code")
    ]


async def _subscription_view(sub: dict[str, Any]) -> dict[str, Any]:
    item = sub.get("item") or {}
    live = sub.get("status") not in actions.ENDED
    return {
        "id": sub["id"],
        "status": sub.get("status"),
        "plan": item.get("name") or item.get("code"),
        "price": _price(item),
        "period_end": _date(sub.get("current_period_end")),
        "ended_at": _date(sub.get("ended_at")),
        "cancel_at_period_end": bool(sub.get("cancel_at_period_end")),
        "live": live,
        "choices": await _choices(item) if live else [],
    }


def _invoice_view(invoice: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": invoice["id"],
        "number": invoice.get("number") or invoice["id"],
        "date": _date(invoice.get("created")),
        "amount": money.amount(
            int(invoice.get("amount_due") or 0), str(invoice.get("currency") or "")
        ),
        "status": invoice.get("status"),
    }


def _payment_view(intent: dict[str, Any]) -> dict[str, Any]:
    currency = str(intent.get("currency") or "")
    refunded = int(intent.get("amount_refunded") or 0)
    return {
        "id": intent["id"],
        "what": (intent.get("metadata") or {}).get("pricingItemCode") or intent["id"],
        "date": _date(intent.get("created")),
        "amount": money.amount(int(intent.get("amount") or 0), currency),
        "status": intent.get("status"),
        "refunded": money.amount(refunded, currency) if refunded else None,
    }


@blueprint.get("/sandbox/portal/<session_id>")
@hide
async def portal_page(session_id: str) -> Response:
    """The tenant's subscriptions, invoices and one-time payments."""
    try:
        data, provider = await _portal(session_id)
    except ApiError as error:
        return await _error(error)
    found = await _customer_objects(provider.key, str(data.get("customer")))
    customer = await store.find(str(data.get("customer")), store.CUSTOMER)
    metadata = data.get("metadata") or {}
    body = await render_template(
        "sandbox/portal.html",
        base=f"/sandbox/portal/{session_id}",
        tenant_id=metadata.get("consumerTenantId", ""),
        consumer_key=metadata.get("consumerKey", ""),
        customer_name=(customer.data.get("name") if customer is not None else None),
        return_url=_link(data.get("return_url")),
        expires=_time(data.get("expires_at")),
        subscriptions=[await _subscription_view(s) for s in found[store.SUBSCRIPTION]],
        invoices=[_invoice_view(i) for i in found[store.INVOICE]],
        payments=[_payment_view(p) for p in found[store.PAYMENT_INTENT] if not p.get("invoice")],
        message=DONE.get(request.args.get("done", "")),
        prorations=list(PRORATIONS),
    )
    return await _html(body)


async def _owned_subscription(
    session_id: str, subscription_id: str
) -> tuple[dict[str, Any], SandboxProvider]:
    """The portal session, if the subscription is its customer's; 404 otherwise."""
    data, provider = await _portal(session_id)
    row = await store.find(subscription_id, store.SUBSCRIPTION)
    if (
        row is None
        or row.provider_key != provider.key
        or row.data.get("customer") != data.get("customer")
    ):
        raise NotFound(
            f"subscription '{subscription_id}' not found", code="sandbox_subscription_not_found"
        )
    return data, provider


async def _flush(provider: SandboxProvider) -> None:
    try:
        await provider.sender.flush()
    except DeliveryFailed as error:
        raise ProviderError(
            f"The sandbox recorded this, but the service did not accept its event: {error}. "
            "It is sent again with the next sandbox action.",
            code="sandbox_webhook_failed",
        ) from None


def _back(session_id: str, done: str) -> Response:
    return _see_other(f"/sandbox/portal/{session_id}?done={done}")


@blueprint.post("/sandbox/portal/<session_id>/subscriptions/<subscription_id>/<action>")
@hide
async def subscription_action(session_id: str, subscription_id: str, action: str) -> Response:
    """Cancel at period end, cancel now, resume or change plan; then back to the page."""
    try:
        if action not in DONE:
            raise NotFound(f"no portal action '{action}'", code="route_not_found")
        _, provider = await _owned_subscription(session_id, subscription_id)
        if action == "change":
            await _change(provider, subscription_id)
        elif action == "resume":
            await managing.resume(subscription_id, provider_key=provider.key)
        else:
            await managing.cancel(
                subscription_id,
                provider_key=provider.key,
                at_period_end=action == "cancel-at-period-end",
            )
        await _flush(provider)
    except ApiError as error:
        return await _error(error)
    return _back(session_id, action)


async def _change(provider: SandboxProvider, subscription_id: str) -> None:
    form = await request.form
    code, proration = form.get("item", ""), PRORATIONS.get(form.get("proration", ""))
    item = await PricingItem.get_or_none(code=code) if 0 < len(code) <= 64 else None
    if item is None or item.kind != "recurring" or not item.active or item.archived_at:
        raise Unprocessable(
            f"'{code}' is not an active recurring plan of the catalog",
            code="pricing_item_unavailable",
        )
    if proration is None:
        raise Unprocessable("choose how to prorate the change", code="validation_failed")
    priced = await _priced(provider, item)
    await managing.change(
        subscription_id,
        provider_key=provider.key,
        item=objects.item_data(priced),
        proration=proration,
    )


async def _priced(provider: SandboxProvider, item: PricingItem) -> CheckoutItem:
    """The item with its sandbox price, which the host must know before the webhook comes
    (it moves a subscription to the item whose provider price it has): the host's row for
    (item, key) if there is one, else the `sync_price` reference, recorded as that row."""
    bare = CheckoutItem(
        code=item.code,
        name=item.name,
        description=item.description,
        kind="recurring",
        unit_amount=item.unit_amount,
        currency=item.currency,
        interval=item.interval,
        interval_count=item.interval_count,
        trial_days=item.trial_days,
        provider_price_id=None,
        provider_product_id=None,
    )
    price = await PricingItemProviderPrice.get_or_none(item_id=item.id, provider_key=provider.key)
    if price is None:
        ref = await provider.sync_price(bare)
        try:
            price = await PricingItemProviderPrice.create(
                item=item,
                provider_key=provider.key,
                provider_price_id=ref.provider_price_id,
                provider_product_id=ref.provider_product_id,
            )
        except IntegrityError:  # a checkout (or another click) recorded it first
            price = await PricingItemProviderPrice.get(item_id=item.id, provider_key=provider.key)
    return replace(
        bare,
        provider_price_id=price.provider_price_id,
        provider_product_id=price.provider_product_id,
    )


def expired(data: dict[str, Any], now: datetime) -> bool:
    """A portal session past its `expires_at`."""
    return float(data.get("expires_at") or 0) <= objects.unix(now)
