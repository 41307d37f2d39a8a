"""A thin client for the app under test that sends the internal token by default."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quart import Quart

TOKEN_HEADER = "x-platform-internal-token"


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]
    raw: bytes


class Api:
    def __init__(self, app: Quart, token: str) -> None:
        self.app = app
        self.token = token
        self.client = app.test_client()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = "default",
        query: dict[str, Any] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        if token == "default":
            sent[TOKEN_HEADER] = self.token
        elif token is not None:
            sent[TOKEN_HEADER] = token
        kwargs: dict[str, Any] = {"headers": sent}
        if json is not None:
            kwargs["json"] = json
        if data is not None:
            kwargs["data"] = data
        if query is not None:
            kwargs["query_string"] = {k: v for k, v in query.items() if v is not None}
        response = await self.client.open(path, method=method, **kwargs)
        raw = await response.get_data(as_text=False)
        body = None
        if raw and response.mimetype == "application/json":
            import orjson

            body = orjson.loads(raw)
        return Reply(response.status_code, body, dict(response.headers), raw)

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("POST", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("DELETE", path, **kwargs)
