"""The pricing-items API: create, list with filters, public projection, patch, archive."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api

BASE = "/internal/payments/pricing-items"


def starter(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": "starter_month",
        "name": "Starter",
        "description": "For small teams",
        "kind": "recurring",
        "unitAmount": 1900,
        "currency": "eur",
        "interval": "month",
        "public": True,
        "sortOrder": 10,
        "features": {"funnels": 5},
        "metadata": {"tier": "1"},
    }
    body.update(overrides)
    return body


def lifetime(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": "lifetime_addon",
        "name": "Lifetime add-on",
        "kind": "one_time",
        "unitAmount": 4900,
        "currency": "eur",
        "features": {"exports": True},
    }
    body.update(overrides)
    return body


async def test_create_returns_the_whole_item(api: Api) -> None:
    reply = await api.post(
        BASE,
        json=starter(
            providerPrices=[
                {
                    "providerKey": "stripe",
                    "providerPriceId": "price_1",
                    "providerProductId": "prod_1",
                }
            ]
        ),
    )
    assert reply.status == 201
    item = reply.body
    assert item["code"] == "starter_month"
    assert item["kind"] == "recurring"
    assert item["unitAmount"] == 1900
    assert item["currency"] == "eur"
    assert item["interval"] == "month"
    assert item["intervalCount"] == 1
    assert item["trialDays"] == 0
    assert item["active"] is True
    assert item["public"] is True
    assert item["features"] == {"funnels": 5}
    assert item["metadata"] == {"tier": "1"}
    assert item["providerPrices"] == [
        {"providerKey": "stripe", "providerPriceId": "price_1", "providerProductId": "prod_1"}
    ]
    assert item["archivedAt"] is None
    assert item["createdAt"].endswith("Z")


async def test_currency_is_stored_lowercase(api: Api) -> None:
    reply = await api.post(BASE, json=starter(currency="EUR"))
    assert reply.body["currency"] == "eur"


async def test_code_taken_is_409_even_when_archived(api: Api) -> None:
    assert (await api.post(BASE, json=starter())).status == 201
    again = await api.post(BASE, json=starter(name="Other"))
    assert again.status == 409
    assert again.body["code"] == "pricing_item_code_taken"
    await api.delete(f"{BASE}/starter_month")
    assert (await api.post(BASE, json=starter())).body["code"] == "pricing_item_code_taken"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (starter(interval=None), "interval"),
        (lifetime(interval="month"), "interval"),
        (lifetime(trialDays=7), "trialDays"),
        (starter(kind="forever"), "kind"),
        (starter(unitAmount=-1), "unitAmount"),
        (starter(unitAmount="19.00"), "unitAmount"),
        (starter(currency="euro"), "currency"),
        (starter(currency="e1r"), "currency"),
        (starter(code="has space"), "code"),
        (starter(code=""), "code"),
        (starter(name=""), "name"),
        (starter(interval="fortnight"), "interval"),
        (
            starter(providerPrices=[{"providerKey": "paypal", "providerPriceId": "p"}]),
            "providerPrices[0].providerKey",
        ),
        ({"name": "No code"}, "code"),
    ],
)
async def test_invalid_fields_are_400_with_details(
    api: Api, body: dict[str, Any], field: str
) -> None:
    reply = await api.post(BASE, json=body)
    assert reply.status == 400, reply.body
    assert reply.body["code"] == "validation_failed"
    assert reply.body["statusCode"] == 400
    assert reply.body["error"] == "Bad Request"
    assert field in [d["field"] for d in reply.body["details"]]
    assert (await api.get(BASE)).body["data"] == []


async def test_body_that_is_not_an_object_is_400(api: Api) -> None:
    reply = await api.post(BASE, json=[1, 2])
    assert reply.status == 400
    assert reply.body["code"] == "validation_failed"


async def test_malformed_json_and_wrong_content_type(api: Api) -> None:
    bad = await api.post(BASE, data="{nope", headers={"content-type": "application/json"})
    assert bad.status == 400
    assert bad.body["code"] == "invalid_json"
    form = await api.post(
        BASE, data="code=x", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert form.status == 415
    assert form.body["code"] == "unsupported_media_type"


async def test_list_filters(api: Api) -> None:
    await api.post(
        BASE, json=starter(providerPrices=[{"providerKey": "stripe", "providerPriceId": "price_s"}])
    )
    await api.post(BASE, json=lifetime())
    await api.post(BASE, json=starter(code="old_plan", active=False))
    await api.post(BASE, json=starter(code="gone"))
    await api.delete(f"{BASE}/gone")

    async def codes(**query: Any) -> list[str]:
        reply = await api.get(BASE, query=query)
        assert reply.status == 200
        return sorted(item["code"] for item in reply.body["data"])

    assert await codes() == ["lifetime_addon", "old_plan", "starter_month"]
    assert await codes(includeArchived="true") == [
        "gone",
        "lifetime_addon",
        "old_plan",
        "starter_month",
    ]
    assert await codes(active="true") == ["lifetime_addon", "starter_month"]
    assert await codes(active="false") == ["old_plan"]
    assert await codes(kind="one_time") == ["lifetime_addon"]
    assert await codes(providerKey="stripe") == ["starter_month"]
    bad = await api.get(BASE, query={"kind": "weird"})
    assert bad.status == 400
    assert bad.body["code"] == "validation_failed"
    assert bad.body["details"][0]["field"] == "kind"


async def test_list_is_newest_first_and_paginates_every_row_once(api: Api) -> None:
    for number in range(7):
        await api.post(BASE, json=starter(code=f"plan_{number}"))
    seen: list[str] = []
    cursor = None
    while True:
        reply = await api.get(BASE, query={"limit": 3, "cursor": cursor})
        assert reply.status == 200
        seen += [item["code"] for item in reply.body["data"]]
        cursor = reply.body["nextCursor"]
        if cursor is None:
            break
    assert seen == [f"plan_{n}" for n in reversed(range(7))]


async def test_limit_and_cursor_are_validated(api: Api) -> None:
    for query in ({"limit": 0}, {"limit": 201}, {"limit": "x"}, {"cursor": "garbage!"}):
        reply = await api.get(BASE, query=query)
        assert reply.status == 400, query
        assert reply.body["code"] == "validation_failed"


async def test_public_projection_order_and_filter(api: Api) -> None:
    await api.post(BASE, json=starter(code="pro", unitAmount=4900, sortOrder=20))
    await api.post(BASE, json=starter(code="basic", unitAmount=900, sortOrder=10))
    await api.post(BASE, json=starter(code="basic_plus", unitAmount=1200, sortOrder=10))
    await api.post(BASE, json=starter(code="hidden", public=False))
    await api.post(BASE, json=starter(code="paused", active=False, sortOrder=0))
    reply = await api.get("/internal/payments/public/pricing-items")
    assert reply.status == 200
    assert [i["code"] for i in reply.body["data"]] == ["paused", "basic", "basic_plus", "pro"]
    first = reply.body["data"][1]
    assert "providerPrices" not in first
    assert "metadata" not in first
    assert first["features"] == {"funnels": 5}
    active = await api.get("/internal/payments/public/pricing-items", query={"active": "true"})
    assert [i["code"] for i in active.body["data"]] == ["basic", "basic_plus", "pro"]
    paged = await api.get("/internal/payments/public/pricing-items", query={"limit": 2})
    rest = await api.get(
        "/internal/payments/public/pricing-items",
        query={"limit": 2, "cursor": paged.body["nextCursor"]},
    )
    assert [i["code"] for i in paged.body["data"] + rest.body["data"]] == [
        "paused",
        "basic",
        "basic_plus",
        "pro",
    ]


async def test_patch_by_id_or_code(api: Api) -> None:
    created = (await api.post(BASE, json=starter())).body
    by_id = await api.patch(
        f"{BASE}/{created['id']}", json={"name": "Starter+", "features": {"funnels": 10}}
    )
    assert by_id.status == 200
    assert by_id.body["name"] == "Starter+"
    assert by_id.body["features"] == {"funnels": 10}
    assert by_id.body["description"] == "For small teams"
    by_code = await api.patch(f"{BASE}/starter_month", json={"description": None, "sortOrder": 3})
    assert by_code.body["description"] is None
    assert by_code.body["sortOrder"] == 3
    assert by_code.body["updatedAt"] >= created["updatedAt"]


async def test_patch_errors_change_nothing(api: Api) -> None:
    await api.post(BASE, json=starter())
    assert (await api.patch(f"{BASE}/missing", json={"name": "x"})).body[
        "code"
    ] == "pricing_item_not_found"
    renamed = await api.patch(f"{BASE}/starter_month", json={"code": "other"})
    assert renamed.status == 400
    assert renamed.body["details"][0]["field"] == "code"
    to_one_time_with_interval = await api.patch(
        f"{BASE}/starter_month", json={"kind": "one_time", "interval": "month"}
    )
    assert to_one_time_with_interval.status == 400
    wrong_type = await api.patch(f"{BASE}/starter_month", json={"unitAmount": "lots"})
    assert wrong_type.status == 400
    item = (await api.get(BASE)).body["data"][0]
    assert (item["code"], item["kind"], item["unitAmount"]) == ("starter_month", "recurring", 1900)


async def test_changing_the_price_drops_stale_provider_prices(api: Api) -> None:
    await api.post(
        BASE,
        json=starter(providerPrices=[{"providerKey": "stripe", "providerPriceId": "price_old"}]),
    )
    renamed = await api.patch(f"{BASE}/starter_month", json={"name": "Renamed"})
    assert renamed.body["providerPrices"][0]["providerPriceId"] == "price_old"
    repriced = await api.patch(f"{BASE}/starter_month", json={"unitAmount": 2900})
    assert repriced.body["providerPrices"] == []
    with_new = await api.patch(
        f"{BASE}/starter_month",
        json={
            "unitAmount": 3900,
            "providerPrices": [{"providerKey": "stripe", "providerPriceId": "price_new"}],
        },
    )
    assert with_new.body["providerPrices"][0]["providerPriceId"] == "price_new"


async def test_a_provider_price_belongs_to_one_item(api: Api) -> None:
    price = [{"providerKey": "stripe", "providerPriceId": "price_shared"}]
    await api.post(BASE, json=starter(providerPrices=price))
    reply = await api.post(BASE, json=lifetime(providerPrices=price))
    assert reply.status == 409
    assert reply.body["code"] == "provider_price_taken"
    assert [i["code"] for i in (await api.get(BASE)).body["data"]] == ["starter_month"]


async def test_delete_archives_and_keeps_history(api: Api) -> None:
    await api.post(BASE, json=starter())
    reply = await api.delete(f"{BASE}/starter_month")
    assert reply.status == 204
    assert reply.raw == b""
    archived = (await api.get(BASE, query={"includeArchived": "true"})).body["data"][0]
    assert archived["active"] is False
    assert archived["archivedAt"] is not None
    again = await api.delete(f"{BASE}/starter_month")
    assert again.status == 204
    assert (await api.get(BASE, query={"includeArchived": "true"})).body["data"][0][
        "archivedAt"
    ] == archived["archivedAt"]
    assert (await api.delete(f"{BASE}/nothing")).status == 404
    restored = await api.patch(f"{BASE}/starter_month", json={"active": True})
    assert restored.body["archivedAt"] is None
    assert restored.body["active"] is True


async def test_idempotency_key_replays_and_refuses_reuse(api: Api) -> None:
    headers = {"Idempotency-Key": "create-starter-1"}
    first = await api.post(BASE, json=starter(), headers=headers)
    assert first.status == 201
    replay = await api.post(BASE, json=starter(), headers=headers)
    assert replay.status == 201
    assert replay.body == first.body
    reordered = dict(reversed(list(starter().items())))
    assert (await api.post(BASE, json=reordered, headers=headers)).body == first.body
    reused = await api.post(BASE, json=starter(name="Different"), headers=headers)
    assert reused.status == 409
    assert reused.body["code"] == "idempotency_key_reused"
    assert len((await api.get(BASE)).body["data"]) == 1


async def test_failed_request_does_not_burn_its_idempotency_key(api: Api) -> None:
    headers = {"Idempotency-Key": "k2"}
    bad = await api.post(BASE, json=starter(unitAmount=-5), headers=headers)
    assert bad.status == 400
    good = await api.post(BASE, json=starter(unitAmount=5), headers=headers)
    assert good.status == 201


async def test_idempotency_key_too_long_is_400(api: Api) -> None:
    reply = await api.post(BASE, json=starter(), headers={"Idempotency-Key": "k" * 300})
    assert reply.status == 400
    assert reply.body["code"] == "validation_failed"
