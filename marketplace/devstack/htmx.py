"""htmx for the back-office, fetched from the npm registry at set-up time with its integrity checked.

The pages load htmx from the app itself (`/app/static/vendor/htmx.min.js`), never from a CDN: the
Content-Security-Policy allows scripts from 'self' only. The file is not committed either: `./run` (and
`marketplace dev`, and the browser tests) fetch the pinned release once into the checkout's ignored
`.tools/htmx/` (outside a checkout, a user cache), like clamd (`clamd.py`).

The version AND its Subresource-Integrity hash are pinned here, the way a lock file pins them: the
registry's `dist.integrity` must equal the pinned one and the tarball must hash to it, so neither a
changed registry answer nor a corrupted download is served. To move to another 2.0.x, change both
(`npm view htmx.org@2.0.N dist.integrity`). htmx 2 only: htmx 4 swaps 4xx answers and renames headers,
and litestar-htmx predates it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

PACKAGE = "htmx.org"
VERSION = "2.0.11"
INTEGRITY = "sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA=="
# The file inside the package's tarball, and the name it is served under.
_MEMBER = "package/dist/htmx.min.js"
FILENAME = "htmx.min.js"
_TIMEOUT = 60


class HtmxUnavailable(RuntimeError):
    """The pinned htmx could not be fetched (no network, no registry) or did not match its integrity."""


def default_cache_dir() -> Path:
    """`.tools/htmx` in a source checkout (ignored by git); else a user cache."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").exists() and (checkout / "marketplace").is_dir():
        return checkout / ".tools" / "htmx"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "marketplace" / "htmx"


def assets_dir(cache_dir: Path | None = None) -> Path:
    """The directory served as `/app/static/vendor/`: the pinned version's own, so a version change refetches."""
    return (cache_dir or default_cache_dir()) / VERSION


def sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _registry() -> str:
    # npm reads its settings from npm_config_* variables, in lower case: the same mirror as npm's, if one is set.
    return os.environ.get("npm_config_registry", "https://registry.npmjs.org/").rstrip("/")  # noqa: SIM112


def _tarball_with_npm(npm: str) -> bytes:
    """`npm pack` downloads the tarball through npm's own client (proxy, registry mirror, its own check)."""
    with tempfile.TemporaryDirectory() as work:
        done = subprocess.run([npm, "pack", f"{PACKAGE}@{VERSION}", "--json", "--pack-destination", work],
                              capture_output=True, text=True, cwd=work, timeout=_TIMEOUT * 3, check=False)
        if done.returncode != 0:
            raise HtmxUnavailable(f"`npm pack {PACKAGE}@{VERSION}` failed: {done.stderr.strip()[-500:]}")
        reported = json.loads(done.stdout)[0].get("integrity")
        if reported != INTEGRITY:
            raise HtmxUnavailable(f"the registry's integrity for {PACKAGE}@{VERSION} is {reported}, "
                                  f"not the pinned {INTEGRITY}")
        return next(Path(work).glob("*.tgz")).read_bytes()


def _get(url: str) -> bytes:
    """GET over http(s) only: the URLs come from an environment variable and from the registry's answer, and
    urllib would as readily open a file:// one (a local file read, whatever its hash turns out to be)."""
    if urllib.parse.urlsplit(url).scheme not in {"https", "http"}:
        raise HtmxUnavailable(f"refused to fetch {url!r}: the registry is reached over http(s) only")
    with urllib.request.urlopen(url, timeout=_TIMEOUT) as answer:  # noqa: S310  # nosec B310  # scheme checked above
        return bytes(answer.read())


def _tarball_over_http() -> bytes:
    """The registry's own document for the version, then its tarball (no Node.js on this machine)."""
    dist = json.loads(_get(f"{_registry()}/{PACKAGE}/{VERSION}"))["dist"]
    if dist.get("integrity") != INTEGRITY:
        raise HtmxUnavailable(f"the registry's integrity for {PACKAGE}@{VERSION} is {dist.get('integrity')}, "
                              f"not the pinned {INTEGRITY}")
    return _get(dist["tarball"])


def fetch(cache_dir: Path | None = None) -> Path:
    """The path of htmx.min.js: already there and unchanged since it was unpacked, else fetched now."""
    target_dir = assets_dir(cache_dir)
    target = target_dir / FILENAME
    # The pinned tarball's integrity, then the unpacked file's own: a file edited by hand is fetched again.
    marker = target_dir / "integrity.txt"
    if target.exists() and marker.exists() and marker.read_text().split() == [INTEGRITY, sri(target.read_bytes())]:
        return target
    npm = shutil.which("npm")
    try:
        tarball = _tarball_with_npm(npm) if npm else _tarball_over_http()
    except (OSError, ValueError, KeyError, IndexError, StopIteration, subprocess.SubprocessError) as exc:
        raise HtmxUnavailable(f"could not fetch {PACKAGE}@{VERSION} from the npm registry: {exc}") from exc
    if sri(tarball) != INTEGRITY:
        raise HtmxUnavailable(f"the {PACKAGE}@{VERSION} tarball hashes to {sri(tarball)}, not the pinned "
                              f"{INTEGRITY}: refused")
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile(_MEMBER)
        if member is None:
            raise HtmxUnavailable(f"{PACKAGE}@{VERSION} holds no {_MEMBER}")
        script = member.read()
    target_dir.mkdir(parents=True, exist_ok=True)
    # Written aside then renamed: a concurrent fetch or an interrupted one never leaves half a file served.
    staging = target_dir / f".{FILENAME}.{os.getpid()}"
    staging.write_bytes(script)
    staging.replace(target)
    marker.write_text(f"{INTEGRITY}\n{sri(script)}\n")
    return target


def file_integrity(directory: Path) -> str:
    """The served file's own SRI hash (the second line of the marker `fetch` wrote), for the <script> tag."""
    lines = (directory / "integrity.txt").read_text().split()
    return lines[1] if len(lines) > 1 else sri((directory / FILENAME).read_bytes())


def main() -> None:
    """`python -m marketplace.devstack.htmx [--quiet]`: fetch it if missing (what `./run` does)."""
    try:
        path = fetch()
    except HtmxUnavailable as exc:
        print(f"htmx: {exc} (the back-office works without it, only less quickly)", file=sys.stderr)
        raise SystemExit(1) from exc
    if "--quiet" not in sys.argv:
        print(path)


if __name__ == "__main__":
    main()
