"""A stateful stand-in for Stripe's API that the real stripe SDK talks to over HTTP.

Every request is decoded from Stripe's form encoding and checked against Stripe's own
OpenAPI description (`/work/shared/stripe/spec3.json`); answers are built from Stripe's
example objects (`fixtures3.json`) with the request's values filled in.
"""

from tests.support.stripe_standin.server import Injection, Recorded, StripeStandIn

__all__ = ["Injection", "Recorded", "StripeStandIn"]
