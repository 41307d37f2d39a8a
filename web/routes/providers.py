"""`GET /internal/payments/providers`: the enabled provider keys and what each can do."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_response, security_scheme

from core.providers import ordered_capabilities
from web.responses import json_response
from web.schemas.system import ProviderList
from web.state import state

blueprint = Blueprint("providers", __name__)


@blueprint.get("/internal/payments/providers")
@security_scheme([{"internalToken": []}])
@document_response(ProviderList, 200)
async def list_providers() -> Response:
    registry = state().registry
    return json_response(
        {
            "data": [
                {
                    "key": provider.key,
                    "plugin": provider.plugin_name,
                    "displayName": provider.display_name,
                    "default": provider.key == registry.default_provider_key,
                    "configured": provider.configured,
                    "capabilities": ordered_capabilities(provider.capabilities),
                }
                for provider in registry.providers.values()
            ]
        }
    )
