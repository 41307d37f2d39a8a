"""Stored provider events: the list filters and the answers (an event, with its payload)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from web.schemas.common import ApiModel, IsoMoment, ListQuery

ProviderEventStatus = Literal["processed", "ignored", "deferred", "unmatched"]
ReplayOutcome = Literal["applied", "unchanged", "waiting"]


class ProviderEventQuery(ListQuery):
    provider_key: str | None = Field(default=None, max_length=40)
    type: str | None = Field(default=None, max_length=120)
    status: ProviderEventStatus | None = None
    since: IsoMoment | None = None
    """Received at or after this moment."""


class ProviderEventOut(ApiModel):
    id: str
    provider_key: str
    provider_event_id: str
    type: str
    api_version: str | None
    status: ProviderEventStatus
    event_created_at: str
    received_at: str
    processed_at: str | None
    waits_for: dict[str, str] | None
    """What a deferred or unmatched event waits for (kind: provider id); null otherwise."""


class ProviderEventDetailOut(ProviderEventOut):
    payload: dict[str, Any] | None
    """The provider's raw event as stored, parsed back (null once pruned)."""


class ProviderEventReplayOut(ProviderEventOut):
    replay: ReplayOutcome
    """applied (it is processed now), unchanged (already applied, or nothing to apply:
    changed nothing, emitted nothing), waiting (its tenant is still unknown)."""


class ProviderEventList(ApiModel):
    data: list[ProviderEventOut]
    next_cursor: str | None
