"""A holder's published need: its procedure, contract and grant tranches with their evidence."""

from __future__ import annotations

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
