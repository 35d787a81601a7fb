"""Everyone's inbox: notifications with unread counts.
"""

from __future__ import annotations

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
