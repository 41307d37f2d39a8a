"""A real `payments serve` whose PostgreSQL backends are terminated while it takes requests.

Each answer during the outage is a success or the contract's 503 `database_unavailable`
with `Retry-After`, never a 500 and never a hang (every request has a client timeout);
afterwards every route answers 200 again and the refused webhooks, sent again as a
provider would, are applied. A transaction whose BEGIN failed used to keep its pooled
connection, so after a few such failures every request waited for the pool forever.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.support import stripe_events as se
from tests.support.catalog import starter_item
from tests.support.databases import recreate_postgres_database, sibling_url
from tests.support.serving import serving
from tests.support.webhooks import SECRET

pytestmark = pytest.mark.postgres_only

OUTAGE_DB = sibling_url("outage")
TOKEN = "outage-internal-token"
HEADERS = {"x-platform-internal-token": TOKEN}
T0 = 1_790_000_000
TERMINATIONS = 40
WORKERS = 4
TIMEOUT = aiohttp.ClientTimeout(total=20)
TERMINATE = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


@dataclass
class Answer:
    what: str
    status: int
    headers: dict[str, str]
    body: Any


def webhook(n: int) -> tuple[str, bytes, dict[str, str]]:
    tenant = f"tenant_{n}"
    obj = se.subscription(
        f"sub_outage_{n}",
        status="active",
        customer=f"cus_{tenant}",
        period_start=T0,
        period_end=T0 + 30 * 86400,
        metadata=se.tenant_metadata(tenant, "starter_month"),
    )
    body = se.encode(se.event("customer.subscription.created", obj, created=T0))
    headers = {"Stripe-Signature": se.sign(body, SECRET), "content-type": "application/json"}
    return f"webhook {n}", body, headers


@pytest.fixture
async def served(tmp_path: Path, clean_env: dict[str, str]) -> AsyncIterator[str]:
    await recreate_postgres_database(OUTAGE_DB)
    env = {
        **clean_env,
        "PAYMENTS_DATABASE_URL": OUTAGE_DB,
        "PAYMENTS_INTERNAL_TOKEN": TOKEN,
        "STRIPE_SECRET_KEY": "sk_test_outage",
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "STRIPE_API_BASE": "http://127.0.0.1:9",  # nothing here calls Stripe; never the internet
        "PAYMENTS_LOG_LEVEL": "WARNING",
    }
    async with serving(env, tmp_path / "serve.log") as (base, _port):
        yield base


async def send(
    http: aiohttp.ClientSession, method: str, url: str, what: str, **options: Any
) -> Answer:
    async with asyncio.timeout(TIMEOUT.total), http.request(method, url, **options) as response:
        raw = await response.read()
        kind = response.headers.get("content-type", "")
        body = await response.json() if kind.startswith("application/json") else raw
        return Answer(what, response.status, dict(response.headers), body)


def assert_success_or_unavailable(answer: Answer) -> None:
    if 200 <= answer.status < 300:
        return
    assert answer.status == 503, answer
    assert answer.headers["Content-Type"].startswith("application/json"), answer
    assert answer.body["code"] == "database_unavailable", answer
    assert answer.body["statusCode"] == 503 and answer.body["message"], answer
    assert 1 <= int(answer.headers["Retry-After"]) <= 5, answer


async def test_terminated_backends_are_503_never_500_nor_a_hang_and_serve_recovers(
    served: str,
) -> None:
    base = served
    internal = f"{base}/internal/payments"
    reads = [
        ("plan status", f"{internal}/tenants/tenant_1/plan-status?consumerKey=funnel"),
        ("plan status, any product", f"{internal}/tenants/tenant_2/plan-status"),
        ("pricing items", f"{internal}/pricing-items"),
        ("public pricing items", f"{internal}/public/pricing-items"),
    ]
    item = starter_item(public=True)
    numbers = itertools.count()
    answers: list[Answer] = []
    refused: list[int] = []
    done = asyncio.Event()

    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        created = await send(
            http, "POST", f"{internal}/pricing-items", "seed", json=item, headers=HEADERS
        )
        assert created.status == 201, created

        async def worker() -> None:
            while not done.is_set():
                n = next(numbers)
                what, body, headers = webhook(n)
                answer = await send(
                    http, "POST", f"{base}/webhooks/stripe", what, data=body, headers=headers
                )
                answers.append(answer)
                if answer.status == 503:
                    refused.append(n)
                name, url = reads[n % len(reads)]
                answers.append(await send(http, "GET", url, name, headers=HEADERS))

        admin = await asyncpg.connect(OUTAGE_DB.replace("postgres://", "postgresql://", 1))
        try:
            workers = [asyncio.create_task(worker()) for _ in range(WORKERS)]
            for _ in range(TERMINATIONS):
                await admin.execute(TERMINATE)
                await asyncio.sleep(0.05)
            done.set()
            await asyncio.gather(*workers)
        finally:
            await admin.close()

        for answer in answers:
            assert_success_or_unavailable(answer)
        assert any(a.status == 503 for a in answers), "the outage refused nothing"

        # After the outage: every route answers 200 again (a pooled connection that died
        # idle may cost one more 503 while the pool notices), and refused webhooks apply.
        for name, url in reads:
            assert (await eventually_ok(http, url, name)).status == 200
        for n in refused:
            what, body, headers = webhook(n)
            answer = await send(
                http, "POST", f"{base}/webhooks/stripe", what, data=body, headers=headers
            )
            # "duplicate": the commit reached the server before the connection dropped.
            assert answer.status == 200, answer
            assert answer.body["status"] in {"processed", "duplicate"}, answer

    stored = await asyncpg.connect(OUTAGE_DB.replace("postgres://", "postgresql://", 1))
    try:
        count = await stored.fetchval("SELECT count(*) FROM subscriptions")
    finally:
        await stored.close()
    assert count == next(numbers)


async def eventually_ok(http: aiohttp.ClientSession, url: str, what: str) -> Answer:
    answer = await send(http, "GET", url, what, headers=HEADERS)
    for _ in range(10):
        if answer.status == 200:
            return answer
        assert_success_or_unavailable(answer)
        await asyncio.sleep(0.2)
        answer = await send(http, "GET", url, what, headers=HEADERS)
    return answer
