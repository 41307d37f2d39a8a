"""The `Idempotency-Key` header accepted by POST routes that create things."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class IdempotencyHeaders(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    idempotency_key: str | None = Field(
        default=None,
        alias="Idempotency-Key",
        max_length=255,
        description="Same key and body replays the first answer; another body is 409.",
    )
