"""The baseline, and two reference routes, on the same Quart + Hypercorn setup as `payments serve`.

- `GET /hello`: the baseline, the ceiling our stack allows on this machine.
- `POST /echo`: reads a body (the bench posts the webhook bodies) and answers; what receiving
  a webhook costs before any work is done.
- `POST /commit` (when a database URL is given): reads the body and commits it in one
  transaction of its own over a raw asyncpg pool, the cheapest form of "acknowledged only
  once committed"; an upper bound for any webhook ingest that commits per event.
"""

from __future__ import annotations

import sys
from typing import Any

import asyncpg
import orjson
from hypercorn.asyncio import serve
from quart import Quart, Response, request

from web.server import hypercorn_config, run

app = Quart("hello")
REFERENCE_TABLE = "bench_reference_commits"
_pool: list[Any] = []


@app.get("/hello")
async def hello() -> Response:
    return Response(orjson.dumps({"hello": "world"}), mimetype="application/json")


@app.post("/echo")
async def echo() -> Response:
    await request.get_data(as_text=False)
    return Response(orjson.dumps({"received": True}), mimetype="application/json")


@app.post("/commit")
async def commit() -> Response:
    body = await request.get_data(as_text=False)
    pool: asyncpg.Pool = _pool[0]
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(f"INSERT INTO {REFERENCE_TABLE} (body) VALUES ($1)", body)
    return Response(orjson.dumps({"received": True}), mimetype="application/json")


async def _keep_session(connection: asyncpg.Connection) -> None:
    """No reset round trip on release, as the service's pool (`core.store.db`)."""


async def main(port: int, database_url: str | None) -> None:
    if database_url:
        pool = await asyncpg.create_pool(database_url, min_size=5, max_size=5, reset=_keep_session)
        await pool.execute(
            f"CREATE TABLE IF NOT EXISTS {REFERENCE_TABLE} (id bigserial PRIMARY KEY, body bytea)"
        )
        _pool.append(pool)
    await serve(app, hypercorn_config("127.0.0.1", port))


if __name__ == "__main__":
    run(main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None))
