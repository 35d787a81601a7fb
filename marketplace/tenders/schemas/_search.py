"""The public discovery of published needs (tenders/search.py): the query string and the page of results.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from marketplace.lib.schemas import CamelReply
from marketplace.tenders.schemas._deposits import DepositLimits
from marketplace.tenders.states import SpecificContractStatus
from marketplace.vendors.models import DeliveryMode, Sector

# -- public discovery of published needs (tenders/search.py) -------------------------------------------


class NeedSearchParams(msgspec.Struct, kw_only=True, frozen=True):
    """The query string of a search, as parsed from the wire; `search.check_params` checks the rest."""

    q: str | None = None
    category_id: uuid.UUID | None = None
    sector: Sector | None = None
    delivery_mode: DeliveryMode | None = None
    departement: str | None = None
    region: str | None = None
    cpv: str | None = None
    status: SpecificContractStatus | None = None
    deadline_from: datetime | None = None
    deadline_to: datetime | None = None
    cursor: str | None = None
    limit: int = 20


class PublicNeed(CamelReply, omit_defaults=True):
    """A published need and its specific contract, as anyone may see it."""

    need_id: uuid.UUID
    specific_contract_id: uuid.UUID
    title: str
    # The description's opening, or with a text query its passages around the matched words.
    excerpt: str
    holder_organisation_id: uuid.UUID
    holder_name: str
    category_id: uuid.UUID
    category_title: str
    sector: Sector | None
    delivery_mode: DeliveryMode | None
    # Of the need's facilities (from their FINESS), and their INSEE regions.
    departements: list[str]
    regions: list[str]
    cpv_codes: list[str]
    status: SpecificContractStatus
    published_at: datetime
    tender_deadline: datetime
    tender_deadline_paris: str
    # D14a: every limit a deposit on its specific contract can hit, published with it.
    deposit_limits: DepositLimits
    # With a text query only: how well the need matches it (higher first).
    rank: float | None = None


class PublicNeedPage(CamelReply):
    items: list[PublicNeed]
    # Give it back as `cursor` for the next page; null on the last page.
    next_cursor: str | None
    limit: int
