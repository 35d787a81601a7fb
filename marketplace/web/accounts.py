"""Users, organisations, roles and API keys: what an organisation's admin and the platform's operators manage."""

from __future__ import annotations

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
