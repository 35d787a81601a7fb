"""Vendors' SONS catalogue: Ségur solutions, ASP enrolment, orders, CSV import with per-row errors, ASP exports."""

from __future__ import annotations

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
