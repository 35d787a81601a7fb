"""Vendors' self-service: the admission application with its documents and receipt, the invitations to specific
contracts.
"""

from __future__ import annotations

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
