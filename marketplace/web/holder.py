"""Holders' self-service: the need as a step-by-step form checked as it is typed (N1-N19), filing to the funder's
call, the decision, the procedure, the contract and the grant tranches.
"""

from __future__ import annotations

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
