"""Every model of every domain, imported once: the single import point for Alembic and the tests."""

from __future__ import annotations

from advanced_alchemy.base import orm_registry

from marketplace.lib.jobs import JobIntent
from marketplace.notifications.models import Notification
from marketplace.support.models import SupportRequest

metadata = orm_registry.metadata

__all__ = ["JobIntent", "Notification", "SupportRequest", "metadata"]
