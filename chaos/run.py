"""`make chaos`: a storm of signed Stripe webhooks at 2 `serve` and 2 `worker` processes on
PostgreSQL, with kill -9 of servers and workers at random moments, dropped database
connections and a consumer that fails at random; then the promises are checked.

1. **Nothing is lost**: every event a server acknowledged (2xx) is stored, and every
   normalized event reached the consumer at least once.
2. **Nothing is applied twice or backwards**: every record equals the stand-in Stripe's final
   object, although events came twice, as concurrent copies and reordered (within a window),
   and no event is stored twice.

Events are sent as Stripe sends them: each until a server acknowledges it (another server,
after a pause, when one is down). Figures are printed at the end; exit 1 if a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.processes import base_env, payments
from chaos.consumer import FlakyConsumer
from chaos.fleet import Member, fleet, wait_up
from tests.support import stripe_events
from tests.support.stripe_standin.plugins_toml import SECRET_KEY
from tests.support.stripe_standin.server import StripeStandIn

DATABASE = "postgres://postgres@127.0.0.1:5432/payments_chaos"
TOKEN = "chaos-internal-token-0123456789abcdef"
SECRET = "whsec_chaos"
PLUGINS = """
[providers.stripe]
plugin = "stripe"
default = true
secret_key = "{secret_key}"
webhook_secrets = "{secret}"
api_base = "{api}"
request_timeout = 2.0
retry_initial_delay = 0.05

[consumers.funnel]
plugin = "funnel"
events_url = "{consumer}"
token = "{token}"
"""


@dataclass
class Figures:
    tenants: int = 0
    events: int = 0
    posts: int = 0
    duplicates: int = 0
    concurrent: int = 0
    refused_posts: int = 0
    kills: dict[str, int] = field(default_factory=dict)
    dropped_connections: int = 0
    acknowledged: set[str] = field(default_factory=set)
    answers: Counter[int] = field(default_factory=Counter)
    """Each post's HTTP status (0: no answer: the server was down or killed mid-request)."""
    failures: list[str] = field(default_factory=list)


class Storm:
    def __init__(self, args: argparse.Namespace, standin: StripeStandIn, servers: list[Member]):
        self.args = args
        self.standin = standin
        self.servers = servers
        self.random = random.Random(args.seed)
        self.figures = Figures()
        self.clock = int(time.time())
        self.http: aiohttp.ClientSession | None = None

    def _created(self) -> int:
        """Distinct, increasing event times (Stripe's are whole seconds; the storm sends many
        per second, and its reordering must be against real order, not against ties)."""
        self.clock += 1
        return self.clock

    async def _post(self, body: bytes) -> int:
        status = await self._send(body)
        self.figures.answers[status] += 1
        return status

    async def _send(self, body: bytes) -> int:
        assert self.http is not None
        server = self.random.choice(self.servers)
        headers = {
            "Stripe-Signature": stripe_events.sign(body, SECRET),
            "content-type": "application/json",
        }
        try:
            async with self.http.post(
                f"{server.url}/webhooks/stripe", data=body, headers=headers
            ) as reply:
                await reply.read()
                return reply.status
        except (TimeoutError, aiohttp.ClientError, OSError):
            return 0

    async def deliver(self, event: dict[str, Any]) -> None:
        """Post until acknowledged, as Stripe does; sometimes twice, or two copies at once."""
        body = stripe_events.encode(event)
        self.figures.events += 1
        copies = 1
        roll = self.random.random()
        if roll < self.args.concurrent:
            copies = 2
            self.figures.concurrent += 1
        for _ in range(200):
            statuses = await asyncio.gather(*(self._post(body) for _ in range(copies)))
            self.figures.posts += copies
            if any(200 <= s < 300 for s in statuses):
                self.figures.acknowledged.add(event["id"])
                break
            self.figures.refused_posts += 1
            await asyncio.sleep(0.05 + self.random.random() * 0.2)
        else:
            self.figures.failures.append(f"event {event['id']} was never acknowledged")
            return
        if self.random.random() < self.args.duplicates:
            self.figures.duplicates += 1
            await self._post(body)
            self.figures.posts += 1

    async def api(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self.http is not None
        for _ in range(200):
            server = self.random.choice(self.servers)
            try:
                async with self.http.request(
                    method,
                    f"{server.url}{path}",
                    json=body,
                    headers={"x-platform-internal-token": TOKEN, "Idempotency-Key": str(body)},
                ) as reply:
                    if reply.status < 300:
                        answer: dict[str, Any] = await reply.json()
                        return answer
                    if reply.status < 500 and reply.status != 409:
                        raise RuntimeError(f"{method} {path}: {reply.status} {await reply.text()}")
            except (TimeoutError, aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{method} {path} never succeeded")

    def _event(self, event_type: str, object_id: str) -> dict[str, Any]:
        return self.standin.event(event_type, object_id, created=self._created())

    async def tenant(self, number: int) -> None:
        rng = random.Random(self.args.seed * 1000 + number)
        tenant = f"tenant_{number:04d}"
        one_time = rng.random() < 0.3
        opened = await self.api(
            "POST",
            "/internal/payments/checkout-sessions",
            {
                "pricingItemCode": "lifetime_addon" if one_time else "starter_month",
                "consumerKey": "funnel",
                "consumerTenantId": tenant,
                "successUrl": "https://funnel.test/ok",
                "cancelUrl": "https://funnel.test/cancel",
            },
        )
        session_id = opened["providerCheckoutSessionId"]
        session = self.standin.complete_session(session_id)
        events = [self._event("checkout.session.completed", session_id)]
        if one_time:
            if rng.random() < 0.4:
                intent = self.standin.objects[session["payment_intent"]]
                charge = self.standin.objects[intent["latest_charge"]]
                charge.update(amount_refunded=1000)
                events.append(self._event("charge.refunded", charge["id"]))
        else:
            sub_id = session["subscription"]
            sub = self.standin.objects[sub_id]
            events.insert(0, self._event("customer.subscription.created", sub_id))
            for _ in range(rng.randint(1, 4)):
                move = rng.random()
                if sub["status"] == "canceled":
                    break
                if move < 0.3:
                    sub["cancel_at_period_end"] = not sub["cancel_at_period_end"]
                elif move < 0.5:
                    sub["status"] = "past_due" if sub["status"] == "active" else "active"
                elif move < 0.7:
                    price = (
                        "price_pro"
                        if sub["items"]["data"][0]["price"]["id"] == "price_starter"
                        else "price_starter"
                    )
                    sub["items"]["data"][0]["price"] = self.standin.objects[price]
                else:
                    sub.update(
                        status="canceled", ended_at=int(time.time()), canceled_at=int(time.time())
                    )
                    events.append(self._event("customer.subscription.deleted", sub_id))
                    continue
                events.append(self._event("customer.subscription.updated", sub_id))
        # Bounded reordering: neighbours swap places, as Stripe's parallel sends do.
        for index in range(len(events) - 1):
            if rng.random() < self.args.reorder:
                events[index], events[index + 1] = events[index + 1], events[index]
        for event in events:
            await self.deliver(event)
        self.figures.tenants += 1


async def _chaos_monkey(
    storm: Storm, members: list[Member], stop: asyncio.Event, seed: int
) -> None:
    rng = random.Random(seed + 7)
    admin = await asyncpg.connect(DATABASE.rsplit("/", 1)[0] + "/postgres")
    turn: list[Member] = []
    try:
        while not stop.is_set():
            await asyncio.sleep(rng.uniform(0.5, 1.5))
            if stop.is_set():
                break
            if rng.random() < 0.35:
                dropped = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = 'payments_chaos' AND pid <> pg_backend_pid()"
                )
                storm.figures.dropped_connections += int(dropped or 0)
                continue
            if not turn:  # every member in turn, in a new random order each round
                turn = rng.sample(members, len(members))
            victim = turn.pop()
            victim.kill()
            storm.figures.kills[victim.name] = storm.figures.kills.get(victim.name, 0) + 1
            await asyncio.sleep(rng.uniform(0.1, 0.6))
            victim.start()
            await wait_up(victim)
    finally:
        await admin.close()


async def _recreate() -> None:
    admin = await asyncpg.connect(DATABASE.rsplit("/", 1)[0] + "/postgres")
    try:
        await admin.execute('DROP DATABASE IF EXISTS "payments_chaos" WITH (FORCE)')
        await admin.execute('CREATE DATABASE "payments_chaos"')
    finally:
        await admin.close()


async def _drained(seconds: float) -> bool:
    """Every delivery delivered (the flaky consumer takes retries; the schedule is short)."""
    deadline = time.monotonic() + seconds
    conn = await asyncpg.connect(DATABASE)
    try:
        while time.monotonic() < deadline:
            open_ = await conn.fetchval(
                "SELECT count(*) FROM event_deliveries WHERE status IN ('pending', 'in_flight')"
            )
            if open_ == 0:
                return True
            await asyncio.sleep(0.5)
        return False
    finally:
        await conn.close()


async def _check(storm: Storm, consumer: FlakyConsumer) -> list[str]:
    problems = list(storm.figures.failures)
    standin = storm.standin
    conn = await asyncpg.connect(DATABASE)
    try:
        stored = {
            r["provider_event_id"]
            for r in await conn.fetch("SELECT provider_event_id FROM provider_events")
        }
        lost = storm.figures.acknowledged - stored
        problems += [f"acknowledged event {e} is not stored" for e in sorted(lost)[:20]]
        twice = await conn.fetchval(
            "SELECT count(*) FROM (SELECT provider_event_id FROM provider_events "
            "GROUP BY provider_key, provider_event_id HAVING count(*) > 1) t"
        )
        if twice:
            problems.append(f"{twice} provider events stored twice")
        for row in await conn.fetch(
            "SELECT provider_subscription_id, status, cancel_at_period_end, pricing_item_code FROM subscriptions"
        ):
            remote = standin.objects[row["provider_subscription_id"]]
            price = remote["items"]["data"][0]["price"]["id"]
            expected = (
                remote["status"],
                bool(remote["cancel_at_period_end"]),
                "pro_month" if price == "price_pro" else "starter_month",
            )
            got = (row["status"], row["cancel_at_period_end"], row["pricing_item_code"])
            if got != expected:
                problems.append(
                    f"subscription {row['provider_subscription_id']}: {got} != stand-in {expected}"
                )
        for row in await conn.fetch(
            "SELECT provider_payment_id, status, amount_refunded FROM purchases"
        ):
            intent = standin.objects[row["provider_payment_id"]]
            refunded = int(standin.objects[intent["latest_charge"]]["amount_refunded"])
            wanted = ("partially_refunded" if refunded else "paid", refunded)
            kept = (row["status"], row["amount_refunded"])
            if kept != wanted:
                problems.append(f"purchase {row['provider_payment_id']}: {kept} != {wanted}")
        made = len(standin.of_type("subscription"))
        have = await conn.fetchval("SELECT count(*) FROM subscriptions")
        if have != made:
            problems.append(f"{have} subscriptions kept, the stand-in made {made}")
        events = {str(r["id"]) for r in await conn.fetch("SELECT id FROM normalized_events")}
        undelivered = events - consumer.accepted
        problems += [
            f"normalized event {e} never reached the consumer" for e in sorted(undelivered)[:20]
        ]
        storm.figures.__dict__["normalized_events"] = len(events)
    finally:
        await conn.close()
    return problems


def _report(
    storm: Storm, consumer: FlakyConsumer, storm_seconds: float, work: Path, problems: list[str]
) -> int:
    f = storm.figures
    print("chaos figures")
    print(
        f"  tenants {f.tenants}, events {f.events} ({f.posts} posts: {f.duplicates} repeated, {f.concurrent} sent as two concurrent copies, {f.refused_posts} refused or unanswered)"
    )
    answers = ", ".join(f"{code or 'none'}: {n}" for code, n in sorted(f.answers.items()))
    print(f"  webhook answers: {answers}")
    print(
        f"  kill -9: {sum(f.kills.values())} ({', '.join(f'{k} {v}' for k, v in sorted(f.kills.items()))}); database connections dropped: {f.dropped_connections}"
    )
    print(
        f"  consumer: {len(consumer.accepted)} events accepted, {consumer.refused} attempts refused, {consumer.repeats} repeats; normalized events {f.__dict__.get('normalized_events')}"
    )
    print(f"  storm {storm_seconds:.1f}s; logs in {work}")
    if problems:
        print("chaos: FAILED")
        for problem in problems[:50]:
            print(f"  {problem}")
        return 1
    print(
        "chaos: every acknowledged event applied once, every record equal to the stand-in's, every normalized event delivered"
    )
    return 0


async def main(args: argparse.Namespace) -> int:
    await _recreate()
    work = Path(tempfile.mkdtemp(prefix="payments-chaos-"))
    standin = await StripeStandIn().start()
    standin.add_price("price_starter", 1900, "eur", "month")
    standin.add_price("price_pro", 4900, "eur", "month")
    standin.add_price("price_lifetime", 4900, "eur", None)
    consumer = await FlakyConsumer(args.consumer_failures, args.seed).start()
    plugins = work / "plugins.toml"
    plugins.write_text(
        PLUGINS.format(
            secret_key=SECRET_KEY,
            secret=SECRET,
            api=standin.url,
            consumer=consumer.url,
            token=TOKEN,
        )
    )
    env = base_env(
        PAYMENTS_DATABASE_URL=DATABASE,
        PAYMENTS_INTERNAL_TOKEN=TOKEN,
        PAYMENTS_PLUGINS_FILE=str(plugins),
        PAYMENTS_DELIVERY_RETRY_SCHEDULE="0.2,0.3,0.5,0.5,1,1,1,2,2,2,2,3,3,3,3,3",
        PAYMENTS_DELIVERY_TIMEOUT="2",
        PAYMENTS_DELIVERY_LEASE="4",
        PAYMENTS_DELIVERY_POLL_INTERVAL="0.2",
        PAYMENTS_PROVIDER_READ_RETRY_SCHEDULE="0.2,0.5,1,1,2,2,3",
        PAYMENTS_LOG_LEVEL="WARNING",
    )
    migrate = await asyncio.create_subprocess_exec(
        *payments("migrate"),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
    )
    if await migrate.wait() != 0:
        print("chaos: payments migrate failed", file=sys.stderr)
        return 1
    members = fleet(env, work, servers=2, workers=2)
    for member in members:
        member.start()
    for member in members:
        await wait_up(member)
    servers = [m for m in members if m.port is not None]
    storm = Storm(args, standin, servers)
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        storm.http = http
        for body in (
            {
                "code": "starter_month",
                "name": "Starter",
                "kind": "recurring",
                "unitAmount": 1900,
                "currency": "eur",
                "interval": "month",
                "providerPrices": [{"providerKey": "stripe", "providerPriceId": "price_starter"}],
            },
            {
                "code": "pro_month",
                "name": "Pro",
                "kind": "recurring",
                "unitAmount": 4900,
                "currency": "eur",
                "interval": "month",
                "providerPrices": [{"providerKey": "stripe", "providerPriceId": "price_pro"}],
            },
            {
                "code": "lifetime_addon",
                "name": "Lifetime",
                "kind": "one_time",
                "unitAmount": 4900,
                "currency": "eur",
                "providerPrices": [{"providerKey": "stripe", "providerPriceId": "price_lifetime"}],
            },
        ):
            await storm.api("POST", "/internal/payments/pricing-items", body)
        stop = asyncio.Event()
        monkey = asyncio.create_task(_chaos_monkey(storm, members, stop, args.seed))
        queue = list(range(args.tenants))
        gate = asyncio.Semaphore(args.parallel)

        async def one(number: int) -> None:
            async with gate:
                await storm.tenant(number)

        await asyncio.gather(*(one(n) for n in queue))
        stop.set()
        await monkey
        storm_seconds = time.monotonic() - started
        for member in members:
            if member.process is None or member.process.poll() is not None:
                member.start()
                await wait_up(member)
        drained = await _drained(args.drain_timeout)
    problems = [] if drained else ["deliveries still pending after the drain timeout"]
    problems += await _check(storm, consumer)
    for member in members:
        member.stop()
    await consumer.stop()
    await standin.stop()
    return _report(storm, consumer, storm_seconds, work, problems)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaos.run", description=__doc__)
    parser.add_argument("--tenants", type=int, default=300)
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument("--duplicates", type=float, default=0.2)
    parser.add_argument("--concurrent", type=float, default=0.1)
    parser.add_argument("--reorder", type=float, default=0.3)
    parser.add_argument("--consumer-failures", type=float, default=0.2)
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(arguments())))
