"""Errors a caller can cause, each with its HTTP status and a stable machine code.

The web layer renders every `ApiError` as the contract's NestJS-compatible body
(`statusCode`, `error`, `message`, `code`); core services raise them so that the
same rule ("bad input changes nothing and says why") holds whichever entry point
called the service (HTTP, CLI, a plugin).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldProblem:
    """One invalid field of a request: its camelCase path and what is wrong with it."""

    field: str
    message: str


class ApiError(Exception):
    """An error with a status code and a machine code, safe to show to the caller."""

    status_code: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: list[FieldProblem] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.details = details


class ValidationFailed(ApiError):
    """400: the request does not satisfy its schema or a domain rule on its fields."""

    status_code = 400
    code = "validation_failed"

    def __init__(self, details: list[FieldProblem], message: str | None = None) -> None:
        summary = message or "; ".join(f"{d.field}: {d.message}" for d in details)
        super().__init__(summary or "validation failed", details=details)


class Unauthorized(ApiError):
    status_code = 401
    code = "unauthorized"


class NotFound(ApiError):
    status_code = 404
    code = "not_found"


class Conflict(ApiError):
    status_code = 409
    code = "conflict"


class Unprocessable(ApiError):
    status_code = 422
    code = "unprocessable"


class CapabilityUnsupported(Unprocessable):
    """422: the provider cannot do this action (it lacks the capability)."""

    code = "capability_unsupported"


class ProviderError(ApiError):
    """502: the payment provider refused or failed; the message is the provider's own."""

    status_code = 502
    code = "provider_error"


class ProviderObjectMissing(NotFound):
    """404: the provider has no such object (deleted there, or never made): a read of it
    reports it `missing at provider` instead of failing like an outage."""

    code = "provider_object_missing"


class ProviderNotConfigured(ApiError):
    """503: the provider key exists but lacks the settings it needs to talk to its provider."""

    status_code = 503
    code = "provider_not_configured"


class ConfigurationError(Exception):
    """Bad configuration found at startup; the CLI prints it as one line and exits non-zero."""


class WebhookSignatureInvalid(ApiError):
    """400: a webhook's signature is missing, wrong or too old; nothing is stored."""

    status_code = 400
    code = "webhook_signature_invalid"


class DatabaseUnavailable(ApiError):
    """503: the database cannot be reached or dropped the connection; nothing was committed.

    The caller retries after `RETRY_AFTER` seconds (the `Retry-After` header); providers
    retry webhooks by themselves, and the event is applied then.
    """

    status_code = 503
    code = "database_unavailable"
    RETRY_AFTER = 2
