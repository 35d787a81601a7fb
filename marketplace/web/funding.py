"""Funding: funders' calls, filed projects, selections and grant tranches (FU2-FU5)."""

from __future__ import annotations

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
