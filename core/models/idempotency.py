"""Responses remembered by `Idempotency-Key`, so a retried POST replays instead of repeating."""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class IdempotencyKey(Model):
    """The first response to a (route, key) pair and a hash of the body that produced it."""

    id = fields.IntField(primary_key=True)
    scope = fields.CharField(max_length=200)
    key = fields.CharField(max_length=255)
    request_hash = fields.CharField(max_length=64)
    status_code = fields.IntField()
    response_body = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "idempotency_keys"
        unique_together = (("scope", "key"),)
        indexes = (Index(fields=("created_at",), name="idempotency_keys_created_idx"),)
