"""Registers the `funnel` consumer plugin and its legacy billing import with platform-payments."""

from __future__ import annotations

import click

from core.consumers import ConsumerPlugin
from core.hookspecs import hookimpl
from funnel_consumer.consumer import FunnelConsumer, FunnelSettings


@hookimpl
def register_consumers() -> list[ConsumerPlugin]:
    return [ConsumerPlugin(name="funnel", settings=FunnelSettings, build=FunnelConsumer.build)]


@hookimpl
def register_commands(cli: click.Group) -> None:
    """`payments import funnel-billing` (the one-time legacy billing import)."""
    from funnel_consumer.importer.command import add_to

    add_to(cli)
