"""Registers the generic `http` consumer plugin with platform-payments."""

from __future__ import annotations

from core.consumers import ConsumerPlugin
from core.hookspecs import hookimpl
from http_consumer.consumer import HttpConsumerSettings, HttpEventConsumer


@hookimpl
def register_consumers() -> list[ConsumerPlugin]:
    return [
        ConsumerPlugin(name="http", settings=HttpConsumerSettings, build=HttpEventConsumer.build)
    ]
