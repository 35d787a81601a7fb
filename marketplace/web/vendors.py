"""Vendors and their referencing: categories, status, expiring documents, Ségur referencing, ASP enrolment; suspend or exclude."""

from __future__ import annotations

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
