from __future__ import annotations

from typing import TypeVar

from litestar import Response
from litestar.status_codes import HTTP_201_CREATED

T = TypeVar("T")


def created(body: T, location: str) -> Response[T]:
    """A 201 always says where the new resource lives (clients and schemathesis follow it)."""
    return Response(body, status_code=HTTP_201_CREATED, headers={"Location": location})
