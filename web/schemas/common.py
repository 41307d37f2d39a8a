"""Shared schema pieces: camelCase models, the error body, list envelopes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown request fields are ignored,
    as the NestJS original ignored them, so existing callers keep working."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class RequestBody(ApiModel):
    """A JSON request body: strict types, so `"19.00"` is not quietly taken as 19 minor units."""

    model_config = ConfigDict(strict=True)


class ErrorDetail(ApiModel):
    field: str
    message: str


class ErrorBody(ApiModel):
    """Every error: NestJS's `statusCode`/`error`/`message`, plus a stable machine `code`."""

    status_code: int = Field(examples=[404])
    error: str = Field(examples=["Not Found"])
    message: str = Field(examples=["pricing item 'gold' not found"])
    code: str = Field(examples=["pricing_item_not_found"])
    details: list[ErrorDetail] | None = None


class ListQuery(ApiModel):
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class ListEnvelope(ApiModel):
    data: list[Any]
    next_cursor: str | None
