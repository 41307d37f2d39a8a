"""The Quart application factory."""

from __future__ import annotations

import logging

import pluggy
from quart import Quart
from quart_schema import APIKeySecurityScheme, Info, QuartSchema

from core import __version__
from core.billing.plan_cache import start_plan_cache, stop_plan_cache
from core.config import Settings
from core.delivery.dispatcher import Dispatcher
from core.ingest.deferred import DeferredSweeper
from core.ingest.provider_reads import start_runner, stop_runner
from core.logs import register_env_secrets, register_secret
from core.plugins import Registry, build_plugin_manager, load_registry
from core.reconcile.sweep import ReconcileSweep
from core.store import db
from web.auth import HEADER, install_token_guard
from web.errors import install_error_handlers
from web.fast_plan_status import PlanStatusFastPath
from web.fast_webhooks import WebhookFastPath
from web.input_guard import install_input_guard
from web.metrics import blueprint as metrics_blueprint
from web.metrics import install_request_metrics
from web.openapi import PaymentsOpenAPI
from web.openapi import blueprint as docs_blueprint
from web.request import PaymentsRequest
from web.request_log import RequestLog
from web.routes import (
    billing,
    checkout,
    deliveries,
    health,
    managing,
    pricing,
    provider_events,
    providers,
    truth,
    webhooks,
)
from web.state import AppState

MAX_BODY_BYTES = 1024 * 1024  # webhooks: 413 above 1 MiB, and no caller needs more


def create_app(
    settings: Settings,
    manager: pluggy.PluginManager | None = None,
    *,
    connect_database: bool = True,
    dispatcher: bool | None = None,
    plan_cache: bool | None = None,
    fast_plan_status: bool = True,
    fast_webhooks: bool = True,
) -> Quart:
    """Build the app; plugins and `plugins.toml` are loaded now, so bad config fails here.

    With `connect_database` the app opens the database when it starts serving and closes
    it when it stops; embedders that manage the connection themselves turn it off.
    Around both, `web.request_log` gives every request its id and its log line.
    `dispatcher` runs the delivery dispatcher (and beside it the deferred events' safety net,
    `core.ingest.deferred`, and the provider-read runner, `core.ingest.provider_reads`) while serving; None means
    `settings.embedded_dispatcher` when the app manages its own connection, else off
    (tests and embedders ask for it explicitly). `fast_plan_status` answers well-formed
    plan-status reads below Quart (`web.fast_plan_status`) and `fast_webhooks` webhooks that
    ingest cleanly (`web.fast_webhooks`); tests turn them off to compare.
    """
    register_secret(settings.require_internal_token())
    register_env_secrets(settings.env)
    manager = manager or build_plugin_manager()
    registry = load_registry(settings, manager)

    app = Quart("platform-payments")
    app.request_class = PaymentsRequest
    app.config["PAYMENTS_INTERNAL_TOKEN"] = settings.internal_token
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = True
    app.extensions["payments"] = AppState(settings, manager, registry)

    QuartSchema(
        app,
        openapi_path="/openapi.json",
        redoc_ui_path=None,
        scalar_ui_path=None,
        swagger_ui_path=None,
        info=Info(title="platform-payments", version=__version__),
        openapi_provider_class=PaymentsOpenAPI,
        security_schemes={
            "internalToken": APIKeySecurityScheme(in_="header", name=HEADER),
        },
    )
    install_error_handlers(app)
    install_token_guard(app)
    install_input_guard(app)
    install_request_metrics(app)

    _register_routes(app, manager)

    if fast_webhooks:
        app.asgi_app = WebhookFastPath(  # type: ignore[method-assign]
            app, app.asgi_app, registry=registry, max_body=MAX_BODY_BYTES
        )
    if fast_plan_status:
        app.asgi_app = PlanStatusFastPath(  # type: ignore[method-assign]
            app,
            app.asgi_app,
            token=settings.internal_token,
            grace_days=settings.past_due_grace_days,
        )
    app.asgi_app = RequestLog(app.asgi_app)  # type: ignore[method-assign]

    cache_plans = (
        plan_cache if plan_cache is not None else connect_database and settings.plan_status_cache
    )
    run_dispatcher = (
        dispatcher if dispatcher is not None else connect_database and settings.embedded_dispatcher
    )

    @app.before_serving
    async def start() -> None:
        if connect_database:
            await db.connect(settings.database_url)
        if cache_plans:
            app.extensions["payments_plan_cache"] = start_plan_cache(settings.database_url)
        await registry.start()
        if run_dispatcher:
            await _start_background(app, registry, settings)

    @app.after_serving
    async def stop() -> None:
        await stop_plan_cache(app.extensions.pop("payments_plan_cache", None))
        await _stop_background(app)
        await registry.close()
        if connect_database:
            await db.close()

    logging.getLogger("platform_payments").debug(
        "app built with %d providers", len(registry.providers)
    )
    return app


def _register_routes(app: Quart, manager: pluggy.PluginManager) -> None:
    """The host's blueprints, then every plugin's (`register_routes`)."""
    for blueprint in (
        health.blueprint,
        metrics_blueprint,
        docs_blueprint,
        providers.blueprint,
        pricing.blueprint,
        checkout.blueprint,
        deliveries.blueprint,
        provider_events.blueprint,
        billing.blueprint,
        managing.blueprint,
        truth.blueprint,
        webhooks.blueprint,
    ):
        app.register_blueprint(blueprint)
    for blueprints in manager.hook.register_routes():
        for plugin_blueprint in blueprints or ():
            app.register_blueprint(plugin_blueprint)


async def _start_background(app: Quart, registry: Registry, settings: Settings) -> None:
    """What `payments worker` runs, embedded in `serve`: the delivery dispatcher, the deferred
        events' safety net and TTL (`core.ingest.deferred`), the provider-read runner, the reconcile
    sweep (`core.reconcile.sweep`)."""
    embedded = Dispatcher(settings, registry.consumers)
    app.extensions["payments_dispatcher"] = embedded
    await embedded.start()
    sweeper = DeferredSweeper(registry, settings.deferred_ttl_hours)
    app.extensions["payments_deferred_sweeper"] = sweeper
    sweeper.start()
    app.extensions["payments_provider_reads"] = await start_runner(settings, registry)
    reconcile_sweep = ReconcileSweep(settings.reconcile_interval)
    app.extensions["payments_reconcile_sweep"] = reconcile_sweep
    reconcile_sweep.start()


async def _stop_background(app: Quart) -> None:
    reconcile_sweep: ReconcileSweep | None = app.extensions.pop("payments_reconcile_sweep", None)
    if reconcile_sweep is not None:
        await reconcile_sweep.stop()
    sweeper: DeferredSweeper | None = app.extensions.pop("payments_deferred_sweeper", None)
    if sweeper is not None:
        await sweeper.stop()
    await stop_runner(app.extensions.pop("payments_provider_reads", None))
    embedded: Dispatcher | None = app.extensions.pop("payments_dispatcher", None)
    if embedded is not None:
        await embedded.stop()
