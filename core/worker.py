"""`payments worker`: the delivery dispatcher, the deferred events' safety net, the
provider-read runner and the reconcile sweep, until SIGTERM or SIGINT.

On a signal it stops claiming, lets in-flight attempts finish (bounded by the attempt
timeout), releases anything still leased, and closes the database.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from core.config import Settings
from core.delivery.dispatcher import Dispatcher
from core.ingest.deferred import DeferredSweeper
from core.ingest.provider_reads import ProviderReadRunner
from core.plugins import build_plugin_manager, load_registry
from core.reconcile.sweep import ReconcileSweep
from core.store import db

log = logging.getLogger("platform_payments.delivery")


async def run_worker(settings: Settings) -> None:
    """Serve deliveries until a stop signal; `ConfigurationError` on bad configuration."""
    registry = load_registry(settings, build_plugin_manager())
    await db.connect(settings.database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    dispatcher = Dispatcher(settings, registry.consumers)
    sweeper = DeferredSweeper(registry, settings.deferred_ttl_hours)
    reads = ProviderReadRunner(settings, registry)
    reconcile_sweep = ReconcileSweep(settings.reconcile_interval)
    try:
        await registry.start()
        await dispatcher.start()
        await reads.start()
        sweeper.start()
        reconcile_sweep.start()
        log.info("worker ready (consumers: %s)", ", ".join(registry.consumers) or "none")
        await stop.wait()
        log.info("worker stopping")
        await reconcile_sweep.stop()
        await sweeper.stop()
        await reads.stop()
        await dispatcher.stop()
    finally:
        await registry.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await db.close()
