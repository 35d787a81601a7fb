"""Vendors' offer workspace: structured parts, attachments (limits shown first, progress, presigned uploads),
receipts, withdrawal and new versions, its own refused deposits.
"""

from __future__ import annotations

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
