"""The stand-in Stripe server: state, idempotency, request checks and injected failures.

It answers the calls the Stripe plugin makes (customers, products, prices, checkout
sessions, reading back sessions, subscriptions and payment intents, and managing what was
bought: subscription updates and cancels, the upcoming invoice of a change, billing portal
sessions and refunds); test helpers make what Stripe does on its own (a dispute, an
invoice) and the signed events about any stored object. Every request
is recorded; a request whose parameters Stripe's schema rejects is answered with
Stripe's 400 and also kept in `invalid`, which the pytest fixture turns into a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import itertools
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from tests.support import stripe_events
from tests.support.stripe_standin import objects
from tests.support.stripe_standin.forms import coerce, decode
from tests.support.stripe_standin.spec import spec

FailureKind = Literal["card_error", "server_error", "rate_limit", "slow", "drop", "cut"]

ERRORS: dict[str, tuple[int, dict[str, Any]]] = {
    "card_error": (
        402,
        {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "generic_decline",
            "message": "Your card was declined.",
            "doc_url": "https://stripe.com/docs/error-codes/card-declined",
        },
    ),
    "server_error": (
        500,
        {"type": "api_error", "message": "Something went wrong on Stripe's end."},
    ),
    "rate_limit": (
        429,
        {
            "type": "invalid_request_error",
            "code": "rate_limit",
            "message": "Too many requests hit the API too quickly.",
        },
    ),
}


@dataclass
class Recorded:
    """One request as the stand-in saw it, decoded and typed by Stripe's schema."""

    method: str
    path: str
    params: dict[str, Any]
    raw_body: str
    idempotency_key: str | None
    stripe_version: str | None
    status: int = 0
    problems: list[str] = field(default_factory=list)
    replayed: bool = False
    injected: str | None = None


@dataclass
class Injection:
    """Fail the next `times` requests to `method path` (a path prefix) in this way."""

    method: str
    path: str
    kind: FailureKind
    times: int = 1


Handler = Callable[[dict[str, Any], str], tuple[int, dict[str, Any]]]


def stripe_error(status: int, error: dict[str, Any]) -> web.Response:
    return web.json_response({"error": error}, status=status)


class StripeStandIn:
    """Start with `await start()`; aim the SDK at `url` (`STRIPE_API_BASE`)."""

    def __init__(self, *, slow_seconds: float = 30.0) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self.invalid: list[Recorded] = []
        self.slow_seconds = slow_seconds
        self._session_params: dict[str, dict[str, Any]] = {}
        self.prorations: list[tuple[str, str]] = []
        """(subscription id, proration_behavior) of every price change, in order."""
        self._idempotent: dict[str, tuple[str, int, dict[str, Any]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._injections: list[Injection] = []
        self._release = asyncio.Event()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._handlers: dict[tuple[str, str], Handler] = {
            ("post", "/v1/customers"): self._create_customer,
            ("get", "/v1/customers/{customer}"): self._retrieve("customer"),
            ("post", "/v1/products"): self._create_product,
            ("post", "/v1/prices"): self._create_price,
            ("post", "/v1/checkout/sessions"): self._create_session,
            ("get", "/v1/checkout/sessions/{session}"): self._retrieve("checkout.session"),
            ("get", "/v1/subscriptions/{subscription_exposed_id}"): self._retrieve("subscription"),
            ("get", "/v1/payment_intents/{intent}"): self._retrieve("payment_intent"),
            ("post", "/v1/subscriptions/{subscription_exposed_id}"): self._update_subscription,
            ("delete", "/v1/subscriptions/{subscription_exposed_id}"): self._cancel_subscription,
            ("get", "/v1/invoices/upcoming"): self._upcoming_invoice,
            ("post", "/v1/billing_portal/sessions"): self._create_portal_session,
            ("post", "/v1/refunds"): self._create_refund,
        }

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> StripeStandIn:
        spec()  # index the spec before the first request, once per session
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        site = web.SockSite(self._runner, listener)
        await site.start()
        port = listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- what tests use ----------------------------------------------------------------

    def inject(self, method: str, path: str, kind: FailureKind, times: int = 1) -> None:
        """Make the next `times` requests to `method path...` fail as `kind`."""
        self._injections.append(Injection(method.lower(), path, kind, times))

    def release_slow(self) -> None:
        """Let requests held by a `slow` injection answer now (and later ones pass at once)."""
        self._release.set()

    def of_type(self, name: str) -> list[dict[str, Any]]:
        """Every stored object of that type (`customer`, `checkout.session`, ...)."""
        return [o for o in self.objects.values() if o.get("object") == name]

    def requests_to(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method.lower() and r.path == path]

    def complete_session(
        self, session_id: str, *, payment_status: str = "paid", status: str | None = None
    ) -> dict[str, Any]:
        """A buyer paid: the session completes with a new subscription or payment intent."""
        session = self.objects[session_id]
        params = self._session_params[session_id]
        if session["mode"] == "subscription":
            price_id = params["line_items"][0]["price"]
            trial = (params.get("subscription_data") or {}).get("trial_period_days")
            sub_id = self._new_id("sub")
            self.objects[sub_id] = objects.subscription(
                sub_id,
                session,
                params,
                self.objects.get(price_id),
                status or ("trialing" if trial else "active"),
            )
            session["subscription"] = sub_id
        else:
            pi_id = self._new_id("pi")
            intent = objects.payment_intent(
                pi_id,
                session,
                params,
                status or ("succeeded" if payment_status == "paid" else "processing"),
            )
            if intent["status"] == "succeeded":
                paid = objects.charge(self._new_id("ch"), intent)
                self.objects[paid["id"]] = paid
                intent["latest_charge"] = paid["id"]
            self.objects[pi_id] = intent
            session["payment_intent"] = pi_id
        session.update(status="complete", payment_status=payment_status)
        return session

    def delete_customer(self, customer_id: str) -> None:
        """Someone deleted the customer in Stripe's dashboard."""
        del self.objects[customer_id]

    def expire_session(self, session_id: str) -> dict[str, Any]:
        session = self.objects[session_id]
        session.update(status="expired")
        return session

    def add_price(
        self, price_id: str, unit_amount: int, currency: str, interval: str | None
    ) -> None:
        """A price that exists at Stripe already (as a pricing item refers to it)."""
        params: dict[str, Any] = {
            "product": "prod_existing",
            "unit_amount": unit_amount,
            "currency": currency,
        }
        if interval:
            params["recurring"] = {"interval": interval}
        self.objects[price_id] = objects.price(price_id, params)

    # -- handlers ---------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_standin{next(self._ids):06d}"

    def _create_customer(self, params: dict[str, Any], _: str) -> tuple[int, dict[str, Any]]:
        made = objects.customer(self._new_id("cus"), params)
        self.objects[made["id"]] = made
        return 200, made

    def _create_product(self, params: dict[str, Any], _: str) -> tuple[int, dict[str, Any]]:
        made = objects.product(self._new_id("prod"), params)
        self.objects[made["id"]] = made
        return 200, made

    def _create_price(self, params: dict[str, Any], _: str) -> tuple[int, dict[str, Any]]:
        if params["product"] not in self.objects:
            return _missing("product", params["product"], "product")
        made = objects.price(self._new_id("price"), params)
        self.objects[made["id"]] = made
        return 200, made

    def _create_session(self, params: dict[str, Any], _: str) -> tuple[int, dict[str, Any]]:
        customer = params.get("customer")
        if customer and customer not in self.objects:
            return _missing("customer", customer, "customer")
        prices = {}
        for line in params.get("line_items") or []:
            found = self.objects.get(line.get("price", ""))
            if found is None:
                return _missing("price", line.get("price", ""), "line_items[0][price]")
            prices[found["id"]] = found
        refused = _mode_problem(params, list(prices.values()))
        if refused:
            return 400, {"error": {"type": "invalid_request_error", "message": refused}}
        made = objects.checkout_session(self._new_id("cs_test"), params, prices)
        self.objects[made["id"]] = made
        self._session_params[made["id"]] = params
        return 200, made

    def _retrieve(self, kind: str) -> Handler:
        def retrieve(params: dict[str, Any], path: str) -> tuple[int, dict[str, Any]]:
            object_id = path.rsplit("/", 1)[-1]
            found = self.objects.get(object_id)
            if found is None or found.get("object") != kind:
                return _missing(kind, object_id, "id")
            return 200, self._expanded(found, params.get("expand"))

        return retrieve

    def _expanded(self, found: dict[str, Any], expand: Any) -> dict[str, Any]:
        """The object with the top-level references `expand` names replaced by the objects
        (the SDK sends `expand[0]=latest_charge`, decoded as a dict keyed by index)."""
        names = list(expand.values()) if isinstance(expand, dict) else list(expand or [])
        answer = dict(found)
        for name in names:
            reference = answer.get(name)
            if isinstance(reference, str) and reference in self.objects:
                answer[name] = self.objects[reference]
        return answer

    # -- managing what was bought ----------------------------------------------------

    def _subscription_of(self, path: str) -> dict[str, Any] | None:
        found = self.objects.get(path.rsplit("/", 1)[-1])
        return found if found is not None and found.get("object") == "subscription" else None

    def _update_subscription(self, params: dict[str, Any], path: str) -> tuple[int, dict[str, Any]]:
        """Cancel at period end (or undo it), move an item to another price, merge metadata.

        Like Stripe: asking to cancel at the period's end sets `cancel_at` to the period's
        end and `canceled_at` to now; undoing it clears both. A canceled subscription only
        takes metadata (and cancellation details).
        """
        sub = self._subscription_of(path)
        if sub is None:
            return _missing("subscription", path.rsplit("/", 1)[-1], "subscription_exposed_id")
        if sub["status"] == "canceled" and set(params) - {"metadata", "cancellation_details"}:
            return _invalid_request(
                "A canceled subscription can only update its cancellation_details and metadata."
            )
        items = {item["id"]: item for item in sub["items"]["data"]}
        changes: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for wanted in params.get("items") or []:
            item = items.get(wanted.get("id", ""))
            if item is None:
                return _invalid_request(
                    f"No such subscription item: '{wanted.get('id')}'", param="items[0][id]"
                )
            found = self.objects.get(wanted.get("price", ""))
            if found is None or found.get("object") != "price":
                return _missing("price", wanted.get("price", ""), "items[0][price]")
            if not found.get("recurring"):
                return _invalid_request(
                    "The price specified is set to `type=one_time` but this field only "
                    "accepts prices with `type=recurring`.",
                    param="items[0][price]",
                )
            changes.append((item, found))
        for item, found in changes:
            item["price"] = found
            if "plan" in item:
                item["plan"] = {**item["plan"], "id": found["id"], "amount": found["unit_amount"]}
        if "cancel_at_period_end" in params:
            pending = bool(params["cancel_at_period_end"])
            period_end = sub["items"]["data"][0]["current_period_end"]
            sub.update(
                cancel_at_period_end=pending,
                cancel_at=period_end if pending else None,
                canceled_at=objects.now() if pending else None,
            )
        if "metadata" in params:
            sub["metadata"] = _merged(sub.get("metadata") or {}, params["metadata"])
        if params.get("proration_behavior"):
            self.prorations.append((sub["id"], str(params["proration_behavior"])))
        return 200, self._expanded(sub, params.get("expand"))

    def _cancel_subscription(self, params: dict[str, Any], path: str) -> tuple[int, dict[str, Any]]:
        """Cancel now: `canceled` at once, ended now. Cancelling it again is refused (the
        stand-in's wording: Stripe's own for this case is not documented)."""
        sub = self._subscription_of(path)
        if sub is None:
            return _missing("subscription", path.rsplit("/", 1)[-1], "subscription_exposed_id")
        if sub["status"] == "canceled":
            return _invalid_request(f"The subscription {sub['id']} has already been canceled.")
        moment = objects.now()
        sub.update(
            status="canceled",
            canceled_at=sub.get("canceled_at") or moment,
            ended_at=moment,
            cancel_at=None,
        )
        return 200, self._expanded(sub, params.get("expand"))

    def _upcoming_invoice(self, params: dict[str, Any], _: str) -> tuple[int, dict[str, Any]]:
        """A proration preview of moving the subscription's item to another price.

        With `create_prorations` or `always_invoice`: a credit for the unused time of the
        old price and a charge for the new price over the rest of the period, `amount_due`
        their sum (never below 0: a credit goes to the customer's balance). With `none`:
        no lines, nothing due now.
        """
        sub = self.objects.get(str(params.get("subscription", "")))
        if sub is None or sub.get("object") != "subscription":
            return _missing("subscription", str(params.get("subscription")), "subscription")
        customer = params.get("customer")
        if customer is not None and customer != sub.get("customer"):
            return _invalid_request(
                f"The subscription {sub['id']} does not belong to customer {customer}."
            )
        items = params.get("subscription_items") or {}
        wanted = items.get("0") if isinstance(items, dict) else None
        item = sub["items"]["data"][0]
        if not isinstance(wanted, dict) or wanted.get("id") != item["id"]:
            return _invalid_request("subscription_items[0][id] must name the subscription's item")
        new = self.objects.get(str(wanted.get("price", "")))
        if new is None or new.get("object") != "price":
            return _missing("price", str(wanted.get("price")), "subscription_items[0][price]")
        old = item["price"]
        behavior = params.get("subscription_proration_behavior", "create_prorations")
        start, end = int(item["current_period_start"]), int(item["current_period_end"])
        moment = int(params.get("subscription_proration_date") or objects.now())
        lines: list[dict[str, Any]] = []
        if behavior != "none" and start <= moment < end:
            share = (end - moment) / (end - start)
            day = time.strftime("%d %b %Y", time.gmtime(moment))
            for amount, words, price_object in (
                (-round(int(old.get("unit_amount") or 0) * share), "Unused time on", old),
                (round(int(new.get("unit_amount") or 0) * share), "Remaining time on", new),
            ):
                lines.append(
                    objects.proration_line(
                        self._new_id("il_tmp"),
                        amount=amount,
                        currency=str(new["currency"]),
                        description=f"{words} {self._product_name(price_object)} after {day}",
                        price_object=price_object,
                        start=moment,
                        end=end,
                        subscription_id=sub["id"],
                        item_id=item["id"],
                    )
                )
        return 200, objects.upcoming_invoice(sub, lines, str(new["currency"]))

    def _product_name(self, price_object: dict[str, Any]) -> str:
        product_id = price_object.get("product")
        found = self.objects.get(product_id) if isinstance(product_id, str) else None
        return str(found["name"]) if found else str(price_object.get("nickname") or product_id)

    def _create_portal_session(self, params: dict[str, Any], _: str) -> tuple[int, dict[str, Any]]:
        customer = params["customer"]
        if self.objects.get(customer, {}).get("object") != "customer":
            return _missing("customer", customer, "customer")
        made = objects.portal_session(self._new_id("bps"), params)
        self.objects[made["id"]] = made
        return 200, made

    def _create_refund(self, params: dict[str, Any], _: str) -> tuple[int, dict[str, Any]]:
        """Refund some of a payment intent's charge (all that is left without `amount`).

        Refused as Stripe does: a charge refunded in full already, or more than is left.
        """
        paid = self._refundable_charge(params)
        if isinstance(paid, tuple):
            return paid
        left = int(paid["amount"]) - int(paid.get("amount_refunded") or 0)
        if paid.get("refunded") or left <= 0:
            return _invalid_request(
                f"Charge {paid['id']} has already been refunded.", code="charge_already_refunded"
            )
        amount = int(params.get("amount", left))
        if amount > left:
            return _invalid_request(
                f"Refund amount ({_money(amount, paid['currency'])}) is greater than unrefunded "
                f"amount on charge ({_money(left, paid['currency'])})",
                param="amount",
            )
        made = objects.refund(self._new_id("re"), params, paid, amount)
        self.objects[made["id"]] = made
        paid["amount_refunded"] = int(paid.get("amount_refunded") or 0) + amount
        paid["refunded"] = paid["amount_refunded"] >= paid["amount"]
        return 200, self._expanded(made, params.get("expand"))

    def _refundable_charge(
        self, params: dict[str, Any]
    ) -> dict[str, Any] | tuple[int, dict[str, Any]]:
        """The charge a refund is for, from its `payment_intent` or `charge`."""
        if "payment_intent" in params:
            intent = self.objects.get(params["payment_intent"])
            if intent is None or intent.get("object") != "payment_intent":
                return _missing("payment_intent", params["payment_intent"], "payment_intent")
            charge_id = intent.get("latest_charge")
            if intent.get("status") != "succeeded" or not isinstance(charge_id, str):
                return _invalid_request(
                    f"This PaymentIntent ({intent['id']}) does not have a successful charge "
                    "to refund.",
                    param="payment_intent",
                )
        elif "charge" in params:
            charge_id = params["charge"]
        else:
            return _invalid_request("One of `charge` or `payment_intent` is required.")
        paid = self.objects.get(charge_id)
        if paid is None or paid.get("object") != "charge":
            return _missing("charge", charge_id, "charge")
        return paid

    # -- what Stripe does on its own (test helpers) -------------------------------------

    def dispute(
        self,
        payment_intent_id: str,
        *,
        status: str = "needs_response",
        reason: str = "fraudulent",
    ) -> dict[str, Any]:
        """The buyer's bank disputes the intent's charge, or its dispute moves on (the one
        dispute of that charge is updated: its status and reason)."""
        intent = self.objects[payment_intent_id]
        paid = self.objects[intent["latest_charge"]]
        for found in self.of_type("dispute"):
            if found["charge"] == paid["id"]:
                found.update(status=status, reason=reason)
                return found
        made = objects.dispute(self._new_id("dp"), paid, status=status, reason=reason)
        self.objects[made["id"]] = made
        paid["disputed"] = True
        return made

    def invoice(self, subscription_id: str, *, status: str = "paid") -> dict[str, Any]:
        """The subscription's invoice for its current period (paid by a new payment intent
        and charge when `status` is paid, so its payment can be disputed)."""
        sub = self.objects[subscription_id]
        intent_id: str | None = None
        if status in ("paid", "open"):
            intent_id = self._new_id("pi")
            price_object = sub["items"]["data"][0]["price"]
            session = {
                "amount_total": price_object.get("unit_amount"),
                "currency": price_object.get("currency"),
                "customer": sub.get("customer"),
            }
            intent = objects.payment_intent(
                intent_id,
                session,
                {},
                "succeeded" if status == "paid" else "requires_payment_method",
            )
            if status == "paid":
                paid = objects.charge(self._new_id("ch"), intent)
                self.objects[paid["id"]] = paid
                intent["latest_charge"] = paid["id"]
            self.objects[intent_id] = intent
        number = f"STANDIN-{len(self.of_type('invoice')) + 1:04d}"
        made = objects.invoice(
            self._new_id("in"), sub, status=status, number=number, payment_intent_id=intent_id
        )
        self.objects[made["id"]] = made
        return made

    def event(
        self, event_type: str, object_id: str, *, created: int | None = None
    ) -> dict[str, Any]:
        """A Stripe event of that type about the stored object as it is now (a copy), for
        `tests.support.webhooks.post_event` or `stripe_events.encode` and `sign`."""
        found = copy.deepcopy(self.objects[object_id])
        return stripe_events.event(
            event_type, found, created=objects.now() if created is None else created
        )

    # -- the HTTP side ----------------------------------------------------------------

    def _take(self, method: str, path: str) -> Injection | None:
        for injection in self._injections:
            if (
                injection.times > 0
                and injection.method == method
                and path.startswith(injection.path)
            ):
                injection.times -= 1
                return injection
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method, path = request.method.lower(), request.path
        raw = (await request.read()).decode()
        record = Recorded(
            method,
            path,
            {},
            raw,
            request.headers.get("Idempotency-Key"),
            request.headers.get("Stripe-Version"),
        )
        self.requests.append(record)
        if not request.headers.get("Authorization", "").startswith("Bearer sk_"):
            record.status = 401
            return stripe_error(
                401, {"type": "invalid_request_error", "message": "Invalid API Key provided"}
            )
        found = spec().operation(method, path)
        handler = self._handlers.get((method, found.template)) if found else None
        if found is None or handler is None:
            record.problems.append(f"{method.upper()} {path} is not emulated by the stand-in")
            return self._refuse(record, 404)
        try:
            # The SDK sends a DELETE's parameters in the query string, as a GET's.
            params = decode(request.query_string if method in ("get", "delete") else raw)
        except ValueError as error:
            record.problems.append(str(error))
            return self._refuse(record, 400)
        typed = method != "get"
        record.params = coerce(params, found.body_schema, spec()) if typed else params
        record.problems.extend(found.validate(record.params))
        record.problems.extend(_version_problems(found.template, record.stripe_version))
        if record.problems:
            return self._refuse(record, 400)
        injection = self._take(method, path)
        record.injected = injection.kind if injection else None
        if injection and injection.kind in ERRORS:
            status, failure = ERRORS[injection.kind]
            record.status = status
            return stripe_error(status, failure)
        if injection and injection.kind == "slow":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), self.slow_seconds)
        status, body = await self._run(record, handler)
        record.status = status
        if injection and injection.kind == "drop":
            # The work is done and remembered, but the answer is lost on the way back.
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)
        if injection and injection.kind == "cut":
            # The work is done; the answer starts, then the connection breaks mid-body.
            payload = json.dumps(body).encode()
            response = web.StreamResponse(status=status)
            response.content_type = "application/json"
            response.content_length = len(payload)
            await response.prepare(request)
            await response.write(payload[: len(payload) // 2])
            assert request.transport is not None
            request.transport.abort()
            return response
        # Stripe marks an answer replayed from its idempotency store.
        replayed = {"Idempotent-Replayed": "true"} if record.replayed else None
        return web.json_response(body, status=status, headers=replayed)

    async def _run(self, record: Recorded, handler: Handler) -> tuple[int, dict[str, Any]]:
        """Stripe keeps idempotency keys for POST only: a GET or DELETE ignores its key."""
        key = record.idempotency_key
        if record.method != "post" or not key:
            return handler(record.params, record.path)
        digest = hashlib.sha256(
            json.dumps([record.path, record.params], sort_keys=True).encode()
        ).hexdigest()
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            stored = self._idempotent.get(key)
            if stored is not None:
                record.replayed = True
                if stored[0] != digest:
                    return 400, {
                        "error": {
                            "type": "idempotency_error",
                            "message": "Keys for idempotent requests can only be used with the "
                            "same parameters they were first used with.",
                        }
                    }
                return stored[1], stored[2]
            status, body = handler(record.params, record.path)
            self._idempotent[key] = (digest, status, json.loads(json.dumps(body)))
            return status, body

    def _refuse(self, record: Recorded, status: int) -> web.Response:
        record.status = status
        self.invalid.append(record)
        return stripe_error(
            status,
            {"type": "invalid_request_error", "message": "; ".join(record.problems)},
        )


REMOVED_IN_BASIL = frozenset({"/v1/invoices/upcoming"})
"""Endpoints Stripe removed in API version 2025-03-31.basil (`create_preview` replaced it)."""


def _version_problems(template: str, version: str | None) -> list[str]:
    """A request to a removed endpoint under a version that no longer has it."""
    if template in REMOVED_IN_BASIL and (version is None or version >= "2025-03-31"):
        return [f"{template} does not exist in API version {version}: it needs 2025-02-24 or older"]
    return []


def _invalid_request(message: str, **more: Any) -> tuple[int, dict[str, Any]]:
    return 400, {"error": {"type": "invalid_request_error", "message": message, **more}}


def _merged(current: dict[str, Any], sent: Any) -> dict[str, Any]:
    """Stripe's metadata update: the keys sent are set, an empty value unsets its key, an
    empty `metadata` unsets them all."""
    if not isinstance(sent, dict):
        return {}
    merged = dict(current)
    for key, value in sent.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _money(amount: int, currency: str) -> str:
    symbol = {"eur": "€", "usd": "$", "gbp": "£"}.get(currency.lower(), "")
    return f"{symbol}{amount / 100:.2f}" if symbol else f"{amount / 100:.2f} {currency.upper()}"


def _missing(kind: str, object_id: str, param: str) -> tuple[int, dict[str, Any]]:
    return 404, {
        "error": {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "param": param,
            "message": f"No such {kind}: '{object_id}'",
        }
    }


def _mode_problem(params: dict[str, Any], prices: list[dict[str, Any]]) -> str | None:
    """Stripe's own rules that its schema cannot express: the mode must fit the prices."""
    mode = params.get("mode")
    recurring = [p for p in prices if p.get("recurring")]
    if mode == "payment":
        if recurring:
            return "You specified `payment` mode but passed a recurring price."
        if "subscription_data" in params:
            return "You can not pass `subscription_data` in `payment` mode."
    if mode == "subscription":
        if not recurring:
            return "You must provide at least one recurring price in `subscription` mode."
        if "payment_intent_data" in params:
            return "You can not pass `payment_intent_data` in `subscription` mode."
    return None
