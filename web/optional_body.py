"""A JSON body that may be left out: an action whose every field has a default.

`POST .../cancel` with no body at all means "with the defaults" (`atPeriodEnd: true`), as
a caller would expect; a body that is there is decoded and validated exactly as
`validate_request` does, and its errors are the same 400 `validation_failed`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from quart import request
from quart_schema import RequestSchemaValidationError

M = TypeVar("M", bound=BaseModel)


async def optional_body(model: type[M]) -> tuple[M, Any]:
    """The validated body (the model's defaults when there is none) and the raw payload
    (what an `Idempotency-Key` is checked against)."""
    raw = await request.get_data(cache=True, as_text=False)
    payload: Any = {} if not raw.strip() else await request.get_json()
    try:
        return model.model_validate(payload), payload
    except ValidationError as error:
        raise RequestSchemaValidationError(error) from None
