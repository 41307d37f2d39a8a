"""A consumer that fails at random, and remembers every event it accepted."""

from __future__ import annotations

import random
import socket

from aiohttp import web


class FlakyConsumer:
    """`POST /events`: 500 for a `fail_rate` share of requests, else 200 and the event's
    `webhook-id` is kept (a consumer dedupes on it; a repeat is counted, not an error)."""

    def __init__(self, fail_rate: float, seed: int) -> None:
        self.fail_rate = fail_rate
        self.random = random.Random(seed)
        self.accepted: set[str] = set()
        self.repeats = 0
        self.refused = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _events(self, request: web.Request) -> web.Response:
        await request.read()
        if self.random.random() < self.fail_rate:
            self.refused += 1
            return web.json_response({"error": "flaky"}, status=500)
        event_id = request.headers.get("webhook-id", "")
        if event_id in self.accepted:
            self.repeats += 1
        self.accepted.add(event_id)
        return web.json_response({"ok": True})

    async def start(self) -> FlakyConsumer:
        app = web.Application()
        app.router.add_post("/events", self._events)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, listener).start()
        self.url = f"http://127.0.0.1:{listener.getsockname()[1]}/events"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
