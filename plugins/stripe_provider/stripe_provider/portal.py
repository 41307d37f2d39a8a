"""The Stripe billing portal: a hosted page where the tenant's customer manages its card,
sees its invoices and cancels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stripe.params.billing_portal import SessionCreateParams

from core.providers import PortalRequest, PortalSession


def portal_params(request: PortalRequest) -> SessionCreateParams:
    """The customer and where the portal's "return" link leads (the account's default
    portal configuration applies)."""
    return {"customer": request.provider_customer_id, "return_url": request.return_url}


def portal_session(data: Mapping[str, Any]) -> PortalSession:
    """Stripe's portal session has no expiry time of its own (it is short-lived and
    single-use), so `expires_at` is None."""
    return PortalSession(url=str(data["url"]), expires_at=None)
