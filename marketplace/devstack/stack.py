"""Start what is not configured, stop what we started."""

from __future__ import annotations

import contextlib
import fcntl
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

from marketplace.devstack.clamd import ClamdUnavailable, EmbeddedClamd
from marketplace.devstack.postgres import EmbeddedPostgres
from marketplace.devstack.redis import EmbeddedRedis
from marketplace.devstack.s3 import EmbeddedS3
from marketplace.devstack.tsa import EmbeddedTsa
from marketplace.settings import Settings

_S = TypeVar("_S", EmbeddedPostgres, EmbeddedRedis, EmbeddedS3, EmbeddedClamd, EmbeddedTsa)


class DataDirBusy(RuntimeError):
    """Another launcher is using this data directory (its servers would be stopped under it)."""


@dataclass
class Stack:
    settings: Settings
    durable: bool = True
    # `marketplace dev` asks for a clamd (with test signatures only) when none is configured; the test
    # session doesn't: most tests expect no scanner, and those about the scan start their own.
    clamd: bool = False
    started: list[EmbeddedPostgres | EmbeddedRedis | EmbeddedS3 | EmbeddedClamd | EmbeddedTsa] = field(
        default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    # Why a service that is optional (clamd) was not started, for the launcher to say.
    unavailable: dict[str, str] = field(default_factory=dict)
    _lock: IO[str] | None = None
    # The local TSA when one was started (tests make it unavailable to see a TSA down met).
    tsa: EmbeddedTsa | None = None

    def start(self) -> Settings:
        """Start the missing services and return settings that point at all of them."""
        s = self.settings
        data_dir = s.data_dir.resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        self._acquire(data_dir)
        changes: dict[str, object] = {"data_dir": data_dir}
        try:
            if not s.database_url:
                pg = self._timed("postgres", EmbeddedPostgres(data_dir, durable=self.durable))
                changes["database_url"] = pg.app_url
                changes["migration_database_url"] = pg.url
            if not s.redis_url:
                redis = self._timed("redis", EmbeddedRedis(data_dir))
                changes["redis_url"] = redis.url
            if not s.s3_endpoint:
                s3 = self._timed("s3", EmbeddedS3(data_dir, bucket=s.s3_bucket))
                changes.update(s3_endpoint=s3.endpoint, s3_access_key=s3.access_key,
                               s3_secret_key=s3.secret_key, s3_region=s3.region)
            if not s.tsa_url:
                # G4, G14: receipts, opening records and the audit anchor are time-stamped by a local TSA.
                tsa = self._timed("tsa", EmbeddedTsa(data_dir))
                changes.update(tsa_url=tsa.url, tsa_certificate=str(tsa.certificate))
                self.tsa = tsa
            if self.clamd and not s.clamd_host:
                self._clamd(data_dir, changes)
            if not s.secret_key:
                changes["secret_key"] = self._secret_key(data_dir)
        except BaseException:
            self.stop()
            raise
        self.settings = s.with_(**changes)
        return self.settings

    def _clamd(self, data_dir: Path, changes: dict[str, object]) -> None:
        try:
            clamd = self._timed("clamd", EmbeddedClamd(data_dir))
        except ClamdUnavailable as exc:
            # Without a scanner, offer files stay `pending` (never "clean"): the app works, minus verdicts.
            self.started.pop()
            self.unavailable["clamd"] = str(exc)
            return
        changes.update(clamd_host=clamd.host, clamd_port=clamd.port, clamd_max_bytes=clamd.max_bytes)

    @staticmethod
    def _secret_key(data_dir: Path) -> str:
        # Kept with the data so tokens stay valid across restarts of the same dev environment.
        path = data_dir / "secret_key"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()

    def _acquire(self, data_dir: Path) -> None:
        lock = open(data_dir / ".lock", "a+")  # noqa: SIM115 - held until stop()
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise DataDirBusy(f"{data_dir} is in use by another marketplace process") from None
        self._lock = lock

    def _timed(self, name: str, service: _S) -> _S:
        began = time.monotonic()
        # Listed before start() returns: if it fails or is interrupted (Ctrl-C) after its server was
        # spawned, stop() must still stop that server rather than orphan it.
        self.started.append(service)
        service.start()
        self.timings[name] = time.monotonic() - began
        return service

    def stop(self) -> None:
        # Reverse order; each one stops even if another failed to.
        while self.started:
            service = self.started.pop()
            with contextlib.suppress(Exception):
                service.stop()
        if self._lock is not None:
            self._lock.close()  # closing releases the flock
            self._lock = None

    @contextlib.contextmanager
    def running(self) -> Iterator[Settings]:
        settings = self.start()
        try:
            yield settings
        finally:
            self.stop()
