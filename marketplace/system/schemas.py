from __future__ import annotations

from marketplace.lib.schemas import CamelStruct


class DependencyHealth(CamelStruct):
    status: str  # "ok" | "error"
    latency_ms: float
    error: str | None = None


class Health(CamelStruct):
    status: str  # "ok" | "degraded"
    checks: dict[str, DependencyHealth]
