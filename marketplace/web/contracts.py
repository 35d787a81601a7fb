"""Specific contracts: the list of the buying side's contracts, the cockpit of one, and its opening ceremony."""

from __future__ import annotations

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
