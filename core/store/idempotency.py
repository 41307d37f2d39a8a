"""`Idempotency-Key` for POSTs that create things: replay the first answer, refuse a reuse.

The first successful (2xx) response to a (route, key) pair is stored with a hash of the
request body. The same key with the same body gets that response again, byte for byte;
with another body it gets 409 `idempotency_key_reused`. Errors are not stored, so a
caller may fix a bad request and retry under the same key. When `atomic` is set, the
work and the stored response commit together, and a request that loses a race to its
twin replays the winner's answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from core.errors import Conflict, FieldProblem, ValidationFailed
from core.models import IdempotencyKey
from core.store.unit_of_work import unit_of_work

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: Any
    replayed: bool = False


def request_hash(payload: Any) -> str:
    """A hash of the request body that ignores key order and whitespace."""
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _replay(stored: IdempotencyKey, digest: str) -> StoredResponse:
    if stored.request_hash != digest:
        raise Conflict(
            "this Idempotency-Key was already used with a different request body",
            code="idempotency_key_reused",
        )
    return StoredResponse(stored.status_code, orjson.loads(stored.response_body), replayed=True)


async def idempotent(
    scope: str,
    key: str | None,
    payload: Any,
    work: Callable[[], Awaitable[StoredResponse]],
    *,
    atomic: bool = True,
) -> StoredResponse:
    """Run `work` once per (scope, key); without a key, just run it."""
    if key is None:
        return await work()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(
            [FieldProblem("Idempotency-Key", f"must be 1 to {MAX_KEY_LENGTH} characters")]
        )
    digest = request_hash(payload)
    stored = await IdempotencyKey.get_or_none(scope=scope, key=key)
    if stored is not None:
        return _replay(stored, digest)
    try:
        if atomic:
            async with unit_of_work():
                response = await work()
                await _remember(scope, key, digest, response)
        else:
            response = await work()
            await _remember(scope, key, digest, response)
    except Exception:
        # A twin request with the same key may have won a race: answer as it did.
        stored = await IdempotencyKey.get_or_none(scope=scope, key=key)
        if stored is not None:
            return _replay(stored, digest)
        raise
    return response


async def _remember(scope: str, key: str, digest: str, response: StoredResponse) -> None:
    if not 200 <= response.status_code < 300:
        return
    await IdempotencyKey.create(
        scope=scope,
        key=key,
        request_hash=digest,
        status_code=response.status_code,
        response_body=orjson.dumps(response.body).decode(),
    )


# Retention (`core.retention`): remembered answers older than the cut, oldest first, by
# `idempotency_keys_created_idx`. A key is "expired" once it is older than the retention
# window: a client retrying a POST days later is not a retry any more.
PRUNABLE_KEYS = (
    "SELECT id FROM idempotency_keys WHERE created_at < $1 ORDER BY created_at, id LIMIT $2"
)
COUNT_PRUNABLE_KEYS = "SELECT COUNT(*) AS n FROM idempotency_keys WHERE created_at < $1"


def delete_keys(count: int) -> str:
    """Delete `count` remembered answers ($1..$count)."""
    slots = ", ".join(f"${i}" for i in range(1, count + 1))
    return f"DELETE FROM idempotency_keys WHERE id IN ({slots})"
