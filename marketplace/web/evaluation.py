"""Evaluation and award of a specific contract: declarations, the score grid, clarifications, ranking, award."""

from __future__ import annotations

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
