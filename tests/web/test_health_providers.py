"""/health, the provider list and the internal-token guard."""

from __future__ import annotations

from tests.support.api import Api


async def test_health_reports_database_and_version(api: Api) -> None:
    reply = await api.get("/health", token=None)
    assert reply.status == 200
    assert reply.body == {"status": "ok", "database": "ok", "version": "0.1.0"}


async def test_providers_lists_stripe_as_default(api: Api) -> None:
    reply = await api.get("/internal/payments/providers")
    assert reply.status == 200
    assert reply.body == {
        "data": [
            {
                "key": "stripe",
                "plugin": "stripe",
                "displayName": "Stripe",
                "default": True,
                "configured": False,
                "capabilities": [
                    "checkout.subscription",
                    "checkout.payment",
                    "webhooks",
                    "subscription.cancel",
                    "subscription.resume",
                    "subscription.change",
                    "portal",
                    "refund",
                    "invoices",
                    "disputes",
                ],
            }
        ]
    }


async def test_provider_configured_once_its_secret_is_set(make_app) -> None:
    api = Api(await make_app(STRIPE_SECRET_KEY="sk_test_x"), "test-internal-token")
    reply = await api.get("/internal/payments/providers")
    assert reply.body["data"][0]["configured"] is True


async def test_two_accounts_of_one_provider_side_by_side(make_app) -> None:
    plugins = """
[providers.stripe]
plugin = "stripe"
secret_key = "sk_test_a"

[providers.stripe_eu]
plugin = "stripe"
default = true
secret_key = "sk_test_eu"
"""
    api = Api(await make_app(plugins), "test-internal-token")
    reply = await api.get("/internal/payments/providers")
    assert [(p["key"], p["plugin"], p["default"], p["configured"]) for p in reply.body["data"]] == [
        ("stripe", "stripe", False, True),
        ("stripe_eu", "stripe", True, True),
    ]


async def test_an_unconfigured_default_falls_back_to_a_configured_provider(make_app) -> None:
    plugins = """
[providers.stripe]
plugin = "stripe"
default = true

[providers.stripe_b]
plugin = "stripe"
secret_key = "sk_test_b"
"""
    api = Api(await make_app(plugins), "test-internal-token")
    reply = await api.get("/internal/payments/providers")
    assert [(p["key"], p["default"]) for p in reply.body["data"]] == [
        ("stripe", False),
        ("stripe_b", True),
    ]


async def test_missing_and_wrong_token_get_the_same_401(api: Api) -> None:
    missing = await api.get("/internal/payments/providers", token=None)
    wrong = await api.get("/internal/payments/providers", token="nope")
    assert missing.status == wrong.status == 401
    assert (
        missing.body
        == wrong.body
        == {
            "statusCode": 401,
            "error": "Unauthorized",
            "message": "missing or invalid internal token",
            "code": "unauthorized",
        }
    )


async def test_unknown_internal_route_needs_the_token_before_saying_404(api: Api) -> None:
    assert (await api.get("/internal/payments/nothing-here", token=None)).status == 401
    reply = await api.get("/internal/payments/nothing-here")
    assert reply.status == 404
    assert reply.body["code"] == "route_not_found"
