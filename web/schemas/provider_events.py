"""Stored provider events: the list filters and the answers (an event, with its payload)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from web.schemas.common import ApiModel, ListQuery

ProviderEventStatus = Literal["processed", "ignored", "deferred", "unmatched"]
ReplayOutcome = Literal["applied", "unchanged", "waiting"]


def iso_moment(value: object) -> object:
    """An ISO-8601 moment (`2026-11-27T10:00:00Z`, a date, an offset); without an offset,
    UTC. Anything else (a Unix number, words) is a ValueError."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                "must be an ISO-8601 date and time, e.g. 2026-11-27T10:00:00Z"
            ) from None
    else:
        raise ValueError("must be an ISO-8601 date and time, e.g. 2026-11-27T10:00:00Z")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


IsoMoment = Annotated[datetime, BeforeValidator(iso_moment)]
"""A moment a caller writes in ISO-8601 (query string or JSON body)."""


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
