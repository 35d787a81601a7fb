"""The embedded service stack: real PostgreSQL, Redis and S3 servers started from pip packages, and for
`marketplace dev` a clamd with test signatures only (from Debian's packages when not installed).

`marketplace dev` and the test session both use it, so what a newcomer runs is what the tests run.
Each service is started only when no URL for it is configured (`MARKETPLACE_*`), binds 127.0.0.1 on a
free port and keeps its data under one data directory, reused on the next start. `esign.py` is the DEMO PKI
`marketplace dev` checks contract signatures against when no trusted list is configured (development only).
"""

from __future__ import annotations

from marketplace.devstack.clamd import EmbeddedClamd
from marketplace.devstack.postgres import EmbeddedPostgres
from marketplace.devstack.redis import EmbeddedRedis
from marketplace.devstack.s3 import EmbeddedS3
from marketplace.devstack.stack import Stack

__all__ = ["EmbeddedClamd", "EmbeddedPostgres", "EmbeddedRedis", "EmbeddedS3", "Stack"]
