"""One app per configuration in a test process, each test's client running it on the test's clock.

Building an app costs about a second on a 2-core machine, Litestar parsing every handler's signature, and most
tests take less than that. What a test must not share is not in the app object but in its lifespan, which each
test's client runs again: the connections, the Redis pool and the outbox relay are made at start and closed at
the end (marketplace/app.py), and the tables and Redis are emptied before every test (tests/conftest.py). The
app reads its clock from its state on every request, so each test sets its own.
"""

from __future__ import annotations

from litestar import Litestar

from marketplace.app import create_app
from marketplace.lib.clock import Clock, system_clock
from marketplace.settings import Settings

_APPS: dict[tuple[Settings, bool], Litestar] = {}


def shared_app(settings: Settings, clock: Clock | None = None, *, run_relay: bool = True) -> Litestar:
    """The process's app for these settings, now on `clock` (the system clock if none)."""
    app = _APPS.get((settings, run_relay))
    if app is None:
        app = _APPS[settings, run_relay] = create_app(settings, run_relay=run_relay)
    app.state.clock = clock or system_clock
    return app
