"""A real browser for the back-office's tests: Debian's Chromium driven by Playwright, against a live server.

- The browser is Debian's `chromium`, installed by the project itself when missing (marketplace/devstack/
  chromium.py, as root with apt-get), never `playwright install` (a CDN download). Where neither Playwright nor a
  Chromium can be had, the browser tests are skipped with the reason, except under CI=true, where they fail:
  CI runs where both can be installed, and a skip there would hide the whole browser walk.
- One browser for the session, in a thread of its own (`BrowserThread.run`): Playwright's sync API keeps an event
  loop running in the thread that started it, and the test session's fixtures call `asyncio.run()` in the main
  thread (tests/conftest.py), which refuses to start beside a running loop.
- The live server is granian on a free port of 127.0.0.1, with the test session's real services and database,
  as `marketplace serve` runs it. Its cookies stay `Secure`: Chromium keeps Secure cookies of http://localhost.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from marketplace.devstack._proc import free_port, terminate
from marketplace.devstack.chromium import LAUNCH_ARGS, BrowserUnavailable, chromium_binary
from marketplace.devstack.htmx import HtmxUnavailable, fetch
from marketplace.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SCREENS = ROOT / ".artefacts" / "screens"  # ignored by git: test artefacts, looked at, never committed
T = TypeVar("T")


def _ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    if _ci():
        pytest.fail(f"CI=true and no browser for the UI tests: {reason}")
    pytest.skip(f"no browser for the UI tests: {reason}")


class BrowserThread:
    """Playwright and one Chromium, owned by one thread; `run(fn)` calls `fn(browser)` there."""

    def __init__(self, executable: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="playwright")
        self._pool.submit(self._start, executable).result()

    def _start(self, executable: str) -> None:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self.browser = self._playwright.chromium.launch(executable_path=executable, args=list(LAUNCH_ARGS),
                                                        headless=True)

    def run(self, fn: Callable[[Any], T]) -> T:
        return self._pool.submit(fn, self.browser).result()

    def close(self) -> None:
        def stop() -> None:
            self.browser.close()
            self._playwright.stop()

        self._pool.submit(stop).result()
        self._pool.shutdown()


@pytest.fixture(scope="session")
def chromium() -> Iterator[BrowserThread]:
    try:
        import axe_playwright_python  # noqa: F401
        import playwright  # noqa: F401
    except ImportError as exc:
        unavailable(f"{exc.name} is not installed (dev dependencies: playwright, axe-playwright-python)")
    try:
        executable = chromium_binary()
    except BrowserUnavailable as exc:
        unavailable(str(exc))
    thread = BrowserThread(executable)
    try:
        yield thread
    finally:
        thread.close()


@pytest.fixture(scope="session")
def live_server(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app under granian on a free port, on the test session's services and database; its base URL."""
    try:
        fetch()  # htmx, as `./run` fetches it: the pages load it from the app
    except HtmxUnavailable as exc:
        unavailable(str(exc))
    port = free_port()
    log = tmp_path_factory.mktemp("live-server") / "granian.log"
    granian = Path(sys.executable).parent / "granian"
    env = {**os.environ, **settings.to_env(), "PYTHONPATH": str(ROOT)}
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(granian), "--interface", "asgi", "--factory", "--host", "127.0.0.1",
                                 "--port", str(port), "--workers", "1", "--no-ws", "--log-level", "warning",
                                 "marketplace.app:create_app"], env=env, stdout=out, stderr=out,
                                cwd=ROOT, start_new_session=True)
    base = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the live server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield base
    finally:
        terminate(proc, grace=10)


# Keyboard helpers shared by the browser tests: a person with the keyboard alone, and what Chromium does.


def is_focused(page: Any, selector: str) -> bool:
    script = "s => { const e = document.querySelector(s); return !!e && e === document.activeElement }"
    return bool(page.evaluate(script, selector))


def tab_to(page: Any, selector: str, *, back: bool = False, limit: int = 250) -> None:
    """Tab (or Shift+Tab) until the element `selector` names has the focus; fails if the keyboard never gets there
    (an unreachable control, or a trap that keeps the focus elsewhere)."""
    for _ in range(limit):
        if is_focused(page, selector):
            # Where the focus is shows (a ring drawn by :focus-visible), or a person would not know.
            assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none", \
                f"{selector} has the focus but shows no focus ring"
            return
        page.keyboard.press("Shift+Tab" if back else "Tab")
    raise AssertionError(f"{selector} never took the focus by {'Shift+Tab' if back else 'Tab'}; the focus is on "
                         f"{page.evaluate('document.activeElement.outerHTML.slice(0, 200)')}")


def choose_file(page: Any, selector: str, path: Path) -> None:
    """The file field `selector` focused, Space opens the chooser; the file is the chooser's answer. Chromium now and
    then lets a keypress pass without a dialog, more often on a loaded machine: a person presses again, Space or
    Enter (both open a file field), so does the test, up to three times; the focus must not have moved."""
    tab_to(page, selector)
    keys = ("Space", "Enter", "Space")
    for attempt, key in enumerate(keys):
        try:
            with page.expect_file_chooser(timeout=8000) as chooser:
                page.keyboard.press(key)
            break
        except Exception:
            if attempt == len(keys) - 1:
                raise
            assert is_focused(page, selector), f"the focus left {selector}"
    chooser.value.set_files(str(path))
    assert page.evaluate("document.activeElement.files.length") == 1, selector


def screenshot(page: Any, name: str) -> Path:
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def serious_violations(page: Any) -> list[str]:
    """axe-core (bundled with axe-playwright-python, offline) on the page: its serious and critical violations."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
