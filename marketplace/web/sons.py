"""SONS orders for operators and funders: filters, an order's file with its ASP requests, record an ASP status, cancel, export."""

from __future__ import annotations

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
