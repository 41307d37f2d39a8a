"""The baseline: a hello-world route on the same Quart + Hypercorn setup as `payments serve`."""

from __future__ import annotations

import sys

import orjson
from hypercorn.asyncio import serve
from quart import Quart, Response

from web.server import hypercorn_config, run

app = Quart("hello")


@app.get("/hello")
async def hello() -> Response:
    return Response(orjson.dumps({"hello": "world"}), mimetype="application/json")


if __name__ == "__main__":
    run(serve(app, hypercorn_config("127.0.0.1", int(sys.argv[1]))))
