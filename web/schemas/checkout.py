"""Checkout sessions: the create body (exactly the original's fields) and the answer."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from web.schemas.common import ApiModel, RequestBody

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_KEY = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
MAX_URL = 2048


def checked_url(value: str) -> str:
    """An absolute http(s) URL, kept byte for byte (`{CHECKOUT_SESSION_ID}` included)."""
    if value != value.strip() or any(c.isspace() for c in value):
        raise ValueError("must not contain whitespace")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http or https URL")
    return value


class CheckoutSessionCreate(RequestBody):
    """`providerKey` is optional (the default provider); the tenant's details name and
    reach the customer the provider creates for it."""

    provider_key: str | None = Field(default=None, min_length=1, max_length=40)
    pricing_item_code: str = Field(min_length=1, max_length=64, examples=["starter_month"])
    consumer_key: str = Field(min_length=1, max_length=64, pattern=_KEY, examples=["funnel"])
    consumer_tenant_id: str = Field(
        min_length=1,
        max_length=128,
        examples=["tenant_123"],
        description="At most 128 characters: with the consumer key it forms the provider's "
        "200-character client reference.",
    )
    tenant_name: str | None = Field(default=None, max_length=255, examples=["Demo"])
    legal_name: str | None = Field(default=None, max_length=255, examples=["Demo SRL"])
    billing_email: str | None = Field(
        default=None, max_length=320, examples=["billing@example.test"]
    )
    success_url: str = Field(
        min_length=1,
        max_length=MAX_URL,
        examples=[
            "http://funnel.cs.lvh.me:8080/#/pricing/complete?session_id={CHECKOUT_SESSION_ID}"
        ],
    )
    cancel_url: str = Field(
        min_length=1,
        max_length=MAX_URL,
        examples=["http://funnel.cs.lvh.me:8080/#/pricing?checkout=cancel"],
    )

    allow_additional_subscription: bool = Field(
        default=False,
        description="A tenant with a live subscription of this consumer gets 409 "
        "`subscription_exists` on a recurring checkout unless this is true (use change).",
    )
    allow_promotion_codes: bool = Field(
        default=False, description="Let the buyer enter a promotion code (providers that can)."
    )
    automatic_tax: bool = Field(
        default=False, description="Let the provider compute tax (providers that can)."
    )

    @field_validator("success_url", "cancel_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return checked_url(value)

    @field_validator("billing_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError("must be an email address")
        return value

    @field_validator("consumer_tenant_id", "pricing_item_code")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class CheckoutSessionOut(ApiModel):
    id: str
    provider_key: str
    provider_checkout_session_id: str
    url: str | None
    status: Literal["open", "complete", "expired"]
    mode: Literal["subscription", "payment"]
    payment_status: str
    pricing_item_code: str
    consumer_key: str
    consumer_tenant_id: str
    subscription_id: str | None
    purchase_id: str | None
    expires_at: str | None
    created_at: str
