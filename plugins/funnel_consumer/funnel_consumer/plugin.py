"""Registers the `funnel` consumer plugin with platform-payments."""

from __future__ import annotations

from core.consumers import ConsumerPlugin
from core.hookspecs import hookimpl
from funnel_consumer.consumer import FunnelConsumer, FunnelSettings


@hookimpl
def register_consumers() -> list[ConsumerPlugin]:
    return [ConsumerPlugin(name="funnel", settings=FunnelSettings, build=FunnelConsumer.build)]
