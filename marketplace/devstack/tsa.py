"""A local RFC 3161 time-stamping authority for `marketplace dev` and the tests (G4, G14): an HTTP endpoint on
127.0.0.1 taking `application/timestamp-query` and answering `application/timestamp-reply`, signed by pyHanko's
in-process stamper (pki.py) with a TSA certificate of its own CA.

DEVELOPMENT ONLY: its CA ("DEMO TSA root — marketplace dev only") and the TSA key live unencrypted under the data
directory (`tsa/`, keys 0600), made once and reused, so tokens issued before a restart still verify. The app
verifies tokens against that CA (`MARKETPLACE_TSA_CERTIFICATE`). A deployment sets `MARKETPLACE_TSA_URL` to a
real (qualified) TSA and its certificate, and this server never runs there.

`unavailable` (tests): while set, every request is answered 503, as a TSA down would be met.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from marketplace.devstack._proc import free_port
from marketplace.devstack.pki import Identity, TimeStamper, issue

ROOT_NAME = "DEMO TSA root — marketplace dev only"
TSA_NAME = "DEMO TSA — marketplace dev only — NOT qualified"
ORGANISATION = "marketplace (development only)"
# A request larger than this is no RFC 3161 query (one holds a digest, a nonce and a few flags).
_MAX_QUERY = 8192


def _write(path: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        tsa = self.server.tsa
        length = int(self.headers.get("Content-Length") or 0)
        if tsa.unavailable:
            self._answer(503, b"unavailable", "text/plain")
            return
        if self.headers.get("Content-Type") != "application/timestamp-query" or not 0 < length <= _MAX_QUERY:
            self._answer(400, b"an application/timestamp-query is expected", "text/plain")
            return
        body = self.rfile.read(length)
        try:
            request = tsp.TimeStampReq.load(body, strict=True)
            reply = tsa.stamper().request_tsa_response(request).dump()
        except (ValueError, TypeError, KeyError):
            reply = tsp.TimeStampResp({"status": tsp.PKIStatusInfo({
                "status": tsp.PKIStatus("rejection"), "fail_info": tsp.PKIFailureInfo({"bad_data_format"})})}).dump()
        with tsa.lock:
            tsa.issued += 1
        self._answer(200, reply, "application/timestamp-reply")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line a token on stderr: nothing anyone reads


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    tsa: EmbeddedTsa


class EmbeddedTsa:
    """The local TSA of a data directory (see the module docstring)."""

    def __init__(self, data_dir: Path, *, port: int | None = None) -> None:
        self.dir = data_dir / "tsa"
        self.port = port or 0
        self.unavailable = False
        self.issued = 0
        self.lock = threading.Lock()
        self._identity: Identity | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/tsa"

    @property
    def certificate(self) -> Path:
        """The CA that issues the TSA's certificate, PEM: what `MARKETPLACE_TSA_CERTIFICATE` names."""
        return self.dir / "root-ca.pem"

    @property
    def identity(self) -> Identity:
        assert self._identity is not None, "start() first"
        return self._identity

    def stamper(self) -> TimeStamper:
        return TimeStamper(self.identity)

    def _ensure(self) -> Identity:
        """The CA and the TSA certificate (EKU timeStamping, critical), made once."""
        names = [self.dir / n for n in ("root-ca.pem", "tsa.pem", "tsa.key")]
        if not all(p.is_file() for p in names):
            self.dir.mkdir(parents=True, exist_ok=True)
            root = issue(ROOT_NAME, ORGANISATION, ca=True)
            now = root.cert.not_valid_before_utc + timedelta(days=365)
            tsa = issue(TSA_NAME, ORGANISATION, root, tsa=True, not_before=now - timedelta(days=1),
                        not_after=now + timedelta(days=3650))
            root = Identity(root.key, root.cert)
            # The key first: a certificate on disk always has its key. The CA's key is not kept: nothing
            # else is ever issued under it.
            _write(self.dir / "tsa.key", tsa.key_pem(), 0o600)
            _write(self.dir / "tsa.pem", tsa.pem(), 0o644)
            _write(self.dir / "root-ca.pem", root.pem(), 0o644)
        root_cert = x509.load_pem_x509_certificate((self.dir / "root-ca.pem").read_bytes())
        cert = x509.load_pem_x509_certificate((self.dir / "tsa.pem").read_bytes())
        key = serialization.load_pem_private_key((self.dir / "tsa.key").read_bytes(), password=None,
                                                 unsafe_skip_rsa_key_validation=True)
        assert isinstance(key, rsa.RSAPrivateKey)
        return Identity(key, cert, (root_cert,))

    def start(self) -> None:
        self._identity = self._ensure()
        self.port = self.port or free_port()
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.tsa = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-tsa", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
