"""A vendor's contract after the opening: clarifications, D15 justifications, its result, D17 request, signature."""

from __future__ import annotations

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
