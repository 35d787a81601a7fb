"""Admissions: the requests awaiting a decision on the DPS the caller runs, and the decision (D6)."""

from __future__ import annotations

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
