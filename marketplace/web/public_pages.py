"""Public pages: the DPS notices with their documents and categories, the register of admitted vendors, the search of
published needs, a published specific contract's public view (D3, D14a).
"""

from __future__ import annotations

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
