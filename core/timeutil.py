"""One clock and one timestamp format for the whole service (ISO-8601, UTC, `Z`)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def isoformat(value: datetime | None) -> str | None:
    """`2026-11-27T10:00:00.000Z`: UTC with milliseconds, as the NestJS original rendered dates."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    elif value.utcoffset():
        value = value.astimezone(UTC)
    # isoformat() is about twice as fast as strftime, and this runs for every timestamp we send.
    return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def from_unix(seconds: int | float | None) -> datetime | None:
    """A provider's unix timestamp as an aware UTC datetime (None stays None)."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC)
