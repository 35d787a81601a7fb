"""The audit log: the chained events filtered, the chain's verification, an evidence bundle per object."""

from __future__ import annotations

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
