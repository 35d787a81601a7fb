"""Specific contracts on the wire: publishing a need on a DPS with its criteria' weights (D8–D10), the contract
as read, and a vendor's invitation.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from marketplace.lib.schemas import CamelReply, CamelStruct
from marketplace.tenders.schemas._deposits import DepositLimits
from marketplace.tenders.states import SpecificContractStatus
from marketplace.vendors.models import ConductMode
from marketplace.vendors.schemas import SandboxClock

# -- specific contracts (publishing a need on a DPS: D8–D10, §1.5) ------------------------------------

CriterionName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Weight = Annotated[int, msgspec.Meta(ge=0, le=100)]


class CriterionWeight(CamelStruct):
    """The weight chosen for one of the DPS's award criteria, within its range (D10)."""

    name: CriterionName
    weight: Weight


DEFAULT_ATTACHMENT_TYPES = (
    "application/pdf", "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
)


class NeedPublish(CamelStruct):
    dps_id: uuid.UUID
    # Without a zone, a Paris wall-clock time; refused when it names no instant or two.
    tender_deadline: datetime
    award_criteria: Annotated[list[CriterionWeight], msgspec.Meta(min_length=1, max_length=50)]
    # How many of the buying organisation's openers must come together to open the offers (k of n).
    opening_threshold: Annotated[int, msgspec.Meta(ge=1, le=20)] = 1
    # What each offer may carry; types are checked on the content, never on what the client declares.
    attachment_max_bytes: Annotated[int, msgspec.Meta(ge=1024, le=2 * 1024**3)] = 250 * 1024**2
    offer_max_bytes: Annotated[int, msgspec.Meta(ge=1024, le=10 * 1024**3)] = 1024**3
    attachment_max_count: Annotated[int, msgspec.Meta(ge=1, le=200)] = 30
    attachment_types: Annotated[list[str], msgspec.Meta(min_length=1, max_length=20)] = msgspec.field(
        default_factory=lambda: list(DEFAULT_ATTACHMENT_TYPES))


class ChosenCriterion(CamelReply):
    name: str
    weight_min: int
    weight_max: int
    weight: int


class ContractInvitation(CamelReply):
    vendor_organisation_id: uuid.UUID
    invited_at: datetime


class SpecificContract(CamelReply):
    id: uuid.UUID
    need_id: uuid.UUID
    dps_id: uuid.UUID
    category_id: uuid.UUID
    # The buyer: the holder in intermediation (HC2), the DPS's buying organisation (or the one the holder named,
    # D2) when centralised (HC3); the mode is the DPS's at publication, kept whatever the DPS does after (HC1).
    buyer_organisation_id: uuid.UUID
    conduct_mode: ConductMode
    # The DPS's buying organisation (it follows the procedure in intermediation, HC2) and the need's holder.
    dps_organisation_id: uuid.UUID
    holder_organisation_id: uuid.UUID
    # HC3: the holder sits on the evaluation committee (declarations and scores).
    holder_on_committee: bool
    status: SpecificContractStatus
    title: str
    invited_at: datetime
    tender_deadline: datetime
    tender_deadline_paris: str
    # Until then invited vendors may ask questions (set by the buyer, else 4 days before the deadline).
    questions_close_at: datetime
    questions_close_at_paris: str
    award_criteria: list[ChosenCriterion]
    # The buyer sees every invitation; an invited vendor sees its own.
    invitation_count: int
    invitations: list[ContractInvitation]
    # D14a: every limit a deposit can hit (files, sizes, types, archives, the deadline), quoted by each refusal.
    deposit_limits: DepositLimits
    # On a sandbox DPS: every time above is the sandbox's (`sandboxClock.now` is its present).
    sandbox: bool = False
    sandbox_clock: SandboxClock | None = None


class MyInvitation(CamelStruct):
    specific_contract_id: uuid.UUID
    vendor_organisation_id: uuid.UUID
    dps_id: uuid.UUID
    category_id: uuid.UUID
    title: str
    status: SpecificContractStatus
    invited_at: datetime
    tender_deadline: datetime
    tender_deadline_paris: str
    # HC6: the contract's own present (a sandbox's runs faster), what its deadline's countdown is measured from.
    read_at: datetime
    sandbox: bool = False


class DeadlineItem(CamelStruct):
    """A specific contract on the work queue: its title and its deadline for offers, nothing of any offer."""

    id: uuid.UUID
    title: str
    tender_deadline: datetime
    # HC6: the contract's own present (a sandbox's runs faster), for its countdown.
    now: datetime
    sandbox: bool = False


class DeadlineBoard(CamelStruct):
    """The buying side's deadlines for offers (the work queue): the open contracts closing before the end of the
    day in Paris and within the week, and how many are past their deadline with their offers not yet opened
    (D13: a count, never what was offered)."""

    closing_today: list[DeadlineItem]
    closing_this_week: list[DeadlineItem]
    awaiting_opening: int
    awaiting_opening_since: datetime | None


class BuyingSideContract(CamelStruct):
    """One line of the buying side's list of its specific contracts (and of those it follows, HC2)."""

    id: uuid.UUID
    title: str
    dps_id: uuid.UUID
    dps_title: str
    category_id: uuid.UUID
    category_title: str
    # HC6: as read now on the contract's own clock (a sandbox's runs faster).
    status: SpecificContractStatus
    conduct_mode: ConductMode
    tender_deadline: datetime
    tender_deadline_paris: str
    invitation_count: int
    # HC2: the caller's central purchasing body follows this procedure, conducted in intermediation; it does not
    # run it.
    followed: bool
    # The contract's present (a sandbox's own clock): what its deadline's countdown is measured from.
    read_at: datetime
    sandbox: bool = False


class BuyingSideContractPage(CamelStruct):
    items: list[BuyingSideContract]
    total: int
    limit: int
    offset: int
