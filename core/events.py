"""The normalized event vocabulary: the types a consumer can receive, and what each means.

A stable path for plugins: a consumer's configuration is checked against `EVENT_TYPES`,
and the dispatcher asks each consumer which of them it wants. Every event's `data` holds
the record named below and the `pricingItemCode` (the contract's "Events out").
"""

from __future__ import annotations

EVENT_TYPES = (
    "checkout.completed",
    "checkout.expired",
    "purchase.paid",
    "purchase.failed",
    "purchase.refunded",
    "subscription.created",
    "subscription.updated",
    "subscription.canceled",
    "subscription.payment_failed",
    "invoice.paid",
    "invoice.payment_failed",
    "dispute.opened",
    "dispute.closed",
)
"""Every normalized event type, in the contract's order: `checkout.*` carry `checkoutSession`,
`purchase.*` carry `purchase`, `subscription.*` carry `subscription`, `invoice.*` carry
`invoice`, `dispute.*` carry `dispute`."""
