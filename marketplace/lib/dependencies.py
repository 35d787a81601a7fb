"""Route dependencies resolved one after the other, in the request's own task.

Litestar resolves the dependencies of one level of a handler's graph concurrently: for two or more, it opens an
anyio task group and runs each in a task of its own. Ours are constructors (a service over the request's session)
and the session itself: nothing to overlap, while the task group, its tasks and their wake-ups cost about a tenth
of a signed-in read (bench/RESULTS.md, issue 19). Resolved in order, they also run in the request's task, so a
context variable a dependency sets is seen by the handler.

Litestar has no setting for this: `install` replaces `KwargsModel.resolve_dependencies`, keeping its contract
(the same cleanup group, the first failure raised). tests/test_http_basics.py checks both effects.
"""

from __future__ import annotations

from typing import Any

from litestar._kwargs.cleanup import DependencyCleanupGroup
from litestar._kwargs.dependencies import resolve_dependency
from litestar._kwargs.kwargs_model import KwargsModel
from litestar.connection import ASGIConnection


async def resolve_in_order(self: KwargsModel, connection: ASGIConnection[Any, Any, Any, Any],
                           kwargs: dict[str, Any]) -> DependencyCleanupGroup:
    cleanup_group = DependencyCleanupGroup()
    # Batches come in dependency order (a batch needs only earlier ones); within one, any order will do.
    for batch in self.dependency_batches:
        for dependency in batch:
            await resolve_dependency(dependency, connection, kwargs, cleanup_group)
    return cleanup_group


def install() -> None:
    KwargsModel.resolve_dependencies = resolve_in_order  # type: ignore[method-assign]
