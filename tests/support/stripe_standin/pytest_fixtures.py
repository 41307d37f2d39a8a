"""pytest fixtures around the stand-in Stripe, and an app wired to it.

A test module loads them with
`pytest_plugins = ["tests.support.stripe_standin.pytest_fixtures"]`. At teardown,
`stripe_standin` fails the test if any request the plugin sent was refused by Stripe's
schema.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.stripe_standin.plugins_toml import stripe_plugins
from tests.support.stripe_standin.server import StripeStandIn

TOKEN = "test-internal-token"


@pytest.fixture
async def stripe_standin() -> AsyncIterator[StripeStandIn]:
    standin = await StripeStandIn().start()
    yield standin
    await standin.stop()
    if standin.invalid:
        refused = "\n".join(
            f"  {r.method.upper()} {r.path}: {'; '.join(r.problems)}" for r in standin.invalid
        )
        pytest.fail(f"the Stripe stand-in refused requests:\n{refused}")


@pytest.fixture
async def checkout_app(
    make_app: Callable[..., Any], stripe_standin: StripeStandIn
) -> Callable[..., Any]:
    """Build an app (an `Api`) whose Stripe provider talks to the stand-in."""

    async def build(plugins: str | None = None, **settings: Any) -> Api:
        app = await make_app(plugins or stripe_plugins(stripe_standin, **settings))
        return Api(app, TOKEN)

    return build
