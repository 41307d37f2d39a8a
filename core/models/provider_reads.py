"""Reads from a provider that must happen off the request path, kept as durable tasks."""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class ProviderRead(Model):
    """One object to read back from a provider and apply through the webhook path.

    Written in the transaction that learned of the object (a completed subscription checkout
    whose subscription is not known yet), so the task exists exactly when that change
    committed; unique per (provider key, kind, object id), so asking twice asks once.
    A runner claims it under a lease (`lease_owner`, `lease_expires_at`; `due_at` moves to
    the lease's end, so a runner that dies leaves it due again), and it ends `done`, or
    `failed` after its last attempt.
    """

    id = fields.UUIDField(primary_key=True)
    provider_key = fields.CharField(max_length=40)
    kind = fields.CharField(max_length=32)
    """What to read: `subscription`."""
    provider_object_id = fields.CharField(max_length=255)
    status = fields.CharField(max_length=16, default="pending")
    """pending | done | failed"""
    due_at = fields.DatetimeField()
    attempts = fields.IntField(default=0)
    last_error = fields.TextField(null=True)
    lease_owner = fields.CharField(max_length=128, null=True)
    lease_expires_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "provider_reads"
        unique_together = (("provider_key", "kind", "provider_object_id"),)
        indexes = (Index(fields=("status", "due_at"), name="provider_reads_due_idx"),)
