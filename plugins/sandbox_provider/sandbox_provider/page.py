"""The hosted checkout page: `GET /sandbox/checkout/<id>` and its Pay, Decline and Cancel forms.

Plain HTML from Jinja templates in this package, inline CSS, no JavaScript and nothing
loaded from anywhere else (the Content-Security-Policy says so to the browser). Pay waits
until the service's webhook has accepted the sandbox's events, then redirects (303) to the
session's success URL; a browser gets a tidy HTML page for every error, never JSON.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, redirect, render_template, request
from quart_schema import hide

from core.billing.plan_status import plan_status
from core.errors import ApiError, Conflict, NotFound, ProviderError
from core.timeutil import utcnow
from sandbox_provider import actions, money, store
from sandbox_provider.runtime import sandbox_provider, sandbox_providers
from sandbox_provider.sender import DeliveryFailed
from web.state import state

blueprint = Blueprint("sandbox_page", __name__, template_folder="templates")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
DECLINED = "Your card was declined (sandbox). Pay to try again, or cancel."
PLACEHOLDER = "{CHECKOUT_SESSION_ID}"
TITLES = {404: "Checkout not found", 409: "This checkout is closed", 502: "Payment not confirmed"}


async def _html(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/html", headers=SECURITY_HEADERS)


async def _error(error: ApiError) -> Response:
    body = await render_template(
        "sandbox/error.html",
        title=TITLES.get(error.status_code, "Something went wrong"),
        message=error.message,
        status=error.status_code,
        code=error.code,
    )
    return await _html(body, error.status_code)


async def _session(session_id: str) -> tuple[dict[str, Any], str]:
    """The session's data and provider key, if a sandbox key this app runs holds it."""
    row = await store.find(session_id, store.CHECKOUT_SESSION)
    if row is None or sandbox_provider(row.provider_key) is None:
        raise NotFound(
            f"checkout session '{session_id}' not found", code="checkout_session_not_found"
        )
    return row.data, row.provider_key


async def _flush(provider_key: str) -> None:
    provider = sandbox_provider(provider_key)
    if provider is None:  # pragma: no cover - checked by _session already
        return
    try:
        await provider.sender.flush()
    except DeliveryFailed as error:
        raise ProviderError(
            f"The sandbox recorded this, but the service did not accept its event: {error}. "
            "It is sent again with the next sandbox action.",
            code="sandbox_webhook_failed",
        ) from None


async def _open_session(session_id: str) -> tuple[dict[str, Any], str]:
    """The session, expired first if its time is up; 409 unless it is open."""
    data, key = await _session(session_id)
    if actions.due(data, utcnow()):
        expired = await actions.expire(session_id, only_if_due=True)
        await _flush(key)
        data = expired or data
    if data.get("status") != actions.OPEN:
        raise Conflict(
            f"This checkout is {data.get('status')}: it cannot be paid any more.",
            code="checkout_session_closed",
        )
    return data, key


def _tenant_name(data: dict[str, Any]) -> str | None:
    """The buyer's own name for its account: the legal name, else the tenant's name."""
    tenant = data.get("tenant") or {}
    name = tenant.get("legal_name") or tenant.get("name")
    return str(name) if name else None


def renewal_line(item: dict[str, Any], amount: str, trial_days: int) -> str | None:
    """What a recurring item costs after today: `then €19.00 per month` (after the trial,
    `after the 14-day trial, €19.00 per month`); None for a one-time item."""
    if not item.get("interval"):
        return None
    every = money.interval(item)
    if trial_days:
        return f"after the {trial_days}-day free trial, {amount} {every}"
    return f"then {amount} {every}"


@blueprint.get("/sandbox/checkout/<session_id>")
@hide
async def checkout_page(session_id: str) -> Response:
    """The page a buyer pays on."""
    try:
        data, _ = await _open_session(session_id)
    except ApiError as error:
        return await _error(error)
    item = data.get("item") or {}
    amount = money.amount(int(data.get("amount_total") or 0), str(data.get("currency") or ""))
    trial_days = int(item.get("trial_days") or 0)
    metadata = data.get("metadata") or {}
    body = await render_template(
        "sandbox/checkout.html",
        item=item,
        amount=amount,
        today=money.amount(0, str(data.get("currency") or "")) if trial_days else amount,
        renewal=renewal_line(item, amount, trial_days),
        trial_days=trial_days,
        tenant=data.get("tenant") or {},
        tenant_name=_tenant_name(data),
        tenant_id=metadata.get("consumerTenantId", ""),
        consumer_key=metadata.get("consumerKey", ""),
        session_id=session_id,
        base=f"/sandbox/checkout/{session_id}",
        message=DECLINED if request.args.get("declined") else None,
    )
    return await _html(body)


def _see_other(url: str) -> Response:
    response = redirect(url, 303)
    response.headers.update(SECURITY_HEADERS)
    return response  # type: ignore[return-value]


@blueprint.post("/sandbox/checkout/<session_id>/pay")
@hide
async def pay(session_id: str) -> Response:
    """Complete the session, wait for the service to take its events, go to the success URL."""
    try:
        _, key = await _open_session(session_id)
        session = await actions.pay(session_id)
        await _flush(key)
    except ApiError as error:
        return await _error(error)
    return _see_other(str(session["success_url"]).replace(PLACEHOLDER, session_id))


@blueprint.post("/sandbox/checkout/<session_id>/decline")
@hide
async def decline(session_id: str) -> Response:
    """A refused card: the payment fails and the buyer sees the page again, with a message."""
    try:
        _, key = await _open_session(session_id)
        await actions.decline(session_id)
        await _flush(key)
    except ApiError as error:
        return await _error(error)
    return _see_other(f"/sandbox/checkout/{session_id}?declined=1")


@blueprint.post("/sandbox/checkout/<session_id>/cancel")
@hide
async def cancel(session_id: str) -> Response:
    """Back to the product's cancel URL; the session stays open, as at Stripe."""
    try:
        data, _ = await _open_session(session_id)
    except ApiError as error:
        return await _error(error)
    return _see_other(str(data["cancel_url"]))


@blueprint.get("/sandbox/return")
@hide
async def return_page() -> Response:
    """A stand-in for a product's return page, so a fresh clone has a success and a cancel
    URL to land on (`?session_id={CHECKOUT_SESSION_ID}` or `?checkout=cancel`)."""
    if not sandbox_providers():
        return await _error(NotFound("no sandbox provider is enabled", code="route_not_found"))
    session_id = request.args.get("session_id") or None
    status = None
    plan: dict[str, Any] | None = None
    if session_id:
        row = await store.find(session_id, store.CHECKOUT_SESSION)
        status = row.data.get("status") if row is not None else "unknown"
        if row is not None:
            plan = await _plan_status(row.data)
    if request.args.get("checkout") == "cancel":
        title, message = "Checkout canceled", "You left the checkout without paying."
    elif status == "complete":
        title, message = "Payment complete", "Thank you: the sandbox took the payment."
    else:
        title, message = "Back from checkout", "The checkout has not been completed."
    body = await render_template(
        "sandbox/return.html",
        title=title,
        message=message,
        session_id=session_id,
        status=status,
        plan=plan,
    )
    return await _html(body)


async def _plan_status(data: dict[str, Any]) -> dict[str, Any] | None:
    """The tenant's plan status as products read it: through the host's plan-status service
    (`core.billing.plan_status`), narrowed to the checkout's consumer; with its words."""
    metadata = data.get("metadata") or {}
    tenant_id = metadata.get("consumerTenantId")
    if not tenant_id:
        return None
    grace_days = state().settings.past_due_grace_days
    answer = await plan_status(str(tenant_id), metadata.get("consumerKey"), grace_days)
    plan = answer.get("plan") or {}
    subscription = answer.get("subscription") or {}
    return {
        "tenant_name": _tenant_name(data),
        "tenant_id": tenant_id,
        "entitled": answer["entitled"],
        "status": answer["status"],
        "plan_name": plan.get("name") or plan.get("code"),
        "period_end": (subscription.get("currentPeriodEnd") or "")[:10] or None,
        "trial_end": (subscription.get("trialEnd") or "")[:10] or None,
        "cancel_at_period_end": bool(subscription.get("cancelAtPeriodEnd")),
        "purchases": [p["pricingItemCode"] for p in answer.get("purchases") or []],
    }
