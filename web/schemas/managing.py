"""Managing what was bought: the action bodies and their answers."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from web.schemas.checkout import MAX_URL, checked_url
from web.schemas.common import ApiModel, ListQuery, RequestBody

Proration = Literal["create_prorations", "none", "always_invoice"]
InvoiceStatus = Literal["draft", "open", "paid", "void", "uncollectible"]
DisputeStatus = Literal["needs_response", "under_review", "won", "lost", "warning_closed"]


class ConsumerScoped(RequestBody):
    consumer_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="The caller's consumer: another consumer's record is a 404, never a change.",
    )


class CancelBody(ConsumerScoped):
    at_period_end: bool = Field(
        default=True,
        description="true: cancels when the period ends (entitled until then); false: now.",
    )


class ResumeBody(ConsumerScoped):
    pass


class ChangeBody(ConsumerScoped):
    pricing_item_code: str = Field(min_length=1, max_length=64, examples=["pro_month"])
    proration: Proration = "create_prorations"
    preview: bool = Field(default=False, description="true: only what it would cost; no change.")


class PreviewLineOut(ApiModel):
    description: str
    amount: int


class ChangePreviewOut(ApiModel):
    amount_due: int
    currency: str
    proration_date: str
    lines: list[PreviewLineOut]


class PortalSessionCreate(RequestBody):
    provider_key: str | None = Field(default=None, min_length=1, max_length=40)
    consumer_key: str = Field(min_length=1, max_length=64, examples=["funnel"])
    consumer_tenant_id: str = Field(min_length=1, max_length=255, examples=["tenant_123"])
    return_url: str = Field(
        min_length=1, max_length=MAX_URL, examples=["http://funnel.cs.lvh.me:8080/#/billing"]
    )

    @field_validator("return_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return checked_url(value)


class PortalSessionOut(ApiModel):
    url: str
    provider_key: str
    expires_at: str | None


class RefundBody(ConsumerScoped):
    amount: int | None = Field(
        default=None, gt=0, le=2**53, description="Minor units; left out: all that is left."
    )
    reason: Literal["requested_by_customer", "duplicate", "fraudulent"] | None = None


class InvoiceQuery(ListQuery):
    consumer_key: str | None = Field(default=None, max_length=64)
    consumer_tenant_id: str | None = Field(default=None, max_length=255)
    subscription_id: str | None = Field(default=None, max_length=255)
    status: InvoiceStatus | None = None


class DisputeQuery(ListQuery):
    consumer_key: str | None = Field(default=None, max_length=64)
    consumer_tenant_id: str | None = Field(default=None, max_length=255)
    status: DisputeStatus | None = None


class InvoiceOut(ApiModel):
    id: str
    provider_key: str
    provider_invoice_id: str
    subscription_id: str | None
    consumer_key: str
    consumer_tenant_id: str
    number: str | None
    status: InvoiceStatus
    amount_due: int
    amount_paid: int
    currency: str
    period_start: str | None
    period_end: str | None
    hosted_invoice_url: str | None
    invoice_pdf_url: str | None
    created_at: str
    updated_at: str


class DisputeOut(ApiModel):
    id: str
    provider_key: str
    provider_dispute_id: str
    purchase_id: str | None
    subscription_id: str | None
    consumer_key: str
    consumer_tenant_id: str
    amount: int
    currency: str
    reason: str | None
    status: DisputeStatus
    created_at: str
    updated_at: str


class InvoiceList(ApiModel):
    data: list[InvoiceOut]
    next_cursor: str | None


class DisputeList(ApiModel):
    data: list[DisputeOut]
    next_cursor: str | None
