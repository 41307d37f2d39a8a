"""The settings of one sandbox provider key, as `[providers.<key>]` in plugins.toml gives them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEVELOPMENT_WEBHOOK_SECRET = "sbx_whsec_development_only_not_a_secret"
"""The default signing secret: the sandbox signs its own events to itself, and it never runs
in production, so a fixed value keeps a fresh clone working without configuration."""


class SandboxSettings(BaseModel):
    """`[providers.<key>]` with `plugin = "sandbox"` in plugins.toml."""

    model_config = ConfigDict(extra="forbid")

    public_url: str | None = None
    """This service's base URL as a browser and the sandbox reach it; checkout URLs and the
    webhook target are built on it. Unset: `http://localhost:<PORT>`."""
    webhook_secret: list[str] = [DEVELOPMENT_WEBHOOK_SECRET]
    """Comma-separated: the first signs, every one is accepted (rotation)."""
    webhook_tolerance: int = Field(default=300, ge=1)
    """Seconds a signed event's timestamp may be old."""
    webhook_timeout: float = Field(default=30.0, gt=0, le=300)
    """Seconds the sandbox waits for the service to answer one of its events."""
    checkout_expires_after: int = Field(default=86400, ge=60)
    """Seconds a checkout session stays open (Stripe's default: 24 hours)."""
    portal_expires_after: int = Field(default=3600, ge=60)
    """Seconds a portal session's page stays usable (Stripe's: about an hour)."""
    display_name: str = "Sandbox"

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("needs at least one secret")
        return value

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value
