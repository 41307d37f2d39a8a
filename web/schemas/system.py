"""Health and the provider list."""

from __future__ import annotations

from typing import Literal

from web.schemas.common import ApiModel


class HealthOut(ApiModel):
    status: Literal["ok", "error"]
    database: Literal["ok", "error"]
    version: str


class ReadyOut(ApiModel):
    status: Literal["ready", "not_ready"]
    database: Literal["ok", "error"]
    migrations: Literal["ok", "pending", "unknown"]
    pending: list[str] | None = None
    """The migrations not applied yet, when `migrations` is `pending`."""


class ProviderOut(ApiModel):
    key: str
    plugin: str
    display_name: str
    default: bool
    configured: bool
    capabilities: list[str]


class ProviderList(ApiModel):
    data: list[ProviderOut]
