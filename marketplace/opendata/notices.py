"""D19: the award notices of the specific contracts of a DPS, grouped by quarter (Directive 2014/24 art. 50(3),
domain.md §1.1, §1.7): the notice of a quarter lists the specific contracts whose award was notified in it, and is
sent within 30 days after the quarter's end.

- A quarter is a Paris-time one (`Quarter`): Q3 2026 runs from 1 July 00:00 to 1 October 00:00, Paris time; a
  contract belongs to the quarter of its notification (machine (e) SIGNED --notified--> ACTIVE), never a sandbox's.
- The notice is an OCDS release of the DPS's process (ocid A, §3.5), tag `award`, id `<ocid A>-award-<quarter>`
  (stable per DPS and quarter): an award per specific contract (its object, its awardee, its amount as signed,
  the notification's date) and its contract. It is stored once in `ocds_release` (append-only: the database
  refuses UPDATE, DELETE and TRUNCATE, migration 0031), so it is served by the OCDS feed with the DPS's other
  releases; the notice's own JSON document (`notice_document`) is read off that stored release, never recomputed
  from the domain's rows, so it stays as published.
- `publish_ended()` stores the notice of every ended quarter that has contracts and none yet (the worker's cron,
  jobs.py, and `marketplace publish-award-notices`): as soon as the quarter has ended, well within its 30 days; a
  quarter's contracts are all known then (a notification is recorded at the instant it happens).
- Its deadline (`Quarter.due_on`: the quarter's last day + 30 days, until the end of that day in Paris) shows on
  the DPS buying side's work queue from 7 days before it while the notice is unpublished (`pending_for_buying_side`).
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from uuid_utils import uuid7

from marketplace.accounts.models import Organisation
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import BUYER_ADMINS
from marketplace.awards.models import Contract, ContractTransition
from marketplace.errors import NotFound
from marketplace.lib.clock import PARIS, Clock, check_year, to_paris
from marketplace.opendata.decp import deadline_instant
from marketplace.opendata.errors import InvalidQuery
from marketplace.opendata.models import OcdsRelease
from marketplace.opendata.ocds import canonical_hash, money, party, reference, stamp
from marketplace.settings import Settings
from marketplace.tenders.models import Need, SpecificContract
from marketplace.vendors.models import Dps
from marketplace.vendors.states import DpsStatus

# D19: the grouped notice is sent at the latest 30 days after the quarter's end.
DEADLINE_DAYS = 30
# The work queue shows a notice still unpublished from this long before its deadline.
QUEUE_WITHIN = timedelta(days=7)
# The years the platform handles (lib/clock.py: 1900–9899), so that the document is never looser than the route.
QUARTER_PATTERN = r"^(19\d{2}|[2-8]\d{3}|9[0-8]\d{2})-Q[1-4]$"
TAG = "award"


@dataclass(frozen=True, slots=True, order=True)
class Quarter:
    """A calendar quarter in Paris time, written `2026-Q3`."""

    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> Quarter:
        if not re.match(QUARTER_PATTERN, text):
            raise ValueError(f"{text!r} is not a quarter (2026-Q3)")
        quarter = cls(int(text[:4]), int(text[-1]))
        check_year(date(quarter.year, 1, 1))
        return quarter

    @classmethod
    def of(cls, at: datetime) -> Quarter:
        local = to_paris(at)
        return cls(local.year, (local.month - 1) // 3 + 1)

    def __str__(self) -> str:
        return f"{self.year}-Q{self.number}"

    @property
    def starts(self) -> datetime:
        """Its first instant: the first day's midnight in Paris (never in a daylight-saving gap)."""
        return datetime(self.year, 3 * self.number - 2, 1, tzinfo=PARIS)

    @property
    def ends(self) -> datetime:
        """The instant after its last: the next quarter's start."""
        return self.next().starts

    @property
    def last_day(self) -> date:
        return self.ends.date() - timedelta(days=1)

    @property
    def due_on(self) -> date:
        """D19: the last day to send the notice, 30 days after the quarter's end (the period starts the day after
        the quarter's last day, Regulation 1182/71): 30 October for Q3."""
        return self.last_day + timedelta(days=DEADLINE_DAYS)

    @property
    def due_at(self) -> datetime:
        """The instant the deadline passes: the end of `due_on` in Paris."""
        return deadline_instant(self.due_on)

    def next(self) -> Quarter:
        return Quarter(self.year + 1, 1) if self.number == 4 else Quarter(self.year, self.number + 1)


def quarter_of_path(text: str) -> Quarter:
    try:
        return Quarter.parse(text)
    except ValueError as exc:
        raise InvalidQuery("quarter: a quarter written 2026-Q3 is expected, between the years the platform "
                           "handles", field="quarter") from exc


@dataclass(frozen=True, slots=True)
class Notified:
    """A specific contract of the quarter, as its notice states it."""

    sc: SpecificContract
    need: Need
    contract: Contract
    notified_at: datetime
    signed_at: datetime | None


@dataclass(frozen=True, slots=True)
class NoticeDue:
    """A quarter's notice still unpublished, on the work queue of its DPS's buying side."""

    dps_id: uuid.UUID
    dps_title: str
    quarter: str
    contracts: int
    due_at: datetime
    now: datetime

    @property
    def overdue(self) -> bool:
        return self.due_at <= self.now


class AwardNoticeService:
    def __init__(self, session: AsyncSession, clock: Clock, settings: Settings) -> None:
        self.session = session
        self.clock = clock
        self.settings = settings

    def ocid(self, procedure_id: uuid.UUID) -> str:
        return f"{self.settings.ocds_ocid_prefix}-{procedure_id}"

    def release_id(self, dps_id: uuid.UUID, quarter: Quarter) -> str:
        return f"{self.ocid(dps_id)}-{TAG}-{quarter}"

    # -- gathering -----------------------------------------------------------------------------------------

    def _notified(self) -> Any:
        """The notified contracts of real DPSs, real needs (sandbox ones are never published), with the instant."""
        return (select(SpecificContract.dps_id, ContractTransition.at, Contract.id)
                .join(Contract, Contract.id == ContractTransition.contract_id)
                .join(SpecificContract, SpecificContract.id == Contract.specific_contract_id)
                .join(Need, Need.id == SpecificContract.need_id)
                .join(Dps, Dps.id == SpecificContract.dps_id)
                .where(ContractTransition.action == "notified", Need.sandbox.is_(False),
                       Dps.sandbox_factor.is_(None)))

    async def contracts(self, dps_id: uuid.UUID, quarter: Quarter) -> list[Notified]:
        """The specific contracts of the DPS notified within the quarter (Paris time, its end excluded), in the
        order of their notification, in one query."""
        notified, signed = aliased(ContractTransition), aliased(ContractTransition)
        rows = (await self.session.execute(
            select(SpecificContract, Need, Contract, notified.at, signed.at)
            .join(Contract, Contract.specific_contract_id == SpecificContract.id)
            .join(notified, (notified.contract_id == Contract.id) & (notified.action == "notified"))
            .outerjoin(signed, (signed.contract_id == Contract.id) & (signed.action == "signed_by_all"))
            .join(Need, Need.id == SpecificContract.need_id)
            .join(Dps, Dps.id == SpecificContract.dps_id)
            .where(SpecificContract.dps_id == dps_id, Need.sandbox.is_(False), Dps.sandbox_factor.is_(None),
                   notified.at >= quarter.starts, notified.at < quarter.ends)
            .order_by(notified.at, Contract.id))).all()
        return [Notified(sc, need, contract, notified_at, signed_at)
                for sc, need, contract, notified_at, signed_at in rows]

    async def _real_dps(self, dps_id: uuid.UUID) -> Dps:
        dps = await self.session.get(Dps, dps_id)
        if dps is None or dps.is_sandbox or dps.status == DpsStatus.DRAFT or dps.notice_sent_at is None:
            raise NotFound("No published DPS has this id.", field="dps_id")
        return dps

    # -- the release ---------------------------------------------------------------------------------------

    async def draft(self, dps: Dps, quarter: Quarter, at: datetime) -> dict[str, Any] | None:
        """The quarter's notice as an OCDS release of the DPS's process, or None when nothing was notified."""
        notified = await self.contracts(dps.id, quarter)
        if not notified:
            return None
        buyer = await self.session.get_one(Organisation, dps.buyer_organisation_id)
        vendors = {o.id: o for o in (await self.session.scalars(select(Organisation).where(
            Organisation.id.in_({n.contract.vendor_organisation_id for n in notified})))).all()}
        ocid = self.ocid(dps.id)
        parties = [party(buyer, ["buyer", "procuringEntity"])]
        parties += [party(vendors[v], ["supplier", "tenderer"])
                    for v in dict.fromkeys(n.contract.vendor_organisation_id for n in notified)]
        awards, contracts = [], []
        for n in notified:
            vendor = vendors[n.contract.vendor_organisation_id]
            awards.append({"id": str(n.sc.id), "title": n.need.title, "status": "active",
                           "date": stamp(n.notified_at), "value": money(n.contract.amount_cents),
                           "suppliers": [reference(vendor)], "relatedLots": [str(n.sc.category_id)]})
            body: dict[str, Any] = {"id": str(n.contract.id), "awardID": str(n.sc.id), "title": n.need.title,
                                    "value": money(n.contract.amount_cents)}
            if n.signed_at is not None:
                body["dateSigned"] = stamp(n.signed_at)
            contracts.append(body)
        release_id = self.release_id(dps.id, quarter)
        return {"ocid": ocid, "id": release_id, "date": stamp(at), "tag": [TAG], "initiationType": "tender",
                "language": "fr", "parties": parties, "buyer": reference(buyer),
                "tender": {"id": str(dps.id), "title": dps.title}, "awards": awards, "contracts": contracts}

    async def publish(self, dps_id: uuid.UUID, quarter: Quarter) -> OcdsRelease | None:
        """Store the quarter's notice once it has ended (None: nothing notified in it). Idempotent and safe
        concurrently: a notice stored is returned as it was, never computed again."""
        dps = await self._real_dps(dps_id)
        stored = await self.stored(dps.id, quarter)
        if stored is not None:
            return stored
        now = self.clock.now()
        if now < quarter.ends:
            raise InvalidQuery(f"quarter: {quarter} has not ended; its notice is sent after its end (D19)",
                               field="quarter")
        release = await self.draft(dps, quarter, now)
        if release is None:
            return None
        await self.session.execute(insert(OcdsRelease).values(
            id=uuid.UUID(str(uuid7())), release_id=release["id"], ocid=release["ocid"], date=now, tags=[TAG],
            release=release, sha256=canonical_hash(release), created_at=now, updated_at=now,
        ).on_conflict_do_nothing(index_elements=["release_id"]))
        return await self.stored(dps.id, quarter)

    async def publish_ended(self) -> list[OcdsRelease]:
        """The notice of every ended quarter with notified contracts and no notice yet, oldest first."""
        current = Quarter.of(self.clock.now())
        rows = (await self.session.execute(self._notified().where(
            ContractTransition.at < current.starts))).all()
        owed = sorted({(Quarter.of(at), dps_id) for dps_id, at, _ in rows})
        if not owed:
            return []
        known = set((await self.session.scalars(select(OcdsRelease.release_id).where(OcdsRelease.release_id.in_(
            [self.release_id(d, q) for q, d in owed])))).all())
        published = []
        for quarter, dps_id in owed:
            if self.release_id(dps_id, quarter) in known:
                continue
            row = await self.publish(dps_id, quarter)
            if row is not None:
                published.append(row)
        return published

    # -- reading -------------------------------------------------------------------------------------------

    async def stored(self, dps_id: uuid.UUID, quarter: Quarter) -> OcdsRelease | None:
        return await self.session.scalar(select(OcdsRelease).where(
            OcdsRelease.release_id == self.release_id(dps_id, quarter)))

    async def notices(self, dps_id: uuid.UUID) -> list[dict[str, Any]]:
        """The DPS's published notices, oldest quarter first."""
        dps = await self._real_dps(dps_id)
        prefix = f"{self.ocid(dps.id)}-{TAG}-"
        rows = (await self.session.scalars(select(OcdsRelease).where(
            OcdsRelease.ocid == self.ocid(dps.id), OcdsRelease.release_id.like(f"{prefix}____-Q_"))
            .order_by(OcdsRelease.release_id))).all()
        return [self.notice_document(row) for row in rows]

    async def notice(self, dps_id: uuid.UUID, quarter: Quarter) -> dict[str, Any]:
        dps = await self._real_dps(dps_id)
        row = await self.stored(dps.id, quarter)
        if row is None:
            raise NotFound(f"No award notice of this DPS is published for {quarter} (published after the "
                           "quarter's end when a specific contract was notified in it).", field="quarter")
        return self.notice_document(row)

    def notice_document(self, row: OcdsRelease) -> dict[str, Any]:
        """The grouped notice as published: read off the stored release alone, so it never changes."""
        release = row.release
        quarter = Quarter.parse(row.release_id.rsplit(f"-{TAG}-", 1)[1])
        parties = {p["id"]: p for p in release["parties"]}
        buyer = parties[release["buyer"]["id"]]
        contracts = {c["awardID"]: c for c in release["contracts"]}

        def organisation(p: dict[str, Any]) -> dict[str, Any]:
            return {"name": p["name"], "siret": p.get("identifier", {}).get("id")}

        return {
            "id": row.release_id,
            "dps": {"id": release["tender"]["id"], "ocid": release["ocid"], "title": release["tender"]["title"],
                    "buyer": organisation(buyer)},
            "quarter": str(quarter),
            "periodStart": stamp(quarter.starts), "periodEnd": stamp(quarter.ends),
            "dueOn": quarter.due_on.isoformat(),
            "publishedAt": release["date"],
            "sha256": row.sha256,
            "contracts": [{
                "specificContractId": award["id"], "ocid": self.ocid(uuid.UUID(award["id"])),
                "object": award["title"], "awardee": organisation(parties[award["suppliers"][0]["id"]]),
                "amount": award["value"], "notifiedAt": award["date"],
                "signedAt": contracts.get(award["id"], {}).get("dateSigned"),
            } for award in release["awards"]],
            "release": release,
        }

    # -- the deadline on the work queue --------------------------------------------------------------------

    async def pending_for_buying_side(self, principal: Principal) -> list[NoticeDue]:
        """D19 on the work queue: the ended quarters of the caller's DPSs (for their buying organisation's
        administrators) with notified contracts and no notice yet, due within 7 days or overdue, soonest first."""
        organisations = principal.organisations_with(*BUYER_ADMINS)
        if not organisations:
            return []
        now = self.clock.now()
        current = Quarter.of(now)
        rows = (await self.session.execute(self._notified().add_columns(Dps.title).where(
            Dps.buyer_organisation_id.in_(organisations), ContractTransition.at < current.starts))).all()
        counts: dict[tuple[Quarter, uuid.UUID], int] = defaultdict(int)
        titles = {}
        for dps_id, at, _, title in rows:
            quarter = Quarter.of(at)
            if quarter.due_at - QUEUE_WITHIN <= now:
                counts[quarter, dps_id] += 1
                titles[dps_id] = title
        if not counts:
            return []
        known = set((await self.session.scalars(select(OcdsRelease.release_id).where(OcdsRelease.release_id.in_(
            [self.release_id(d, q) for q, d in counts])))).all())
        due = [NoticeDue(dps_id=d, dps_title=titles[d], quarter=str(q), contracts=n, due_at=q.due_at, now=now)
               for (q, d), n in counts.items() if self.release_id(d, q) not in known]
        return sorted(due, key=lambda item: (item.due_at, item.dps_title))
