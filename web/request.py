"""The request class: JSON bodies that are not JSON become the contract's errors."""

from __future__ import annotations

from typing import Any

from quart import Request

from core.errors import ApiError


class PaymentsRequest(Request):
    """Refuses a non-JSON content type (415) and malformed JSON (400) with clear messages."""

    async def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        if not (force or self.is_json):
            if silent:
                return None
            raise ApiError(
                f"expected Content-Type application/json, got '{self.mimetype or 'none'}'",
                code="unsupported_media_type",
                status_code=415,
            )
        return await super().get_json(force=force, silent=silent, cache=cache)

    def on_json_loading_failed(self, error: Exception | None) -> Any:
        raise ApiError("the request body is not valid JSON", code="invalid_json", status_code=400)
