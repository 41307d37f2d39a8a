"""`payments worker`: the delivery dispatcher, the deferred events' safety net, the
provider-read runner and the reconcile sweep, until SIGTERM or SIGINT.

On a signal it stops claiming, lets in-flight attempts finish (bounded by the attempt
timeout), releases anything still leased, and closes the database. With
`PAYMENTS_WORKER_METRICS_PORT` it also serves its own `GET /metrics` (the same series as
`payments serve`'s, its own circuits and delivery counters) on a tiny aiohttp server.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from core.config import Settings
from core.delivery.dispatcher import Dispatcher
from core.errors import ConfigurationError
from core.gauges import refresh_gauges
from core.ingest.deferred import DeferredSweeper
from core.ingest.provider_reads import ProviderReadRunner
from core.plugins import Registry, build_plugin_manager, load_registry
from core.reconcile.sweep import ReconcileSweep
from core.store import db

log = logging.getLogger("platform_payments.delivery")


async def start_metrics_server(
    host: str, port: int, registry: Registry, dispatcher: Dispatcher | None
) -> web.AppRunner:
    """`GET /metrics` on `host:port`, gauges read at scrape time; `ConfigurationError` when
    the port is taken. Stop it with `await runner.cleanup()`."""

    async def metrics(_: web.Request) -> web.Response:
        try:
            await refresh_gauges(registry.consumers, dispatcher)
        except Exception as error:
            log.warning("metrics: gauges not refreshed: %s", error)
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as error:
        await runner.cleanup()
        if error.errno == errno.EADDRINUSE:
            raise ConfigurationError(
                f"PAYMENTS_WORKER_METRICS_PORT: port {port} is in use"
            ) from None
        raise ConfigurationError(f"PAYMENTS_WORKER_METRICS_PORT: cannot listen: {error}") from None
    return runner


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
    metrics: web.AppRunner | None = None
    try:
        if settings.worker_metrics_port is not None:
            metrics = await start_metrics_server(
                settings.host, settings.worker_metrics_port, registry, dispatcher
            )
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
        if metrics is not None:
            await metrics.cleanup()
        await registry.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await db.close()
