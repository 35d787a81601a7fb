"""Typed settings from `MARKETPLACE_*` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

_PREFIX = "MARKETPLACE_"


def _default_data_dir() -> Path:
    return Path(os.environ.get(f"{_PREFIX}DATA_DIR", Path.cwd() / ".data" / "dev"))


@dataclass(frozen=True, slots=True)
class Settings:
    """Where the services are. Empty URLs mean "start an embedded one" (see `marketplace.devstack`)."""

    database_url: str = ""
    # Migrations run as the schema owner; the app connects as a role that may not UPDATE/DELETE the
    # audit log. Empty means "same as database_url".
    migration_database_url: str = ""
    redis_url: str = ""
    s3_endpoint: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_bucket: str = "marketplace"
    s3_region: str = "us-east-1"
    smtp_host: str = ""
    smtp_port: int = 25
    # The SMTP relay offers SMTPUTF8 (RFC 6531): non-ASCII addresses (`zoé@exemple.fr`) are accepted and
    # mailed with it. Off: they are refused where they enter, with a 422 (notifications/mail.py).
    smtp_utf8: bool = False
    mail_from: str = "Marketplace SAD <no-reply@marketplace.localhost>"
    support_email: str = "support@marketplace.localhost"
    data_dir: Path = field(default_factory=_default_data_dir)
    # The relay polls the outbox this often when nothing nudges it (seconds).
    outbox_poll_interval: float = 1.0
    # The public lists (DPS notices, the register, the needs' search) tolerate this much lag (seconds): their
    # answers are kept in Redis that long and shared by every API process. 0 turns the cache off.
    public_cache_seconds: int = 2
    # Database connections each API process keeps open for its requests (PostgreSQL's max_connections must cover
    # every process's pools: about this plus 20 per process).
    database_pool_size: int = 20
    debug: bool = False
    # Signs access tokens (JWT). `marketplace dev` keeps a generated one in its data directory.
    secret_key: str = ""
    # The Ed25519 key (PEM) that signs receipts; empty: `signing_key.pem` in the data directory, created
    # on first use. Its public half is published at /receipts/public-key.
    signing_key_file: str = ""
    # clamd's TCP address. Empty: no scanner, every offer file stays `pending` (never "clean") (P10, G11).
    clamd_host: str = ""
    clamd_port: int = 3310
    # The largest file clamd reads in full: its MaxFileSize (100 MB by default). Past it clamd answers "OK"
    # without scanning, so a larger file is not sent and stays `pending`; raise both together.
    clamd_max_bytes: int = 100 * 1024**2
    # An object in the bucket that no row names is an orphan (its transaction failed after the upload);
    # the sweeper deletes it only once it is this old, well past the longest upload-and-commit.
    orphan_grace_minutes: int = 60
    # Contract signatures (G16): the directory of trust anchors (PEM) and trusted lists (ETSI TS 119 612 XML)
    # signatures are checked against, offline; the local stand-in for the EU Trusted List. Empty: no anchor,
    # so no signature chains and none is accepted.
    esign_trust_list: str = ""
    # The arrêté of 22 March 2019 (art. 5) asks for an advanced signature based on a qualified certificate:
    # a valid signature whose certificate is not qualified is refused unless this is turned off (a whole test
    # deployment with test certificates; it is not a per-sandbox setting).
    esign_require_qualified: bool = True
    # The RFC 3161 time-stamping authority that dates receipts, opening records and the audit chain's daily
    # anchor (G4, G14; lib/timestamps.py). Empty: `marketplace dev` and the test session start a local one
    # (devstack/tsa.py); `serve` and `worker` then time-stamp nothing and receipts stay "timestamp pending".
    tsa_url: str = ""
    # The TSA certificate(s), PEM, tokens are verified against: the TSA's own or the CA that issues it.
    tsa_certificate: str = ""
    # The back-office's cookies (session, CSRF) are `Secure`: sent over HTTPS only. `marketplace dev` turns this
    # off because it serves plain HTTP on 127.0.0.1, where some browsers (Safari) and HTTP clients would drop a
    # Secure cookie; never turn it off where the app is reached over a network.
    web_cookie_secure: bool = True
    # Open data (marketplace/opendata, domain.md §3.1): the ocid prefix the Open Contracting Partnership issued to
    # the publisher (`ocds-` + 6 lowercase letters or digits); every ocid is it + `-` + the procedure's id. The
    # default is a placeholder for development: set the registered one before publishing anything.
    ocds_ocid_prefix: str = "ocds-sad000"
    ocds_publisher_name: str = "Plateforme SAD ESMS numérique"
    # Where the published packages are reachable (their `uri`): the API's public base URL.
    public_base_url: str = "http://127.0.0.1:8000"
    # DECP (§4): the national open-data portal's adapter (opendata/publisher.py). "local": the records are stored
    # and served at /decp/marches, nothing is sent; "datagouv": each record is also uploaded to the dataset below
    # with the API key (data.gouv.fr API v1).
    decp_publisher: str = "local"
    decp_portal_url: str = "https://www.data.gouv.fr/api/1"
    decp_dataset: str = ""
    decp_api_key: str = ""
    # Webhooks (opendata/webhooks.py): a subscriber's URL may not reach a private, loopback or link-local address
    # (SSRF) unless this is on (tests, a closed deployment whose subscribers are on its own network). The first
    # retry of a failed delivery waits `webhook_backoff_seconds`, each next one twice as long (capped at an hour).
    webhook_allow_private: bool = False
    webhook_backoff_seconds: float = 10.0

    @property
    def migration_url(self) -> str:
        return self.migration_database_url or self.database_url

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            if f.type in ("int", int):
                values[f.name] = int(raw)
            elif f.type in ("float", float):
                values[f.name] = float(raw)
            elif f.type in ("bool", bool):
                values[f.name] = raw.lower() in {"1", "true", "yes", "on"}
            elif f.type in ("Path", Path):
                values[f.name] = Path(raw)
            else:
                values[f.name] = raw
        return cls(**values)  # type: ignore[arg-type]

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def to_env(self) -> dict[str, str]:
        """The environment a child process needs to see these same settings."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value in ("", None):
                continue
            out[_PREFIX + f.name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
        return out
