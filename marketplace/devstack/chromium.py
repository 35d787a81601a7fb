"""Chromium for the browser tests of the back-office: Debian's `chromium`, installed by the project itself.

Playwright's own `playwright install` downloads a browser build from a CDN, which is neither a package
registry nor reachable where the project runs: the tests drive the distribution's Chromium instead, through
`executable_path`. Where it is missing, it is installed like clamd is fetched (`clamd.py`): by the project,
from Debian's packages. Unlike clamd it can't be unpacked into a cache (it needs fonts, NSS and a sandbox
helper installed system-wide), so this is `apt-get install -y chromium`, which needs root: as another user
the browser is reported missing with the command to run.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

# Debian's wrapper script sets flags from /etc/chromium.d; the binary behind it skips a harmless warning.
_CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser")
_INSTALL_TIMEOUT = 900.0

# Headless in a container as root, on a closed network: without the background-networking flags Chromium
# keeps dialling Google's hosts and its refused connections pile up; without `--no-sandbox` it won't start
# as root; /dev/shm is small in containers.
LAUNCH_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic")


class BrowserUnavailable(RuntimeError):
    """No Chromium here and no way to install one (not root, no apt-get, no package lists, no network)."""


def find_chromium() -> str | None:
    configured = os.environ.get("MARKETPLACE_CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    for candidate in _CANDIDATES:
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


def _install() -> None:
    if shutil.which("apt-get") is None:
        raise BrowserUnavailable("Chromium is not installed and there is no apt-get to install it "
                                 "(set MARKETPLACE_CHROMIUM to a Chromium binary)")
    if os.geteuid() != 0:
        raise BrowserUnavailable("Chromium is not installed; as root run `apt-get install -y chromium` "
                                 "(or set MARKETPLACE_CHROMIUM to a Chromium binary)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
    for attempt in range(2):
        done = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"],
                              capture_output=True, text=True, env=env, timeout=_INSTALL_TIMEOUT, check=False)
        if done.returncode == 0:
            return
        if attempt == 0 and "Unable to locate package" in done.stderr + done.stdout:
            # A fresh machine has no package lists yet.
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=_INSTALL_TIMEOUT,
                           check=False)
            continue
        raise BrowserUnavailable(f"`apt-get install -y chromium` failed: {(done.stderr or done.stdout)[-500:]}")


def chromium_binary() -> str:
    """The Chromium to drive: installed, else installed now from Debian's packages (as root)."""
    found = find_chromium()
    if found:
        return found
    # One installer at a time: parallel test workers each ask for the browser, and apt-get holds dpkg's lock.
    with open(Path(tempfile.gettempdir()) / "marketplace-chromium-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not find_chromium():
            _install()
    found = find_chromium()
    if not found:
        raise BrowserUnavailable("`apt-get install chromium` succeeded but no chromium binary was found")
    return found


def main() -> None:
    """`python -m marketplace.devstack.chromium`: install it if missing and say where it is."""
    print(chromium_binary())


if __name__ == "__main__":
    main()
