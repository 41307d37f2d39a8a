"""The sandbox's hosted portal page through the app: what it shows, its buttons (each runs
the sandbox's action and sends its events to the service's webhook, so the service's records
follow) and its HTML error pages."""

from __future__ import annotations

import re

from sandbox_provider import store

from core.models import PricingItemProviderPrice, SandboxObject, Subscription
from core.providers import PortalRequest
from tests.plugins import test_sandbox_flow as flow
from tests.plugins.test_sandbox_flow import Served, click, open_checkout, paid_subscription, plan
from tests.plugins.test_sandbox_managing import PRO, add_pro, sandbox
from tests.support.api import Reply
from tests.support.webhooks import event_types

serve_app = flow.serve_app
served = flow.served
FORM = {"content-type": "application/x-www-form-urlencoded"}
RETURN = "http://funnel.test/#/settings/billing"


async def portal_of(served: Served, tenant: str = "tenant_123", key: str = "portal-1") -> str:
    """A portal session for the tenant's customer: its page's path."""
    customer = await SandboxObject.filter(kind=store.CUSTOMER).first()
    assert customer is not None
    session = await sandbox(served).create_portal_session(
        PortalRequest(
            provider_customer_id=customer.id,
            return_url=RETURN,
            consumer_key="funnel",
            consumer_tenant_id=tenant,
            idempotency_key=key,
        )
    )
    return session.url.removeprefix(served.base)


def text(reply: Reply) -> str:
    return reply.raw.decode()


async def press(served: Served, page: str, sub_id: str, action: str, form: str = "") -> Reply:
    reply = await served.api.post(
        f"{page}/subscriptions/{sub_id}/{action}", data=form, headers=FORM, token=None
    )
    assert reply.status == 303, text(reply)
    assert reply.headers["location"] == f"{page}?done={action}"
    return await served.api.get(reply.headers["location"], token=None)


async def test_the_portal_shows_subscriptions_invoices_and_purchases(served: Served) -> None:
    await add_pro(served)
    sub_id = await paid_subscription(served)
    addon = await open_checkout(served.api, "lifetime_addon")
    assert (await click(served.api, addon, "pay")).status == 303
    page = await portal_of(served)

    reply = await served.api.get(page, token=None)

    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in reply.headers["content-security-policy"]
    assert reply.headers["cache-control"] == "no-store"
    html = text(reply)
    for shown in ("Demo SRL (tenant_123)", "Starter", "active", "€19.00 per month", "Renews on"):
        assert shown in html
    assert "SBX-0001" in html and "lifetime_addon" in html and "€49.00" in html
    # The subscription's invoice payment is an invoice's, not a one-time purchase.
    assert len(re.findall(r'<tr class="payment"', html)) == 1
    for action in ("cancel-at-period-end", "cancel-now", "change"):
        assert f'action="{page}/subscriptions/{sub_id}/{action}"' in html
    assert f'action="{page}/subscriptions/{sub_id}/resume"' not in html
    # The other recurring items in the subscription's currency (not the usd yearly one).
    plans = re.search(r'<select name="item".*?</select>', html, re.DOTALL)
    assert plans is not None
    assert re.findall(r'<option value="([a-z_]+)">', plans.group(0)) == ["pro_month"]
    assert f'href="{RETURN}"' in html
    assert "<script" not in html
    assert re.search(r"(src)=\"https?://", html) is None


async def test_the_buttons_act_and_the_service_follows(served: Served) -> None:
    await add_pro(served)
    sub_id = await paid_subscription(served)
    page = await portal_of(served)

    shown = text(await press(served, page, sub_id, "cancel-at-period-end"))

    assert "Cancels at the end of the period" in shown
    assert f'{sub_id}/resume"' in shown and f'{sub_id}/cancel-at-period-end"' not in shown
    record = await Subscription.get(provider_subscription_id=sub_id)
    assert (record.status, record.cancel_at_period_end) == ("active", True)
    assert (await plan(served.api))["entitled"] is True

    shown = text(await press(served, page, sub_id, "resume"))

    assert "Cancels at the end" not in shown and "Renews on" in shown
    await record.refresh_from_db()
    assert record.cancel_at_period_end is False

    assert await PricingItemProviderPrice.filter(item__code="pro_month").count() == 0
    shown = text(
        await press(served, page, sub_id, "change", "item=pro_month&proration=always_invoice")
    )

    assert "The plan is changed." in shown and "€49.00 per month" in shown
    assert "SBX-0002" in shown  # the prorated difference, invoiced and paid now
    price = await PricingItemProviderPrice.get(item__code="pro_month", provider_key="sandbox")
    assert (await SandboxObject.get(id=sub_id)).data["price"] == price.provider_price_id
    await record.refresh_from_db()
    assert record.pricing_item_code == "pro_month"
    status = await plan(served.api)
    assert status["features"] == PRO["features"]

    shown = text(await press(served, page, sub_id, "cancel-now"))

    assert "canceled" in shown and "Ended on" in shown
    assert f'{sub_id}/cancel-now"' not in shown
    await record.refresh_from_db()
    assert record.status == "canceled"
    assert (await plan(served.api))["entitled"] is False
    assert await event_types() == [
        "subscription.created",
        "invoice.paid",
        "checkout.completed",
        "subscription.updated",
        "subscription.updated",
        "subscription.updated",
        "invoice.paid",
        "subscription.canceled",
    ]
    assert await SandboxObject.filter(kind="event_pending").count() == 0


async def test_the_portal_answers_html_errors(served: Served) -> None:
    sub_id = await paid_subscription(served)
    page = await portal_of(served)
    cases: list[tuple[str, str, str, int, str]] = [
        ("GET", "/sandbox/portal/bps_sbx_nope", "", 404, "Portal not found"),
        ("POST", f"/sandbox/portal/bps_sbx_nope/subscriptions/{sub_id}/resume", "", 404, "Portal"),
        ("POST", f"{page}/subscriptions/sub_sbx_nope/resume", "", 404, "not found"),
        ("POST", f"{page}/subscriptions/{sub_id}/explode", "", 404, "no portal action"),
        ("POST", f"{page}/subscriptions/{sub_id}/change", "item=lifetime_addon", 422, "plan"),
        (
            "POST",
            f"{page}/subscriptions/{sub_id}/change",
            "item=trial_year&proration=none",
            422,
            "usd",
        ),
        ("POST", f"{page}/subscriptions/{sub_id}/change", "item=nope&proration=none", 422, "plan"),
    ]
    for method, path, form, status, shown in cases:
        reply = await served.api.request(method, path, data=form, headers=FORM, token=None)
        assert reply.status == status, (path, text(reply))
        assert reply.headers["content-type"].startswith("text/html"), path
        assert shown in text(reply), (path, text(reply))
        assert "Traceback" not in text(reply)
    assert await event_types() == ["subscription.created", "invoice.paid", "checkout.completed"]

    row = await SandboxObject.get(id=page.rsplit("/", 1)[1])
    row.data = {**row.data, "expires_at": 1_000_000}
    await row.save()
    for method, path in (("GET", page), ("POST", f"{page}/subscriptions/{sub_id}/cancel-now")):
        reply = await served.api.request(method, path, token=None)
        assert reply.status == 410
        assert "This portal session has expired" in text(reply)
    assert (await Subscription.get(provider_subscription_id=sub_id)).status == "active"


async def test_another_customers_subscription_is_not_the_portals(served: Served) -> None:
    mine = await paid_subscription(served)
    other = await paid_subscription(served, tenant="tenant_other")
    customer = (await SandboxObject.get(id=mine)).data["customer"]
    session = await sandbox(served).create_portal_session(
        PortalRequest(customer, RETURN, "funnel", "tenant_123", "portal-mine")
    )
    page = session.url.removeprefix(served.base)

    html = text(await served.api.get(page, token=None))
    assert mine in html and other not in html
    reply = await served.api.post(f"{page}/subscriptions/{other}/cancel-now", token=None)

    assert reply.status == 404
    assert (await Subscription.get(provider_subscription_id=other)).status == "active"
