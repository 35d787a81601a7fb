"""Needs review: the expressions of need awaiting the buying side, their N1-N19 checklist, funding (N16), return or publish."""

from __future__ import annotations

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
