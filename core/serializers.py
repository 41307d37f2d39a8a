"""Records rendered in the contract's shapes (camelCase, ISO-8601 UTC, minor units).

Used by the HTTP answers and by the normalized events sent to consumers, so a
subscription looks the same wherever a product sees it.
"""

from __future__ import annotations

from typing import Any

from core.models import (
    CheckoutSession,
    Dispute,
    Invoice,
    PricingItem,
    PricingItemProviderPrice,
    Purchase,
    Subscription,
)
from core.timeutil import isoformat


def provider_price(price: PricingItemProviderPrice) -> dict[str, Any]:
    return {
        "providerKey": price.provider_key,
        "providerPriceId": price.provider_price_id,
        "providerProductId": price.provider_product_id,
    }


def pricing_item(item: PricingItem, prices: list[PricingItemProviderPrice]) -> dict[str, Any]:
    """The full pricing item, provider references and metadata included."""
    return {
        "id": str(item.id),
        "code": item.code,
        "name": item.name,
        "description": item.description,
        "kind": item.kind,
        "unitAmount": item.unit_amount,
        "currency": item.currency,
        "interval": item.interval,
        "intervalCount": item.interval_count,
        "trialDays": item.trial_days,
        "active": item.active,
        "public": item.public,
        "sortOrder": item.sort_order,
        "features": item.features,
        "metadata": item.metadata,
        "providerPrices": [provider_price(p) for p in sorted(prices, key=lambda p: p.provider_key)],
        "createdAt": isoformat(item.created_at),
        "updatedAt": isoformat(item.updated_at),
        "archivedAt": isoformat(item.archived_at),
    }


def public_pricing_item(item: PricingItem) -> dict[str, Any]:
    """What a pricing page may show: no provider references, no metadata."""
    return {
        "id": str(item.id),
        "code": item.code,
        "name": item.name,
        "description": item.description,
        "kind": item.kind,
        "unitAmount": item.unit_amount,
        "currency": item.currency,
        "interval": item.interval,
        "intervalCount": item.interval_count,
        "trialDays": item.trial_days,
        "active": item.active,
        "sortOrder": item.sort_order,
        "features": item.features,
    }


def checkout_session(session: CheckoutSession) -> dict[str, Any]:
    return {
        "id": str(session.id),
        "providerKey": session.provider_key,
        "providerCheckoutSessionId": session.provider_checkout_session_id,
        "url": session.url,
        "status": session.status,
        "mode": session.mode,
        "paymentStatus": session.payment_status,
        "pricingItemCode": session.pricing_item_code,
        "consumerKey": session.consumer_key,
        "consumerTenantId": session.consumer_tenant_id,
        "subscriptionId": str(session.subscription_id) if session.subscription_id else None,  # type: ignore[attr-defined]
        "purchaseId": str(session.purchase_id) if session.purchase_id else None,  # type: ignore[attr-defined]
        "expiresAt": isoformat(session.expires_at),
        "createdAt": isoformat(session.created_at),
    }


def purchase(record: Purchase) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "providerKey": record.provider_key,
        "providerPaymentId": record.provider_payment_id,
        "providerCheckoutSessionId": record.provider_checkout_session_id,
        "consumerKey": record.consumer_key,
        "consumerTenantId": record.consumer_tenant_id,
        "pricingItemCode": record.pricing_item_code,
        "amount": record.amount,
        "amountRefunded": record.amount_refunded,
        "currency": record.currency,
        "status": record.status,
        "paidAt": isoformat(record.paid_at),
        "refundedAt": isoformat(record.refunded_at),
        "createdAt": isoformat(record.created_at),
        "updatedAt": isoformat(record.updated_at),
    }


def subscription(record: Subscription) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "providerKey": record.provider_key,
        "providerSubscriptionId": record.provider_subscription_id,
        "providerCustomerId": record.provider_customer_id,
        "consumerKey": record.consumer_key,
        "consumerTenantId": record.consumer_tenant_id,
        "pricingItemCode": record.pricing_item_code,
        "status": record.status,
        "currentPeriodStart": isoformat(record.current_period_start),
        "currentPeriodEnd": isoformat(record.current_period_end),
        "cancelAtPeriodEnd": record.cancel_at_period_end,
        "canceledAt": isoformat(record.canceled_at),
        "trialEnd": isoformat(record.trial_end),
        "endedAt": isoformat(record.ended_at),
        "createdAt": isoformat(record.created_at),
        "updatedAt": isoformat(record.updated_at),
    }


def invoice(record: Invoice) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "providerKey": record.provider_key,
        "providerInvoiceId": record.provider_invoice_id,
        "subscriptionId": str(record.subscription_id) if record.subscription_id else None,
        "consumerKey": record.consumer_key,
        "consumerTenantId": record.consumer_tenant_id,
        "number": record.number,
        "status": record.status,
        "amountDue": record.amount_due,
        "amountPaid": record.amount_paid,
        "currency": record.currency,
        "periodStart": isoformat(record.period_start),
        "periodEnd": isoformat(record.period_end),
        "hostedInvoiceUrl": record.hosted_invoice_url,
        "invoicePdfUrl": record.invoice_pdf_url,
        "createdAt": isoformat(record.created_at),
        "updatedAt": isoformat(record.updated_at),
    }


def dispute(record: Dispute) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "providerKey": record.provider_key,
        "providerDisputeId": record.provider_dispute_id,
        "purchaseId": str(record.purchase_id) if record.purchase_id else None,
        "subscriptionId": str(record.subscription_id) if record.subscription_id else None,
        "consumerKey": record.consumer_key,
        "consumerTenantId": record.consumer_tenant_id,
        "amount": record.amount,
        "currency": record.currency,
        "reason": record.reason,
        "status": record.status,
        "createdAt": isoformat(record.created_at),
        "updatedAt": isoformat(record.updated_at),
    }
