"""Shared schema pieces: camelCase models, the error body, list envelopes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
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


ASCII_WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")
"""A query-string integer as callers write one. Python's `int()` (and pydantic's lax mode)
also takes '١٢' (Arabic-Indic digits), '+5', ' 5' and '5_0', which no caller means."""


def query_int(value: object) -> object:
    """A query parameter's text as an int when it is ASCII digits only; else a ValueError."""
    if isinstance(value, str):
        if not ASCII_WHOLE_NUMBER.fullmatch(value):
            raise ValueError("must be a whole number written with the digits 0-9 only")
        return int(value)
    return value


QueryInt = Annotated[int, BeforeValidator(query_int)]
"""An integer query parameter: ASCII digits only, then the field's own bounds."""


def iso_moment(value: object) -> object:
    """An ISO-8601 moment (`2026-11-27T10:00:00Z`, a date, an offset); without an offset,
    UTC. Anything else (a Unix number, words) is a ValueError."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                "must be an ISO-8601 date and time, e.g. 2026-11-27T10:00:00Z"
            ) from None
    else:
        raise ValueError("must be an ISO-8601 date and time, e.g. 2026-11-27T10:00:00Z")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


IsoMoment = Annotated[datetime, BeforeValidator(iso_moment)]
"""A moment a caller writes in ISO-8601 (query string or JSON body)."""


class ListQuery(ApiModel):
    limit: QueryInt = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class ListEnvelope(ApiModel):
    data: list[Any]
    next_cursor: str | None
