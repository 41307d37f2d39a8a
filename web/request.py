"""The request class: JSON bodies that are not strict JSON become the contract's errors."""

from __future__ import annotations

from typing import Any, cast

from quart import Request

from core.errors import ApiError
from web.json_body import load_body

INTERNAL_PREFIX = "/internal/"
INTERNAL_MAX_BODY_BYTES = 256 * 1024
"""Every `/internal/*` route: 413 `payload_too_large` above 256 KiB (webhooks keep the app's
1 MiB, `web.app.MAX_BODY_BYTES`). No internal body comes near it: the largest, a pricing
item with its features and metadata, is a few KiB."""


class PaymentsRequest(Request):
    """Refuses a non-JSON content type (415) and any body `web.json_body` refuses (400).

    Every JSON route (quart-schema's `validate_request` included) decodes through here,
    so one decoder decides what a JSON body may contain. An `/internal/*` body is limited
    to `INTERNAL_MAX_BODY_BYTES` (a declared length over it is refused before any byte is read).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        path = args[2] if len(args) > 2 else kwargs.get("path", "")
        if isinstance(path, str) and path.startswith(INTERNAL_PREFIX):
            limit = kwargs.get("max_content_length")
            kwargs["max_content_length"] = (
                INTERNAL_MAX_BODY_BYTES if limit is None else min(limit, INTERNAL_MAX_BODY_BYTES)
            )
        super().__init__(*args, **kwargs)

    async def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        if cache and self._cached_json[silent] is not Ellipsis:
            return self._cached_json[silent]
        if not (force or self.is_json):
            if silent:
                return None
            raise ApiError(
                f"expected Content-Type application/json, got '{self.mimetype or 'none'}'",
                code="unsupported_media_type",
                status_code=415,
            )
        raw = cast(bytes, await self.get_data(cache=cache, as_text=False))
        try:
            result = load_body(raw, self.mimetype_params.get("charset"))
        except ApiError:
            if not silent:
                raise
            result = None
        if cache:
            self._cached_json[silent] = result
        return result

    def on_json_loading_failed(self, error: Exception | None) -> Any:
        raise ApiError("the request body is not valid JSON", code="invalid_json", status_code=400)
