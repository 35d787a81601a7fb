"""Specific contracts (domain.md §1.5, D8–D10): a submitted need published on an active DPS.

Publishing opens the competition (machine (c): straight to OPEN) and invites, in the same transaction and
at one instant, every vendor admitted to the need's category (D8). The fan-out is set-based: one
statement writes the invitations, the vendors' notifications and their delivery intents (the outbox), so
ten thousand vendors cost one round trip, not ten thousand. `ON CONFLICT DO NOTHING` on
(contract, vendor) makes it idempotent: running it again invites nobody twice and notifies nobody twice.

Who buys depends on the DPS's conduct mode, copied onto the contract here so that the procedure keeps the mode it
started with (HC1): in intermediation the holder is the buyer of its specific contract (HC2), in centralised mode
the DPS's buying organisation (or the one the holder named, D2) buys on its behalf (HC3).

Object rule: a specific contract is visible to its buying side, to the central purchasing body that follows it
and to its holder (tenders/access.py), and to the vendors it invited; anyone else gets 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.auth import CALLER, invalid_credential, principal_of
from marketplace.accounts.guards import check_access
from marketplace.accounts.members import tell_members, tell_members_statement
from marketplace.accounts.principal import Claim, Principal
from marketplace.accounts.roles import (
    BUYING_SIDE,
    DPS_WRITERS,
    HOLDER_MEMBERS,
    VENDOR_MEMBERS,
    VENDOR_WRITERS,
    Role,
)
from marketplace.errors import Conflict, Forbidden, NotFound, RuleViolation
from marketplace.lib import audit
from marketplace.lib.access import Access
from marketplace.lib.clock import PARIS, Clock, InvalidLocalTime, format_paris, paris_instant, to_paris
from marketplace.lib.database import StatementPool
from marketplace.lib.working_days import earliest_franc_deadline
from marketplace.tenders import schemas
from marketplace.tenders.access import CONTRACT_NOT_FOUND, seen_invitations
from marketplace.tenders.deposits import deposit_limits
from marketplace.tenders.models import ContractInvitation, FundingStatus, Need, NeedStatus, SpecificContract
from marketplace.tenders.openers import seal_contract
from marketplace.tenders.search import index_needs
from marketplace.tenders.states import SpecificContractStatus, move, status_at
from marketplace.vendors.models import ConductMode, Dps, DpsCategory
from marketplace.vendors.sandbox import SandboxTimed, clock_schema, dps_clock, listing_now
from marketplace.vendors.states import DpsStatus, require_in_force

TENDER_PERIOD_DAYS = 10  # D9, a délai franc (lib/working_days.py `earliest_franc_deadline`)
# What a buyer may allow in offers: documents and archives the content sniffer recognises; never HTML, SVG
# or executables, which a browser or a desktop would run (G11).
ACCEPTABLE_ATTACHMENT_TYPES = frozenset({
    *schemas.DEFAULT_ATTACHMENT_TYPES, "image/png", "image/jpeg", "application/x-7z-compressed",
    "application/vnd.ms-excel", "application/msword", "application/x-rar-compressed",
})
# Unless the buyer sets another date, questions close this long before the tender deadline.
QUESTIONS_DEFAULT_LEAD = timedelta(days=4)
INVITATION_KIND = "tender.invitation"

# One statement: invitations for the admitted vendors of the category not yet invited, then one
# notification per (new invitee, admin or bid manager), then one delivery intent per notification
# (accounts/members.py joins the fragments of the tables' own packages).
_FAN_OUT = tell_members_statement("""invited AS (
    INSERT INTO contract_invitation (id, specific_contract_id, vendor_organisation_id, admission_request_id,
                                     invited_at, created_at, updated_at)
    SELECT gen_random_uuid(), CAST(:contract_id AS uuid), ar.vendor_organisation_id, ar.id,
           CAST(:invited_at AS timestamptz), CAST(:now AS timestamptz), CAST(:now AS timestamptz)
    FROM admission_request ar
    WHERE ar.category_id = CAST(:category_id AS uuid) AND ar.status = 'admitted'
      AND (ar.decided_at IS NULL OR ar.decided_at <= CAST(:invited_at AS timestamptz))
    ON CONFLICT (specific_contract_id, vendor_organisation_id) DO NOTHING
    RETURNING vendor_organisation_id AS organisation_id
)""", "SELECT (SELECT count(*) FROM invited) AS invitations, (SELECT count(*) FROM intents) AS intents",
    source="invited", per_organisation=True)

# Every admin or bid manager of every vendor invited to a contract gets one notification and its delivery
# intent: set-based, as for the invitations themselves.
_NOTIFY_INVITEES = tell_members_statement("""targets AS (
    SELECT vendor_organisation_id AS organisation_id FROM contract_invitation
    WHERE specific_contract_id = CAST(:about_id AS uuid)
)""", "SELECT count(*) AS told FROM intents")


def _invitations_of(column: Any) -> Any:
    """One column of the contract's invitations as an array, in vendor order (NULL when there is none)."""
    return (select(func.array_agg(aggregate_order_by(column, ContractInvitation.vendor_organisation_id)))
            .where(ContractInvitation.specific_contract_id == SpecificContract.id).scalar_subquery())


class Notice(NamedTuple):
    """A specific contract's notice as `_NOTICE` reads it, in its order: the contract's columns its view shows,
    its need's title, its DPS's sandbox clock, and its invitations as two parallel arrays in vendor order."""

    id: uuid.UUID
    need_id: uuid.UUID
    dps_id: uuid.UUID
    category_id: uuid.UUID
    buyer_organisation_id: uuid.UUID
    conduct_mode: ConductMode
    dps_organisation_id: uuid.UUID
    holder_organisation_id: uuid.UUID
    holder_on_committee: bool
    status: SpecificContractStatus
    invited_at: datetime
    tender_deadline: datetime
    questions_close_at: datetime | None
    award_criteria: list[dict[str, Any]]
    attachment_max_bytes: int
    offer_max_bytes: int
    attachment_max_count: int
    attachment_types: list[str]
    title: str
    sandbox_factor: int | None
    sandbox_epoch: datetime | None
    sandbox_skipped: timedelta
    invited_vendors: list[uuid.UUID] | None
    invited_dates: list[datetime] | None

    @classmethod
    def read(cls, row: Sequence[Any]) -> Notice:
        """From a row of `_NOTICE`, through SQLAlchemy or the driver (which gives enums as their values)."""
        notice = cls._make(row)
        return notice._replace(status=SpecificContractStatus(notice.status),
                               conduct_mode=ConductMode(notice.conduct_mode))


# A contract's notice in one statement, built once: the most read record of a procedure.
_NOTICE = (select(*(getattr(SpecificContract, name) for name in Notice._fields[:Notice._fields.index("title")]),
                  Need.title, Dps.sandbox_factor, Dps.sandbox_epoch, Dps.sandbox_skipped,
                  _invitations_of(ContractInvitation.vendor_organisation_id).label("invited_vendors"),
                  _invitations_of(ContractInvitation.invited_at).label("invited_dates"))
           .join(Need, Need.id == SpecificContract.need_id).join(Dps, Dps.id == SpecificContract.dps_id)
           .where(SpecificContract.id == bindparam("contract_id")))
# The same, for the driver itself (lib/database.py `StatementPool`: `$1` is the contract's id).
_NOTICE_SQL = str(_NOTICE.compile(dialect=asyncpg_dialect()))  # type: ignore[no-untyped-call]
# A row is read by position (`Notice.read`), and `$1` renumbered below: checked once, at import.
if tuple(_NOTICE.selected_columns.keys()) != Notice._fields or _NOTICE_SQL.count("$") != 1:
    raise RuntimeError("_NOTICE must select Notice's fields, in their order, with one parameter")
# The caller (accounts/auth.py `CALLER`: $1 the account, $2 the session's family) and the notice ($3) in one
# statement and one snapshot: no row when the caller may no longer act, the notice's columns NULL when no
# contract has this id.
_CALLER_AND_NOTICE_SQL = (  # nosemgrep: sql-built-from-strings  # two module constants, no input
    f"SELECT who.*, notice.* FROM ({CALLER}) AS who "  # noqa: S608  # nosec B608  # two module constants
    f"LEFT JOIN ({_NOTICE_SQL.replace('$1', '$3')}) AS notice ON true")


def notice_view(clock: Clock, principal: Principal, notice: Notice) -> schemas.SpecificContract:
    """The notice as the caller may see it (tenders/access.py `seen_invitations`: a 404 to whom it is not for)."""
    invited = seen_invitations(principal, notice, list(zip(notice.invited_vendors or (), notice.invited_dates or (),
                                                           strict=True)))
    return contract_view(clock, notice, invited, title=notice.title, dps=notice)


def contract_view(clock: Clock, contract: Notice | SpecificContract, invited: list[tuple[uuid.UUID, datetime]], *,
                  title: str | None, dps: SandboxTimed) -> schemas.SpecificContract:
    """A contract as its API shows it, with the invitations the caller sees (vendor, date)."""
    return schemas.SpecificContract(
        id=contract.id, need_id=contract.need_id, dps_id=contract.dps_id, category_id=contract.category_id,
        buyer_organisation_id=contract.buyer_organisation_id, conduct_mode=contract.conduct_mode,
        dps_organisation_id=contract.dps_organisation_id, holder_organisation_id=contract.holder_organisation_id,
        holder_on_committee=contract.holder_on_committee,
        # HC6: closed_for_offers from the deadline on, on the contract's clock, opened or not.
        status=status_at(contract, dps_clock(clock, dps).now()), title=title or "",
        invited_at=contract.invited_at, tender_deadline=contract.tender_deadline,
        tender_deadline_paris=format_paris(contract.tender_deadline),
        questions_close_at=questions_close_at(contract),
        questions_close_at_paris=format_paris(questions_close_at(contract)),
        award_criteria=msgspec.convert(contract.award_criteria, list[schemas.ChosenCriterion]),
        invitation_count=len(invited),
        invitations=[schemas.ContractInvitation(vendor_organisation_id=v, invited_at=at) for v, at in invited],
        deposit_limits=deposit_limits(contract),  # D14a: published to its buyer and its invitees
        sandbox=dps.sandbox_factor is not None, sandbox_clock=clock_schema(clock, dps))


class NoticeReader:
    """`GET /specific-contracts/{id}`: the notice in one statement sent to the driver itself, outside any
    transaction (the statement is its own consistent snapshot): no session, no ORM. Signed in with an access
    token, the caller is read in the same statement (principal.py `Claim`), and the route's access applied to
    it before anything else."""

    def __init__(self, statements: StatementPool, clock: Clock) -> None:
        self.statements = statements
        self.clock = clock

    async def get(self, caller: Principal | Claim, contract_id: uuid.UUID,
                  access: Access) -> schemas.SpecificContract:
        if isinstance(caller, Claim):
            row = await self.statements.fetchrow(_CALLER_AND_NOTICE_SQL, caller.user_id, caller.family_id,
                                                 contract_id)
            if row is None:
                raise invalid_credential()
            principal = principal_of(row)
            check_access(principal, access)
            notice = row[4:]
        else:
            # An API key's or a web session's principal, read and checked by the guard already: checked here
            # too, so that the reader never answers on its caller's word alone.
            check_access(caller, access)
            principal, notice = caller, await self.statements.fetchrow(_NOTICE_SQL, contract_id)
        if notice is None or notice[0] is None:
            raise NotFound(CONTRACT_NOT_FOUND)
        return notice_view(self.clock, principal, Notice.read(notice))

async def notify_invitees(session: AsyncSession, clock: Clock, contract_id: uuid.UUID, *, kind: str, subject: str,
                          body: str, sandbox: bool = False) -> int:
    """Tell every invitee of the contract (its admins and bid managers); returns how many were told.

    `clock` is the real one: it dates the notifications and their delivery intents, which the relay reads."""
    row = await tell_members(session, clock, _NOTIFY_INVITEES, roles=VENDOR_WRITERS, kind=kind,
                             subject=subject, body=body, about=contract_id, sandbox=sandbox)
    return int(row.told)


def check_tender_period(invited_at: datetime, deadline: datetime) -> None:
    """D9: offers are received for at least 10 full days after the day of the invitation (a délai franc, §1.7)."""
    earliest = earliest_franc_deadline(invited_at, TENDER_PERIOD_DAYS)
    if deadline < earliest:
        raise RuleViolation("tenderDeadline: D9: offers are received for at least 10 full days after the day of the "
                            f"invitation (délai franc): not before {format_paris(earliest)}",
                            field="tenderDeadline", rule="D9", earliest=earliest.isoformat())


def check_funded(need: Need) -> None:
    """N16, FU4: a need is published on the SAD only with a positive funding decision of the call it is filed to
    (the funder selected it, funding/), not on a free-text reference. A rehearsal (sandbox) need may rehearse
    the funding too, filed to a rehearsal call: then it waits for that call's decision like a real need; one never
    filed is published on its sandbox DPS without a decision."""
    if need.funding_status == FundingStatus.SELECTED or (need.sandbox and need.funding_status is None):
        return
    where = {None: "it is not filed to a funder's call for projects (POST /needs/{id}/filing)",
             FundingStatus.FILED: "its funder has not decided yet",
             FundingStatus.REJECTED: "its funder rejected it"}.get(need.funding_status, "")
    raise RuleViolation(f"fundingDecision: N16: a need is published on the SAD only once the funder of its call "
                        f"selected it (a positive funding decision); {where}", field="fundingDecision", rule="N16",
                        fundingStatus=need.funding_status.value if need.funding_status else None)


def _buying_organisation(need: Need, dps: Dps) -> uuid.UUID:
    """Who buys the need's specific contract. In intermediation, the holder itself (HC2: a grappe through its own
    organisation). In centralised mode (HC3), the DPS's own buying organisation, unless the holder named another
    one when filing the need, which it may only on a DPS whose notice says it is usable by other buyers
    (`usable_by_other_buyers`, the central purchasing body's statement, §1.1): then that organisation, and it
    alone, publishes the need on the DPS the need is filed to, as the buyer of its specific contract (D2)."""
    if dps.conduct_mode == ConductMode.INTERMEDIATION:
        return need.holder_organisation_id
    return need.buyer_organisation_id or dps.buyer_organisation_id


def _publisher(principal: Principal, need: Need, dps: Dps) -> uuid.UUID:
    """The buying organisation of the contract `need` becomes on `dps`, if the caller may publish it.

    In intermediation (HC2) the holder's administrator publishes its own need, or the DPS's buying organisation's
    administrator does on its behalf (the holder's openers are the ones the offers are sealed to, either way).
    When centralised (HC3) the buying organisation's administrator publishes; the holder only reads."""
    buyer_id = _buying_organisation(need, dps)
    holder = need.holder_organisation_id
    if dps.conduct_mode == ConductMode.INTERMEDIATION:
        if need.buyer_organisation_id not in (None, holder):
            raise Conflict("buyerOrganisationId: HC2: on a DPS conducted in intermediation the holder is the buyer "
                           "of its specific contract; this need names another buying organisation",
                           field="buyerOrganisationId", rule="HC2")
        if principal.has_role_in(holder, Role.HOLDER_ADMIN) or principal.has_role_in(dps.buyer_organisation_id,
                                                                                     Role.BUYER_ADMIN):
            return buyer_id
        if principal.has_role_in(holder, *HOLDER_MEMBERS) or principal.has_role_in(dps.buyer_organisation_id,
                                                                                   *DPS_WRITERS):
            raise Forbidden("HC2: the holder's administrator publishes its need (or the DPS's buying "
                            "organisation's administrator, on its behalf).", rule="HC2")
        raise NotFound("No DPS has this id.")
    if not principal.has_role_in(buyer_id, *DPS_WRITERS):
        if principal.has_role_in(dps.buyer_organisation_id, *DPS_WRITERS):
            raise Conflict("buyerOrganisationId: the holder named another buying organisation to run this "
                           "need's specific contract (D2)", field="buyerOrganisationId", rule="D2")
        if principal.has_role_in(holder, *HOLDER_MEMBERS):
            raise Forbidden("HC3: on a DPS conducted centrally, the buying organisation publishes the need and runs "
                            "its specific contract on the holder's behalf.", rule="HC3")
        raise NotFound("No DPS has this id.")
    if not principal.has_role_in(buyer_id, Role.BUYER_ADMIN):
        raise Forbidden("Only an administrator of the buying organisation may publish the need.")
    return buyer_id


def questions_close_at(contract: Notice | SpecificContract) -> datetime:
    """When invited vendors stop being able to ask questions on the contract."""
    return contract.questions_close_at or contract.tender_deadline - QUESTIONS_DEFAULT_LEAD


def _criteria(dps: Dps, chosen: list[schemas.CriterionWeight]) -> list[dict[str, Any]]:
    """The DPS's criteria, each with a weight within its range, summing to 100 (D10)."""
    ranges = {str(c["name"]): c for c in dps.award_criteria}
    names = [c.name for c in chosen]
    if len(set(names)) != len(names) or set(names) != set(ranges):
        raise RuleViolation("awardCriteria: give a weight for each of the DPS's award criteria, once each ("
                            + ", ".join(ranges) + ")", field="awardCriteria", rule="D10")
    weights = {c.name: c.weight for c in chosen}
    result = []
    for criterion in dps.award_criteria:
        name, low, high = str(criterion["name"]), int(criterion["weightMin"]), int(criterion["weightMax"])
        weight = weights[name]
        if not low <= weight <= high:
            position = names.index(name)
            raise RuleViolation(f"awardCriteria[{position}].weight: D10: the weight of {name!r} must stay within "
                                f"the DPS's range {low}–{high}", field=f"awardCriteria[{position}].weight",
                                rule="D10")
        result.append({"name": name, "weightMin": low, "weightMax": high, "weight": weight})
    if sum(weights.values()) != 100:
        raise RuleViolation("awardCriteria: D10: the weights must add up to 100", field="awardCriteria",
                            rule="D10")
    return result


def _like(text: str) -> str:
    """`text` for an ILIKE pattern: its own % and _ matched literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _attachment_types(types: list[str]) -> list[str]:
    """Media types as the content sniffer names them; a buyer can't allow active content (G11)."""
    result = []
    for position, media_type in enumerate(types):
        value = media_type.strip().lower()
        if value not in ACCEPTABLE_ATTACHMENT_TYPES:
            raise RuleViolation(f"attachmentTypes[{position}]: {media_type!r} is not a type offers may carry "
                                f"(one of: {', '.join(sorted(ACCEPTABLE_ATTACHMENT_TYPES))})",
                                field=f"attachmentTypes[{position}]")
        result.append(value)
    return sorted(set(result))


class SpecificContractService:
    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    # -- publishing ------------------------------------------------------------------------------

    async def publish(self, principal: Principal, need_id: uuid.UUID,
                      data: schemas.NeedPublish) -> schemas.SpecificContract:
        need = await self.session.get(Need, need_id)
        if need is None:
            raise NotFound("No need has this id.")
        dps = await self.session.get(Dps, data.dps_id)
        if dps is None:
            raise NotFound("No DPS has this id.")
        buyer_id = _publisher(principal, need, dps)
        await self.session.refresh(need, with_for_update=True)
        if need.status != NeedStatus.SUBMITTED:
            raise Conflict(f"status: only a submitted need can be published; this one is {need.status.value}",
                           field="status")
        check_funded(need)
        require_in_force(dps, dps_clock(self.clock, dps).now())  # machine (a): none after the validity end
        if dps.status != DpsStatus.ACTIVE:
            raise Conflict(f"dpsId: specific contracts are put on an active DPS; this one is {dps.status.value}",
                           field="dpsId", rule="domain.md §1.3")
        if need.sandbox != dps.is_sandbox:
            # A rehearsal never becomes a real procedure, nor a real need a rehearsal (migration 0018 backs it).
            raise RuleViolation("dpsId: " + ("a sandbox need is published on a sandbox DPS only" if need.sandbox else
                                             "a real need is never published on a sandbox DPS"),
                                field="dpsId", rule="sandbox")
        if need.dps_id != dps.id:
            # D2: the holder filed the need to one DPS; no other buying organisation takes it onto its own.
            raise Conflict("dpsId: the need is filed to " + (f"DPS {need.dps_id}" if need.dps_id else "no DPS")
                           + "; it is published there only (D2)", field="dpsId", rule="D2",
                           filedTo=str(need.dps_id) if need.dps_id else None)
        if (dps.conduct_mode == ConductMode.CENTRALISED and buyer_id != dps.buyer_organisation_id
                and not dps.usable_by_other_buyers):
            raise Conflict("buyerOrganisationId: this DPS is not usable by other buyers; only its own buying "
                           "organisation runs specific contracts on it (D2)", field="buyerOrganisationId",
                           rule="D2")
        category_id = await self.session.scalar(select(DpsCategory.id).where(
            DpsCategory.dps_id == dps.id, DpsCategory.sector == need.sector,
            DpsCategory.delivery_mode == need.delivery_mode))
        if category_id is None:
            raise RuleViolation("dpsId: N19: the DPS has no category for the need's sector and delivery mode",
                                field="dpsId", rule="N19")
        try:
            deadline = paris_instant(data.tender_deadline)
        except InvalidLocalTime as exc:
            raise RuleViolation(f"tenderDeadline: {exc}", field="tenderDeadline") from exc
        criteria = _criteria(dps, data.award_criteria)
        if dps.is_sandbox:
            # Its clock can be fast-forwarded: held still (shared lock) from this reading to the commit.
            await self.session.refresh(dps, with_for_update={"read": True})
        invited_at = dps_clock(self.clock, dps).now()  # D9 on the DPS's clock (a sandbox's runs faster)
        check_tender_period(invited_at, deadline)
        contract = SpecificContract(
            need_id=need.id, dps_id=dps.id, category_id=category_id, buyer_organisation_id=buyer_id,
            conduct_mode=dps.conduct_mode, dps_organisation_id=dps.buyer_organisation_id,
            holder_organisation_id=need.holder_organisation_id, holder_on_committee=False,
            status=SpecificContractStatus.DRAFT, invited_at=invited_at, tender_deadline=deadline,
            award_criteria=criteria, created_by=principal.label, opening_threshold=data.opening_threshold,
            attachment_max_bytes=data.attachment_max_bytes, offer_max_bytes=data.offer_max_bytes,
            attachment_max_count=data.attachment_max_count,
            attachment_types=_attachment_types(data.attachment_types))
        # Machine (c): DRAFT --invite_all_admitted--> OPEN, in this transaction with the invitations (D8).
        move(contract, SpecificContractStatus.OPEN)
        self.session.add(contract)
        need.status = NeedStatus.PUBLISHED
        await self.session.flush()
        await seal_contract(self.session, contract)
        await index_needs(self.session, [need.id])  # now public: searchable (tenders/search.py); sandboxes never
        invitations, _ = await self.fan_out(contract, need.title, sandbox=dps.is_sandbox)
        await audit.record(self.session, self.clock, "specific_contract.published", actor=principal.label,
                           organisation_id=dps.buyer_organisation_id, target_type="specific_contract",
                           target_id=str(contract.id),
                           details={"need": str(need.id), "dps": str(dps.id), "category": str(category_id),
                                    "conduct_mode": contract.conduct_mode.value, "buyer": str(buyer_id),
                                    "invitations": invitations, "invited_at": invited_at.isoformat(),
                                    "tender_deadline": deadline.isoformat()})
        return await self._to_schema(contract)

    async def fan_out(self, contract: SpecificContract, title: str, *, sandbox: bool = False) -> tuple[int, int]:
        """Invite every vendor admitted to the category at `invited_at` not yet invited (D8), and queue their
        notifications; returns (new invitations, new delivery intents). Idempotent."""
        deadline = format_paris(contract.tender_deadline)
        # D8: the invitation is in writing.
        row = await tell_members(
            self.session, self.clock, _FAN_OUT, roles=VENDOR_WRITERS, kind=INVITATION_KIND,
            subject=f"Invitation à remettre une offre — {title}",
            body=f"Vous êtes invité à remettre une offre pour le marché spécifique {contract.id} ({title}).\n"
                 f"Date limite de remise des offres : {deadline}.\n",
            about=contract.id, sandbox=sandbox,
            params={"contract_id": contract.id, "category_id": contract.category_id,
                    "invited_at": contract.invited_at})
        return int(row.invitations), int(row.intents)

    # -- reading ---------------------------------------------------------------------------------

    async def filed_needs(self, principal: Principal, dps_id: uuid.UUID) -> list[schemas.Need]:
        """The needs filed to the DPS, submitted or published (D2), for the buyers who publish them: the DPS's
        own buying organisation sees them all; on a DPS usable by other buyers, another buying organisation
        sees those whose holder named it. Drafts stay the holder's own."""
        from marketplace.tenders.needs import NeedService

        dps = await self.session.get(Dps, dps_id)
        if dps is None:
            raise NotFound("No DPS has this id.")
        query = select(Need).where(Need.dps_id == dps.id, Need.status != NeedStatus.DRAFT)
        if not principal.has_role_in(dps.buyer_organisation_id, *DPS_WRITERS):
            others = principal.organisations_with(*DPS_WRITERS)
            if not (dps.usable_by_other_buyers and others):
                raise NotFound("No DPS has this id.")
            query = query.where(Need.buyer_organisation_id.in_(others))
        rows = (await self.session.scalars(query.order_by(Need.submitted_at, Need.id))).all()
        return await NeedService(self.session, self.clock).views(rows)  # HC5: each as its procedure stands

    async def deadline_board(self, principal: Principal, within: timedelta) -> schemas.DeadlineBoard:
        """The work queue's deadlines for offers, in one query: the open contracts of the caller's buying side
        (HC2, HC3: any of its members, as `list_for_buying_side`) closing before the end of the day in Paris, then
        within `within`, soonest first; and those past their deadline whose offers are not opened yet (stored OPEN
        until the opening moves them, HC6), counted only (D13: nothing of any offer). Each on its own clock."""
        organisations = principal.organisations_with(*BUYING_SIDE)
        if not organisations:
            return schemas.DeadlineBoard(closing_today=[], closing_this_week=[], awaiting_opening=0,
                                         awaiting_opening_since=None)
        rows = (await self.session.execute(
            select(SpecificContract, Dps, Need.title).join(Dps, Dps.id == SpecificContract.dps_id)
            .join(Need, Need.id == SpecificContract.need_id)
            .where(SpecificContract.buyer_organisation_id.in_(organisations),
                   SpecificContract.status == SpecificContractStatus.OPEN)
            .order_by(SpecificContract.tender_deadline, SpecificContract.id))).all()
        today: list[schemas.DeadlineItem] = []
        week: list[schemas.DeadlineItem] = []
        waiting: list[datetime] = []
        for contract, dps, title in rows:
            now = listing_now(self.clock, dps)
            if now == datetime.max.replace(tzinfo=UTC):
                continue  # a sandbox whose clock ran out: its rehearsal is over, nothing waits
            if status_at(contract, now) == SpecificContractStatus.CLOSED_FOR_OFFERS:
                waiting.append(contract.tender_deadline)
                continue
            item = schemas.DeadlineItem(id=contract.id, title=title, tender_deadline=contract.tender_deadline,
                                        now=now, sandbox=dps.is_sandbox)
            midnight = datetime.combine(to_paris(now).date() + timedelta(days=1), time(), tzinfo=PARIS)
            if contract.tender_deadline < midnight:
                today.append(item)
            elif contract.tender_deadline <= now + within:
                week.append(item)
        return schemas.DeadlineBoard(closing_today=today, closing_this_week=week, awaiting_opening=len(waiting),
                                     awaiting_opening_since=min(waiting, default=None))

    async def list_for_buying_side(self, principal: Principal, *, status: SpecificContractStatus | None = None,
                                   search: str | None = None, limit: int = 50,
                                   offset: int = 0) -> schemas.BuyingSideContractPage:
        """The specific contracts of the caller's buying side (HC2: the holder's in intermediation, HC3: the buying
        organisation's when centralised), and those its central purchasing body follows in intermediation (HC2,
        marked `followed`), newest first; `status` as read now on each contract's clock (HC6), `search` in the
        title. The same scope as `tenders/access.py` `buying_side` and `follows`, as a query."""
        buying = principal.organisations_with(*BUYING_SIDE)
        following = principal.organisations_with(*DPS_WRITERS)
        if not buying and not following:
            return schemas.BuyingSideContractPage(items=[], total=0, limit=limit, offset=offset)
        followed = and_(SpecificContract.conduct_mode == ConductMode.INTERMEDIATION,
                        SpecificContract.dps_organisation_id != SpecificContract.buyer_organisation_id,
                        SpecificContract.dps_organisation_id.in_(following))
        query = (select(SpecificContract, Dps, Need.title, DpsCategory.title)
                 .join(Dps, Dps.id == SpecificContract.dps_id).join(Need, Need.id == SpecificContract.need_id)
                 .join(DpsCategory, DpsCategory.id == SpecificContract.category_id)
                 .where(or_(SpecificContract.buyer_organisation_id.in_(buying), followed)))
        if search:
            query = query.where(Need.title.ilike(f"%{_like(search)}%", escape="\\"))
        rows = (await self.session.execute(
            query.order_by(SpecificContract.invited_at.desc(), SpecificContract.id.desc()))).all()
        # HC6: each status on its own DPS's clock, so the filter on it is applied here, not in SQL.
        nows = [listing_now(self.clock, dps) for _, dps, _, _ in rows]
        read = [(contract, dps, title, category, status_at(contract, now), now)
                for (contract, dps, title, category), now in zip(rows, nows, strict=True)]
        if status is not None:
            read = [row for row in read if row[4] == status]
        page = read[offset:offset + limit]
        ids = [row[0].id for row in page]
        counts = dict((await self.session.execute(
            select(ContractInvitation.specific_contract_id, func.count()).where(
                ContractInvitation.specific_contract_id.in_(ids))
            .group_by(ContractInvitation.specific_contract_id))).all()) if ids else {}
        return schemas.BuyingSideContractPage(items=[schemas.BuyingSideContract(
            id=contract.id, title=title, dps_id=dps.id, dps_title=dps.title, category_id=contract.category_id,
            category_title=category, status=now_status, conduct_mode=contract.conduct_mode,
            tender_deadline=contract.tender_deadline, tender_deadline_paris=format_paris(contract.tender_deadline),
            invitation_count=int(counts.get(contract.id, 0)),
            followed=contract.buyer_organisation_id not in buying, read_at=now, sandbox=dps.is_sandbox)
            for contract, dps, title, category, now_status, now in page], total=len(read), limit=limit, offset=offset)

    async def of_need(self, principal: Principal, need_id: uuid.UUID) -> schemas.SpecificContract | None:
        """The specific contract a need was published as (HC5), for the need's holder's members (another holder's
        need: 404); None while the need is not published. The holder's own procedure pages start from here."""
        need = await self.session.get(Need, need_id)
        if need is None or not principal.has_role_in(need.holder_organisation_id, *HOLDER_MEMBERS):
            raise NotFound("No need has this id.")
        contract_id = await self.session.scalar(select(SpecificContract.id).where(SpecificContract.need_id == need.id))
        return await self.get(principal, contract_id) if contract_id is not None else None

    async def get(self, principal: Principal, contract_id: uuid.UUID) -> schemas.SpecificContract:
        """The notice through the request's session (the statement `NoticeReader` sends to the driver)."""
        row = (await self.session.execute(_NOTICE, {"contract_id": contract_id})).first()
        if row is None:
            raise NotFound(CONTRACT_NOT_FOUND)
        return notice_view(self.clock, principal, Notice.read(row))

    async def _to_schema(self, contract: SpecificContract) -> schemas.SpecificContract:
        """The buying side's view of a contract just written (every invitation)."""
        rows = [(vendor, at) for vendor, at in (await self.session.execute(
            select(ContractInvitation.vendor_organisation_id, ContractInvitation.invited_at)
            .where(ContractInvitation.specific_contract_id == contract.id)
            .order_by(ContractInvitation.vendor_organisation_id))).all()]
        title = await self.session.scalar(select(Need.title).where(Need.id == contract.need_id))
        dps = await self.session.get(Dps, contract.dps_id)
        assert dps is not None
        return contract_view(self.clock, contract, rows, title=title, dps=dps)

    async def my_invitations(self, principal: Principal) -> list[schemas.MyInvitation]:
        vendors = principal.organisations_with(*VENDOR_MEMBERS)
        if not vendors:
            return []
        rows = (await self.session.execute(
            select(ContractInvitation.vendor_organisation_id, ContractInvitation.invited_at, SpecificContract,
                   Need.title, Need.sandbox, Dps)
            .join(SpecificContract, SpecificContract.id == ContractInvitation.specific_contract_id)
            .join(Need, Need.id == SpecificContract.need_id)
            .join(Dps, Dps.id == SpecificContract.dps_id)
            .where(ContractInvitation.vendor_organisation_id.in_(vendors))
            .order_by(ContractInvitation.invited_at.desc(), SpecificContract.id))).all()
        # HC6: each contract's status on its own DPS's clock (a sandbox's runs faster).
        read = {dps.id: listing_now(self.clock, dps) for *_, dps in rows}
        return [schemas.MyInvitation(
            specific_contract_id=contract.id, vendor_organisation_id=vendor, dps_id=contract.dps_id,
            category_id=contract.category_id, title=title,
            status=status_at(contract, read[dps.id]), invited_at=invited_at,
            tender_deadline=contract.tender_deadline, tender_deadline_paris=format_paris(contract.tender_deadline),
            read_at=read[dps.id], sandbox=sandbox)
            for vendor, invited_at, contract, title, sandbox, dps in rows]
