"""Stripe objects for the stand-in: Stripe's example objects with the request's values."""

from __future__ import annotations

import copy
import time
from typing import Any

from tests.support.stripe_standin.spec import fixtures

DAY = 86400


def example(name: str) -> dict[str, Any]:
    """A fresh copy of Stripe's example object of that name."""
    found: dict[str, Any] = copy.deepcopy(fixtures()[name])
    return found


def now() -> int:
    return int(time.time())


def customer(object_id: str, params: dict[str, Any]) -> dict[str, Any]:
    made = example("customer")
    made.update(
        id=object_id,
        created=now(),
        name=params.get("name"),
        email=params.get("email"),
        description=params.get("description"),
        metadata=dict(params.get("metadata") or {}),
        discount=None,
    )
    return made


def product(object_id: str, params: dict[str, Any]) -> dict[str, Any]:
    made = example("product")
    made.update(
        id=object_id,
        created=now(),
        updated=now(),
        name=params["name"],
        description=params.get("description"),
        metadata=dict(params.get("metadata") or {}),
        default_price=None,
        package_dimensions=None,
    )
    return made


def price(object_id: str, params: dict[str, Any]) -> dict[str, Any]:
    made = example("price")
    recurring = params.get("recurring")
    made.update(
        id=object_id,
        created=now(),
        product=params["product"],
        unit_amount=params.get("unit_amount"),
        unit_amount_decimal=str(params.get("unit_amount")),
        currency=params["currency"],
        metadata=dict(params.get("metadata") or {}),
        type="recurring" if recurring else "one_time",
        transform_quantity=None,
        recurring=(
            {
                "interval": recurring["interval"],
                "interval_count": recurring.get("interval_count", 1),
                "meter": None,
                "usage_type": "licensed",
                "trial_period_days": None,
            }
            if recurring
            else None
        ),
    )
    return made


def checkout_session(
    object_id: str, params: dict[str, Any], prices: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    made = example("checkout.session")
    total, currency = 0, None
    for line in params.get("line_items") or []:
        known = prices.get(line.get("price", ""))
        if known:
            total += int(known.get("unit_amount") or 0) * int(line.get("quantity", 1))
            currency = known.get("currency")
    made.update(
        id=object_id,
        created=now(),
        expires_at=now() + DAY,
        url=f"https://checkout.stripe.com/c/pay/{object_id}",
        status="open",
        payment_status="unpaid",
        mode=params.get("mode"),
        customer=params.get("customer"),
        customer_email=params.get("customer_email"),
        client_reference_id=params.get("client_reference_id"),
        success_url=params.get("success_url"),
        cancel_url=params.get("cancel_url"),
        metadata=dict(params.get("metadata") or {}),
        amount_subtotal=total,
        amount_total=total,
        currency=currency,
        subscription=None,
        payment_intent=None,
        invoice=None,
    )
    return made


def subscription(
    object_id: str,
    session: dict[str, Any],
    session_params: dict[str, Any],
    price_object: dict[str, Any] | None,
    status: str,
) -> dict[str, Any]:
    made = example("subscription")
    data = session_params.get("subscription_data") or {}
    start = now()
    trial_days = data.get("trial_period_days")
    item = made["items"]["data"][0]
    item.update(
        id=f"si_{object_id[4:]}",
        subscription=object_id,
        current_period_start=start,
        current_period_end=start + 30 * DAY,
        metadata={},
    )
    if price_object is not None:
        item["price"] = price_object
    made.update(
        id=object_id,
        created=start,
        customer=session.get("customer"),
        status=status,
        metadata=dict(data.get("metadata") or {}),
        start_date=start,
        billing_cycle_anchor=start,
        cancel_at=None,
        cancel_at_period_end=False,
        canceled_at=None,
        ended_at=None,
        trial_start=start if trial_days else None,
        trial_end=start + int(trial_days) * DAY if trial_days else None,
    )
    made["items"]["data"] = [item]
    return made


def payment_intent(
    object_id: str, session: dict[str, Any], session_params: dict[str, Any], status: str
) -> dict[str, Any]:
    made = example("payment_intent")
    data = session_params.get("payment_intent_data") or {}
    made.update(
        id=object_id,
        created=now(),
        amount=session.get("amount_total") or 0,
        amount_received=(session.get("amount_total") or 0) if status == "succeeded" else 0,
        currency=session.get("currency") or "eur",
        customer=session.get("customer"),
        status=status,
        metadata=dict(data.get("metadata") or {}),
        canceled_at=None,
        last_payment_error=None,
        client_secret=f"{object_id}_secret_standin",
    )
    return made


def charge(object_id: str, intent: dict[str, Any]) -> dict[str, Any]:
    """The charge that paid a payment intent (its `latest_charge`)."""
    made = example("charge")
    made.update(
        id=object_id,
        created=now(),
        amount=intent["amount"],
        amount_captured=intent["amount"],
        amount_refunded=0,
        captured=True,
        paid=True,
        refunded=False,
        status="succeeded",
        currency=intent["currency"],
        customer=intent.get("customer"),
        payment_intent=intent["id"],
        metadata={},
    )
    return made


def portal_session(object_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """A billing portal session at Stripe's hosted URL shape."""
    made = example("billing_portal.session")
    made.update(
        id=object_id,
        created=now(),
        customer=params["customer"],
        return_url=params.get("return_url"),
        url=f"https://billing.stripe.com/p/session/{object_id}",
        configuration="bpc_standin_default",
        flow=None,
        locale=params.get("locale"),
        livemode=False,
    )
    return made


def refund(
    object_id: str, params: dict[str, Any], paid: dict[str, Any], amount: int
) -> dict[str, Any]:
    """A succeeded refund of `amount` of the charge `paid`."""
    made = example("refund")
    made.update(
        id=object_id,
        created=now(),
        amount=amount,
        charge=paid["id"],
        currency=paid["currency"],
        payment_intent=paid.get("payment_intent"),
        reason=params.get("reason"),
        metadata=dict(params.get("metadata") or {}),
        status="succeeded",
        balance_transaction=None,
    )
    return made


def dispute(object_id: str, paid: dict[str, Any], *, status: str, reason: str) -> dict[str, Any]:
    """A dispute (chargeback) of the whole charge `paid`."""
    made = example("dispute")
    made.update(
        id=object_id,
        created=now(),
        amount=paid["amount"],
        charge=paid["id"],
        currency=paid["currency"],
        payment_intent=paid.get("payment_intent"),
        reason=reason,
        status=status,
        metadata={},
        livemode=False,
    )
    return made


def proration_line(
    object_id: str,
    *,
    amount: int,
    currency: str,
    description: str,
    price_object: dict[str, Any],
    start: int,
    end: int,
    subscription_id: str,
    item_id: str,
) -> dict[str, Any]:
    """One proration line of an upcoming invoice (as API version 2025-02-24 shows it)."""
    made = example("line_item")
    made.update(
        id=object_id,
        amount=amount,
        currency=currency,
        description=description,
        period={"start": start, "end": end},
        price=price_object,
        proration=True,
        subscription=subscription_id,
        subscription_item=item_id,
        type="invoiceitem",
        invoice=None,
        metadata={},
    )
    return made


def upcoming_invoice(
    sub: dict[str, Any], lines: list[dict[str, Any]], currency: str
) -> dict[str, Any]:
    """The upcoming invoice of `sub`: a preview, with no id (it does not exist yet)."""
    made = example("invoice")
    total = sum(int(line["amount"]) for line in lines)
    made.update(
        customer=sub.get("customer"),
        subscription=sub["id"],
        currency=currency,
        amount_due=max(total, 0),
        amount_paid=0,
        amount_remaining=max(total, 0),
        subtotal=total,
        total=total,
        status="draft",
        created=now(),
        number=None,
        hosted_invoice_url=None,
        invoice_pdf=None,
        metadata={},
        lines={
            "object": "list",
            "data": lines,
            "has_more": False,
            "url": f"/v1/invoices/upcoming/lines?subscription={sub['id']}",
        },
    )
    made.pop("id", None)
    return made


def invoice(
    object_id: str,
    sub: dict[str, Any],
    *,
    status: str,
    number: str,
    payment_intent_id: str | None,
) -> dict[str, Any]:
    """A subscription's invoice for its current period, in the current API's shape: the
    subscription under `parent.subscription_details`, its payment under `payments`."""
    made = example("invoice")
    item = sub["items"]["data"][0]
    price_object = item["price"]
    amount = int(price_object.get("unit_amount") or 0)
    start, end = item["current_period_start"], item["current_period_end"]
    line = example("line_item")
    line.update(
        id=f"il_{object_id[3:]}",
        invoice=object_id,
        amount=amount,
        currency=price_object["currency"],
        description=f"1 x {price_object.get('product')} (at {amount / 100:.2f} / month)",
        period={"start": start, "end": end},
        metadata=dict(sub.get("metadata") or {}),
    )
    made.update(
        id=object_id,
        created=now(),
        customer=sub.get("customer"),
        currency=price_object["currency"],
        amount_due=amount,
        amount_paid=amount if status == "paid" else 0,
        amount_remaining=0 if status == "paid" else amount,
        subtotal=amount,
        total=amount,
        status=status,
        number=number,
        billing_reason="subscription_cycle",
        hosted_invoice_url=f"https://invoice.stripe.com/i/acct_standin/{object_id}",
        invoice_pdf=f"https://pay.stripe.com/invoice/acct_standin/{object_id}/pdf",
        metadata={},
        period_start=start,
        period_end=end,
        parent={
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(sub.get("metadata") or {}),
                "subscription": sub["id"],
            },
        },
        lines={"object": "list", "data": [line], "has_more": False, "url": ""},
        payments={
            "object": "list",
            "data": (
                [
                    {
                        **example("invoice_payment"),
                        "id": f"inpay_{object_id[3:]}",
                        "invoice": object_id,
                        "amount_paid": amount if status == "paid" else None,
                        "amount_requested": amount,
                        "currency": price_object["currency"],
                        "status": "paid" if status == "paid" else "open",
                        "payment": {"type": "payment_intent", "payment_intent": payment_intent_id},
                    }
                ]
                if payment_intent_id
                else []
            ),
            "has_more": False,
            "url": "",
        },
    )
    made.pop("subscription", None)
    return made
