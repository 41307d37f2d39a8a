"""The tenant's Stripe customer: what we send to create it."""

from __future__ import annotations

from stripe.params import CustomerCreateParams

from core.providers import CheckoutRequest
from stripe_provider.metadata import CONSUMER_KEY, CONSUMER_TENANT_ID


def customer_params(request: CheckoutRequest) -> CustomerCreateParams:
    """Name, email and tenant metadata of a new customer.

    `name` is the legal name when there is one (it is what Stripe prints on invoices and
    receipts), else the tenant's display name; both are kept in metadata as well.
    """
    metadata = {
        CONSUMER_KEY: request.consumer_key,
        CONSUMER_TENANT_ID: request.consumer_tenant_id,
    }
    if request.tenant_name:
        metadata["tenantName"] = request.tenant_name
    if request.legal_name:
        metadata["legalName"] = request.legal_name
    params: CustomerCreateParams = {"metadata": metadata}
    name = request.legal_name or request.tenant_name
    if name:
        params["name"] = name
    if request.billing_email:
        params["email"] = request.billing_email
    return params
