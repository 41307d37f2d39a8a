"""The settings of one Stripe provider key, as `[providers.<key>]` in plugins.toml gives them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class StripeSettings(BaseModel):
    """`[providers.<key>]` with `plugin = "stripe"` in plugins.toml."""

    model_config = ConfigDict(extra="forbid")

    secret_key: str | None = None
    """`STRIPE_SECRET_KEY`; unset: the provider is listed but not configured."""
    webhook_secrets: list[str] = []
    """`STRIPE_WEBHOOK_SECRET`, comma-separated: every secret is tried (rotation)."""
    api_base: str | None = None
    """`STRIPE_API_BASE`: aim the SDK at a stand-in Stripe (tests, local stacks)."""
    webhook_tolerance: int = Field(default=300, ge=1)
    """Seconds a webhook's signed timestamp may be old."""
    price_sync: bool = False
    """Create a Stripe Product and Price for items that have none."""
    request_timeout: float = Field(default=20.0, gt=0, le=120)
    """Seconds one HTTP request to Stripe may take before it is abandoned."""
    max_network_retries: int = Field(default=2, ge=0, le=10)
    """Retries of a request that failed to connect or was rate limited (429)."""
    retry_initial_delay: float = Field(default=0.5, ge=0, le=30)
    """Seconds before the first retry; doubled for each next one (with jitter), capped at 8 s."""

    @field_validator("webhook_secrets", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("secret_key", "api_base", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value
