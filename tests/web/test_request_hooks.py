"""The app-level request hooks are the ones the fast paths below Quart are known to match.

`web.fast_plan_status` and `web.fast_webhooks` answer some requests without Quart, so no
Quart hook runs for them. They do themselves what these hooks do (the token check through
`web.auth.token_matches`, the input guard's limits, the request metrics through
`web.metrics.request_meters`). A hook added later would be skipped for those requests
unnoticed: this test names every hook, so adding one means deciding what the fast paths do.
"""

from __future__ import annotations

from collections.abc import Callable

from core.config import Settings
from web.app import create_app

KNOWN_BEFORE = [
    "install_token_guard.<locals>.require_internal_token",
    "install_input_guard.<locals>.check_input",
    "install_request_metrics.<locals>.start_timer",
]
KNOWN_AFTER = ["install_request_metrics.<locals>.record"]


def test_the_request_hooks_are_the_ones_the_fast_paths_match(
    make_settings: Callable[..., Settings],
) -> None:
    app = create_app(make_settings(), connect_database=False)
    before = {
        key: [f.__qualname__ for f in funcs] for key, funcs in app.before_request_funcs.items()
    }
    after = {key: [f.__qualname__ for f in funcs] for key, funcs in app.after_request_funcs.items()}
    assert before == {None: KNOWN_BEFORE}, "a new before-request hook: see this module's docstring"
    assert after == {None: KNOWN_AFTER}, "a new after-request hook: see this module's docstring"
    assert not any(app.teardown_request_funcs.values())
    assert not any(app.url_value_preprocessors.values())
