"""Truth: the answer of a tenant's reconcile."""

from __future__ import annotations

from pydantic import Field

from web.schemas.billing import PlanStatusOut
from web.schemas.common import ApiModel


class ReconcileQuery(ApiModel):
    consumer_key: str | None = Field(default=None, min_length=1, max_length=64)


class ReconcileError(ApiModel):
    object: str
    message: str


class ReconcileOut(ApiModel):
    checked: int
    changed: int
    missing_at_provider: list[str] = Field(
        description="Objects the provider no longer has; kept locally as they are."
    )
    errors: list[ReconcileError] = Field(
        description="Objects that could not be read (the provider down or refusing)."
    )
    plan_status: PlanStatusOut
