"""OCDS 1.1.5 releases of every published DPS and specific contract (domain.md §3, §3.5), stored immutably.

What is published, by event, each release with an id stable within its ocid (`<ocid>-<tag>-<event>`, §3.5):

- a DPS (ocid A = prefix + its id): `tender` at its notice (lots = its categories, each with the techniques
  extension's `dynamicPurchasingSystem`), then `tenderUpdate` / `tenderCancellation` when its status changes, and
  an `award` per vendor admitted to a category (`relatedLots`), as a framework's suppliers are listed;
- a specific contract (ocid B = prefix + its id, `relatedProcesses` → A as `framework`): `tender` at the invitation,
  `tenderAmendment` per amendment, `tenderUpdate` at the opening (bid *counts* only, bid extension statistics),
  `award` at the decision (`awardUpdate` when its standstill ends), `contract` once notified (the awarded value,
  the contract's amount), `contractAmendment` per modification, `contractTermination`, `tenderCancellation`
  (sans suite) or `tenderUpdate` (unsuccessful).

Nothing of an offer's content is read here, ever (D13): the opened offers are counted, the awarded value is the
signed contract's amount. Sandbox DPSs, their contracts and rehearsal needs are never published.

The releases are computed from the domain's rows (read-only) and stored by `sync()` (the worker's cron, the CLI,
and every public read before it answers): a release already stored is never computed again nor rewritten (the
database refuses it), so what was published stays as published; the ids make `sync()` idempotent.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.models import Organisation
from marketplace.awards.models import (
    Award,
    Contract,
    ContractModification,
    ContractTransition,
    OfferRejection,
    SansSuiteDeclaration,
)
from marketplace.awards.states import AwardStatus
from marketplace.lib.clock import Clock
from marketplace.opendata.merge import compile_releases
from marketplace.opendata.models import OcdsRelease
from marketplace.settings import Settings
from marketplace.tenders.models import AmendmentKind, ContractAmendment, Need, Offer, OpeningRecord, SpecificContract
from marketplace.tenders.states import OfferStatus, SpecificContractStatus
from marketplace.vendors.models import AdmissionRequest, Dps, DpsCategory
from marketplace.vendors.states import AdmissionStatus, DpsStatus

OCDS_VERSION = "1.1"
# The extensions the releases use, by the URL of their extension.json (§3.4): the bid and lots extensions at their
# v1.1.5 tags (the lots extension's master needs the bid extension's master, which ocdsmerge 0.8 can't resolve
# offline), the techniques extension at master (the registry lists no other version).
EXTENSIONS = [
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_bid_extension/v1.1.5/extension.json",
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_lots_extension/v1.1.5/extension.json",
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_techniques_extension/master/extension.json",
]
LICENSE = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
DPS_METHOD_DETAILS = "Système d'acquisition dynamique (code de la commande publique, R2162-37 à R2162-51)"
CALL_OFF_DETAILS = "Marché spécifique d'un système d'acquisition dynamique (R2162-49 à R2162-51)"
# The DPS's status (techniques codelist) → its tender's status (tenderStatus).
_DPS_TENDER_STATUS = {DpsStatus.PENDING: "active", DpsStatus.ACTIVE: "active", DpsStatus.CANCELLED: "cancelled",
                      DpsStatus.TERMINATED: "complete"}
# An admission request admitted (and still so, suspended included), and one whose admission ended.
ADMITTED_ONCE = (AdmissionStatus.ADMITTED, AdmissionStatus.SUSPENDED)
ADMISSION_ENDED = (AdmissionStatus.EXCLUDED, AdmissionStatus.WITHDRAWN, AdmissionStatus.CLOSED)
_AWARD_STATUS = {AwardStatus.STANDSTILL: "pending", AwardStatus.ACTIVE: "active", AwardStatus.CANCELLED: "cancelled"}


@dataclass(frozen=True, slots=True)
class Draft:
    """A release as computed, before it is stored."""

    release_id: str
    ocid: str
    date: datetime
    tags: tuple[str, ...]
    release: dict[str, Any]


def stamp(at: datetime) -> str:
    """RFC 3339, UTC, as OCDS dates are (format date-time)."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def money(cents: int) -> dict[str, Any]:
    amount: int | float = cents // 100 if cents % 100 == 0 else cents / 100
    return {"amount": amount, "currency": "EUR"}


def canonical_hash(document: dict[str, Any]) -> str:
    return hashlib.sha256(rfc8785.dumps(document)).hexdigest()


def party_id(organisation: Organisation) -> str:
    # §2.2: SIRET under the org-id scheme FR-RCS ([UNVERIFIED] scheme, as DECP→OCDS converters use it).
    return f"FR-RCS-{organisation.siret}" if organisation.siret else f"org-{organisation.id}"


def party(organisation: Organisation, roles: Iterable[str]) -> dict[str, Any]:
    body: dict[str, Any] = {"id": party_id(organisation), "name": organisation.name, "roles": list(roles)}
    if organisation.siret:
        body["identifier"] = {"scheme": "FR-RCS", "id": organisation.siret, "legalName": organisation.name}
    return body


def reference(organisation: Organisation) -> dict[str, str]:
    return {"id": party_id(organisation), "name": organisation.name}


def procurement_category(cpv_codes: list[str]) -> str:
    """CPV divisions (§2.4): 45 works; 03–44 and 48 supplies (goods); the rest services."""
    division = int(cpv_codes[0][:2]) if cpv_codes else 72
    if division == 45:
        return "works"
    return "goods" if division <= 44 or division == 48 else "services"


def _release(ocid: str, tag: str, event: str, at: datetime, body: dict[str, Any]) -> Draft:
    release_id = f"{ocid}-{tag}-{event}"
    release = {"ocid": ocid, "id": release_id, "date": stamp(at), "tag": [tag], "initiationType": "tender",
               "language": "fr", **body}
    return Draft(release_id, ocid, at, (tag,), release)


class OcdsService:
    """Computes, stores and serves the OCDS releases, packages and records (§3.1)."""

    def __init__(self, session: AsyncSession, clock: Clock, settings: Settings) -> None:
        self.session = session
        self.clock = clock
        self.settings = settings

    def ocid(self, procedure_id: uuid.UUID) -> str:
        return f"{self.settings.ocds_ocid_prefix}-{procedure_id}"

    # -- storing -------------------------------------------------------------------------------------------

    async def sync(self) -> int:
        """Store every release due and not stored yet; how many were stored. Idempotent, safe concurrently (the
        release id is unique: a second writer's row is skipped)."""
        drafts = await self.drafts()
        known = set((await self.session.scalars(
            select(OcdsRelease.release_id).where(OcdsRelease.release_id.in_([d.release_id for d in drafts])))).all()
        ) if drafts else set()
        new = [d for d in drafts if d.release_id not in known]
        for draft in new:
            await self.session.execute(insert(OcdsRelease).values(
                id=_uuid7(), release_id=draft.release_id,
                ocid=draft.ocid, date=draft.date, tags=list(draft.tags), release=draft.release,
                sha256=canonical_hash(draft.release), created_at=self.clock.now(), updated_at=self.clock.now(),
            ).on_conflict_do_nothing(index_elements=["release_id"]))
        return len(new)

    # -- reading -------------------------------------------------------------------------------------------

    async def releases(self, *, ocid: str | None = None, since: datetime | None = None, limit: int = 100,
                       offset: int = 0) -> list[OcdsRelease]:
        query = select(OcdsRelease).order_by(OcdsRelease.date, OcdsRelease.release_id).limit(limit).offset(offset)
        if ocid is not None:
            query = query.where(OcdsRelease.ocid == ocid)
        if since is not None:
            query = query.where(OcdsRelease.date >= since)
        return list((await self.session.scalars(query)).all())

    def _package_meta(self, uri: str) -> dict[str, Any]:
        return {"uri": f"{self.settings.public_base_url.rstrip('/')}{uri}", "version": OCDS_VERSION,
                "publishedDate": stamp(self.clock.now()), "publisher": {"name": self.settings.ocds_publisher_name},
                "license": LICENSE, "extensions": list(EXTENSIONS)}

    def release_package(self, releases: list[OcdsRelease], uri: str) -> dict[str, Any]:
        return {**self._package_meta(uri), "releases": [r.release for r in releases]}

    async def record_package(self, ocid: str, uri: str) -> dict[str, Any] | None:
        releases = await self.releases(ocid=ocid, limit=10_000)
        if not releases:
            return None
        bodies = [r.release for r in releases]
        record = {"ocid": ocid, "releases": bodies, "compiledRelease": compile_releases(bodies)}
        return {**self._package_meta(uri), "records": [record]}

    # -- computing -----------------------------------------------------------------------------------------

    async def drafts(self) -> list[Draft]:
        """Every release the domain's present state calls for (published or not yet)."""
        now = self.clock.now()
        dpses = list((await self.session.scalars(select(Dps).where(
            Dps.sandbox_factor.is_(None), Dps.status != DpsStatus.DRAFT, Dps.notice_sent_at.is_not(None)))).all())
        if not dpses:
            return []
        by_dps = {d.id: d for d in dpses}
        categories: dict[uuid.UUID, list[DpsCategory]] = defaultdict(list)
        for category in (await self.session.scalars(select(DpsCategory).where(
                DpsCategory.dps_id.in_(by_dps)).order_by(DpsCategory.created_at, DpsCategory.id))).all():
            categories[category.dps_id].append(category)
        admissions: dict[uuid.UUID, list[AdmissionRequest]] = defaultdict(list)
        for admission in (await self.session.scalars(select(AdmissionRequest).where(
                AdmissionRequest.dps_id.in_(by_dps), AdmissionRequest.decided_at.is_not(None),
                AdmissionRequest.status.in_(ADMITTED_ONCE + ADMISSION_ENDED))
                .order_by(AdmissionRequest.decided_at, AdmissionRequest.id))).all():
            admissions[admission.dps_id].append(admission)
        stored = set((await self.session.scalars(select(OcdsRelease.release_id).where(
            OcdsRelease.ocid.in_([self.ocid(d) for d in by_dps]),
            OcdsRelease.tags.contains(["award"])))).all())
        rows = (await self.session.execute(select(SpecificContract, Need)
                                           .join(Need, Need.id == SpecificContract.need_id)
                                           .where(SpecificContract.dps_id.in_(by_dps),
                                                  SpecificContract.status != SpecificContractStatus.DRAFT,
                                                  Need.sandbox.is_(False)))).all()
        procedures = [(sc, need) for sc, need in rows]
        sc_ids = [sc.id for sc, _ in procedures]
        awards = list((await self.session.scalars(select(Award).where(Award.specific_contract_id.in_(sc_ids))
                                                  .order_by(Award.decided_at))).all()) if sc_ids else []
        contracts = list((await self.session.scalars(select(Contract).where(
            Contract.specific_contract_id.in_(sc_ids)))).all()) if sc_ids else []
        org_ids = {d.buyer_organisation_id for d in dpses} | {sc.buyer_organisation_id for sc, _ in procedures} | {
            a.vendor_organisation_id for a in awards} | {
            a.vendor_organisation_id for requests in admissions.values() for a in requests}
        organisations = {o.id: o for o in (await self.session.scalars(
            select(Organisation).where(Organisation.id.in_(org_ids)))).all()}

        drafts: list[Draft] = []
        for dps in dpses:
            drafts += self._dps_releases(dps, categories[dps.id], organisations[dps.buyer_organisation_id])
            drafts += self._admission_releases(dps, categories[dps.id], organisations, admissions[dps.id], stored)
        if not procedures:
            return drafts
        amendments: dict[uuid.UUID, list[ContractAmendment]] = defaultdict(list)
        for amendment in (await self.session.scalars(select(ContractAmendment).where(
                ContractAmendment.specific_contract_id.in_(sc_ids)).order_by(ContractAmendment.amended_at))).all():
            amendments[amendment.specific_contract_id].append(amendment)
        openings = {o.specific_contract_id: o for o in (await self.session.scalars(
            select(OpeningRecord).where(OpeningRecord.specific_contract_id.in_(sc_ids)))).all()}
        # Counts only (bid extension statistics): never an offer's content, which this module never reads.
        counts = {row[0]: (row[1], row[2]) for row in (await self.session.execute(
            select(Offer.specific_contract_id, func.count(), func.count(func.distinct(Offer.vendor_organisation_id)))
            .where(Offer.specific_contract_id.in_(sc_ids), Offer.status == OfferStatus.OPENED)
            .group_by(Offer.specific_contract_id))).all()}
        rejected = {row[0]: row[1] for row in (await self.session.execute(
            select(OfferRejection.specific_contract_id, func.count())
            .where(OfferRejection.specific_contract_id.in_(sc_ids))
            .group_by(OfferRejection.specific_contract_id))).all()}
        sans_suite = {s.specific_contract_id: s for s in (await self.session.scalars(
            select(SansSuiteDeclaration).where(SansSuiteDeclaration.specific_contract_id.in_(sc_ids)))).all()}
        contract_ids = [c.id for c in contracts]
        transitions: dict[uuid.UUID, dict[str, ContractTransition]] = defaultdict(dict)
        modifications: dict[uuid.UUID, list[ContractModification]] = defaultdict(list)
        if contract_ids:
            for transition in (await self.session.scalars(select(ContractTransition).where(
                    ContractTransition.contract_id.in_(contract_ids)).order_by(ContractTransition.at))).all():
                transitions[transition.contract_id].setdefault(transition.action, transition)
            for modification in (await self.session.scalars(select(ContractModification).where(
                    ContractModification.contract_id.in_(contract_ids))
                    .order_by(ContractModification.modified_at))).all():
                modifications[modification.contract_id].append(modification)
        awards_of: dict[uuid.UUID, list[Award]] = defaultdict(list)
        for award in awards:
            awards_of[award.specific_contract_id].append(award)
        contract_of = {c.specific_contract_id: c for c in contracts}
        for sc, need in procedures:
            dps = by_dps[sc.dps_id]
            context = _Procedure(
                sc=sc, need=need, dps_ocid=self.ocid(dps.id), dps_title=dps.title, ocid=self.ocid(sc.id),
                buyer=organisations[sc.buyer_organisation_id], organisations=organisations,
                amendments=amendments[sc.id], opening=openings.get(sc.id), counts=counts.get(sc.id, (0, 0)),
                rejected=rejected.get(sc.id, 0), awards=awards_of[sc.id], contract=contract_of.get(sc.id),
                sans_suite=sans_suite.get(sc.id))
            contract = context.contract
            drafts += context.releases(now, transitions[contract.id] if contract else {},
                                       modifications[contract.id] if contract else [])
        return drafts

    def _dps_releases(self, dps: Dps, categories: list[DpsCategory], buyer: Organisation) -> list[Draft]:
        ocid = self.ocid(dps.id)
        assert dps.notice_sent_at is not None

        def tender(status: DpsStatus) -> dict[str, Any]:
            techniques = {"hasDynamicPurchasingSystem": True, "dynamicPurchasingSystem": {
                "type": "open" if dps.usable_by_other_buyers else "closed", "status": status.value}}
            return {"id": str(dps.id), "status": _DPS_TENDER_STATUS[status], "techniques": techniques,
                    "lots": [{"id": str(c.id), "status": _DPS_TENDER_STATUS[status],
                              "techniques": techniques} for c in categories]}

        parties = {"parties": [party(buyer, ["buyer", "procuringEntity"])], "buyer": reference(buyer)}
        notice = tender(DpsStatus.PENDING)
        notice.update({
            "title": dps.title, "description": dps.description, "procuringEntity": reference(buyer),
            "procurementMethod": "selective", "procurementMethodDetails": DPS_METHOD_DETAILS,
            "submissionMethod": ["electronicSubmission"], "awardCriteria": "ratedCriteria",
            "awardCriteriaDetails": "; ".join(f"{c['name']} ({c['weightMin']}–{c['weightMax']} %)"
                                              for c in dps.award_criteria),
            "tenderPeriod": {"startDate": stamp(dps.notice_sent_at), "endDate": stamp(dps.validity_end)},
            "contractPeriod": {"startDate": stamp(dps.validity_start), "endDate": stamp(dps.validity_end)},
        })
        for lot, category in zip(notice["lots"], categories, strict=True):
            lot.update({"title": category.title, "description": category.selection_criteria})
        drafts = [_release(ocid, "tender", "notice", dps.notice_sent_at, {**parties, "tender": notice})]
        if dps.status != DpsStatus.PENDING:
            tag = "tenderCancellation" if dps.status == DpsStatus.CANCELLED else "tenderUpdate"
            # The status change's instant is not stored on the DPS: the release is dated when it is first seen
            # (the cron runs every five minutes), and keeps that date.
            drafts.append(_release(ocid, tag, dps.status.value, self.clock.now(),
                                   {**parties, "tender": tender(dps.status)}))
        return drafts

    def _admission_releases(self, dps: Dps, categories: list[DpsCategory], organisations: dict[uuid.UUID, Organisation],
                            admissions: list[AdmissionRequest], stored: set[str]) -> list[Draft]:
        """§3.5: the vendors admitted to each category, as the award of a framework lists its suppliers (one award
        per admission, `relatedLots` its category). Nothing of the request but who, where and when: the
        self-declaration and the documents stay private. An admission that ends (exclusion, withdrawal, the DPS's
        end) cancels its award, dated when first seen."""
        ocid = self.ocid(dps.id)
        buyer = organisations[dps.buyer_organisation_id]
        titles = {c.id: c.title for c in categories}
        drafts = []
        for admission in admissions:
            vendor = organisations[admission.vendor_organisation_id]
            base = {"parties": [party(buyer, ["buyer", "procuringEntity"]), party(vendor, ["supplier", "tenderer"])],
                    "buyer": reference(buyer)}
            award_id = f"{ocid}-award-{admission.id}"
            if admission.status in ADMITTED_ONCE:
                assert admission.decided_at is not None
                drafts.append(_release(ocid, "award", str(admission.id), admission.decided_at, {**base, "awards": [{
                    "id": str(admission.id), "title": f"Admission au SAD : {titles.get(admission.category_id, '')}",
                    "status": "active", "date": stamp(admission.decided_at), "suppliers": [reference(vendor)],
                    "relatedLots": [str(admission.category_id)]}]}))
            elif award_id in stored:
                drafts.append(_release(ocid, "awardUpdate", f"{admission.id}-{admission.status.value}",
                                       self.clock.now(), {**base, "awards": [
                                           {"id": str(admission.id), "status": "cancelled"}]}))
        return drafts


@dataclass
class _Procedure:
    """One specific contract's rows, and the releases they call for."""

    sc: SpecificContract
    need: Need
    dps_ocid: str
    dps_title: str
    ocid: str
    buyer: Organisation
    organisations: dict[uuid.UUID, Organisation]
    amendments: list[ContractAmendment]
    opening: OpeningRecord | None
    counts: tuple[int, int]
    rejected: int
    awards: list[Award]
    contract: Contract | None
    sans_suite: SansSuiteDeclaration | None

    def _base(self, *suppliers: Organisation) -> dict[str, Any]:
        parties = [party(self.buyer, ["buyer", "procuringEntity"])]
        parties += [party(s, ["supplier", "tenderer"]) for s in suppliers]
        return {"parties": parties, "buyer": reference(self.buyer)}

    def _statistics(self, *, valid: bool) -> dict[str, Any]:
        bids, bidders = self.counts
        statistics = [{"id": "bids", "measure": "bids", "value": bids},
                      {"id": "bidders", "measure": "bidders", "value": bidders}]
        if valid:
            statistics.append({"id": "validBids", "measure": "validBids", "value": bids - self.rejected})
        return {"statistics": statistics}

    def releases(self, now: datetime, transitions: dict[str, ContractTransition],
                 modifications: list[ContractModification]) -> list[Draft]:
        sc, need, ocid = self.sc, self.need, self.ocid
        sid = str(sc.id)
        deadlines = [a for a in self.amendments if a.kind == AmendmentKind.DEADLINE]
        # The deadline as first published: a later extension is its own release (tenderAmendment).
        first_deadline = (datetime.fromisoformat(str(deadlines[0].old_value["tenderDeadline"]))
                          if deadlines and deadlines[0].old_value else sc.tender_deadline)
        items = [{"id": str(n), "description": need.title,
                  "classification": {"scheme": "CPV", "id": code}} for n, code in enumerate(need.cpv_codes, 1)]
        tender: dict[str, Any] = {
            "id": sid, "title": need.title, "description": need.description, "status": "active",
            "procuringEntity": reference(self.buyer), "procurementMethod": "selective",
            "procurementMethodDetails": CALL_OFF_DETAILS,
            "mainProcurementCategory": procurement_category(need.cpv_codes),
            "submissionMethod": ["electronicSubmission"], "awardCriteria": "ratedCriteria",
            "awardCriteriaDetails": "; ".join(f"{c['name']} ({c['weight']} %)" for c in sc.award_criteria),
            "tenderPeriod": {"startDate": stamp(sc.invited_at), "endDate": stamp(first_deadline)},
            "techniques": {"hasDynamicPurchasingSystem": True}, "competitive": True,
        }
        if items:
            tender["items"] = items
        related = {"relatedProcesses": [{"id": "dps", "relationship": ["framework"], "title": self.dps_title,
                                         "scheme": "ocid", "identifier": self.dps_ocid}]}
        drafts = [_release(ocid, "tender", "invitation", sc.invited_at, {**self._base(), **related, "tender": tender})]
        for amendment in self.amendments:
            change: dict[str, Any] = {"id": sid, "amendments": [{
                "id": str(amendment.id), "date": stamp(amendment.amended_at), "rationale": amendment.reason}]}
            if amendment.kind == AmendmentKind.DEADLINE:
                change["tenderPeriod"] = {"endDate": stamp(datetime.fromisoformat(
                    str(amendment.new_value["tenderDeadline"])))}
            drafts.append(_release(ocid, "tenderAmendment", str(amendment.id), amendment.amended_at,
                                   {**self._base(), "tender": change}))
        if self.opening is not None:
            _, bidders = self.counts
            drafts.append(_release(ocid, "tenderUpdate", "opening", self.opening.opened_at, {
                **self._base(), "tender": {"id": sid, "numberOfTenderers": bidders},
                "bids": self._statistics(valid=False)}))
        for award in self.awards:
            drafts += self._award_releases(award, now)
        if self.contract is not None:
            drafts += self._contract_releases(self.contract, transitions, modifications)
        if self.sans_suite is not None:
            body: dict[str, Any] = {**self._base(), "tender": {"id": sid, "status": "cancelled"}}
            if self.sans_suite.cancelled_award_id is not None:
                body["awards"] = [{"id": str(self.sans_suite.cancelled_award_id), "status": "cancelled"}]
            drafts.append(_release(ocid, "tenderCancellation", "sans-suite", self.sans_suite.declared_at, body))
        elif sc.status == SpecificContractStatus.UNSUCCESSFUL:
            drafts.append(_release(ocid, "tenderUpdate", "unsuccessful", sc.updated_at,
                                   {**self._base(), "tender": {"id": sid, "status": "unsuccessful"}}))
        return drafts

    def _award_releases(self, award: Award, now: datetime) -> list[Draft]:
        supplier = self.organisations[award.vendor_organisation_id]
        bid_id = f"bid-{award.offer_id}"
        status = AwardStatus.STANDSTILL if award.standstill_required else AwardStatus.ACTIVE
        body = {**self._base(supplier),
                "bids": {**self._statistics(valid=True), "details": [
                    {"id": bid_id, "status": "valid", "tenderers": [reference(supplier)]}]},
                "awards": [{"id": str(award.id), "title": self.need.title, "status": _AWARD_STATUS[status],
                            "date": stamp(award.decided_at), "suppliers": [reference(supplier)],
                            "relatedBid": bid_id}]}
        drafts = [_release(self.ocid, "award", str(award.id), award.decided_at, body)]
        if award.standstill_required and now >= award.earliest_signature_at and award.status != AwardStatus.CANCELLED:
            # D18: the standstill ended, the award is active (derived on the clock, as awards/states.py does).
            drafts.append(_release(self.ocid, "awardUpdate", f"{award.id}-active", award.earliest_signature_at, {
                **self._base(supplier), "awards": [{"id": str(award.id), "status": "active"}]}))
        if award.status == AwardStatus.CANCELLED and (self.sans_suite is None
                                                      or self.sans_suite.cancelled_award_id != award.id):
            drafts.append(_release(self.ocid, "awardCancellation", str(award.id), award.updated_at, {
                **self._base(supplier), "awards": [{"id": str(award.id), "status": "cancelled"}]}))
        return drafts

    def _contract_releases(self, contract: Contract, transitions: dict[str, ContractTransition],
                           modifications: list[ContractModification]) -> list[Draft]:
        supplier = self.organisations.get(contract.vendor_organisation_id)
        base = self._base(*([supplier] if supplier else []))
        cid, aid = str(contract.id), str(contract.award_id)
        drafts: list[Draft] = []
        notified = transitions.get("notified")
        if notified is not None:
            signed = transitions.get("signed_by_all")
            body: dict[str, Any] = {"id": cid, "awardID": aid, "title": self.need.title, "status": "active",
                                    "value": money(contract.amount_cents)}
            if signed is not None:
                body["dateSigned"] = stamp(signed.at)
            drafts.append(_release(self.ocid, "contract", cid, notified.at, {
                **base, "tender": {"id": str(self.sc.id), "status": "complete"},
                "awards": [{"id": aid, "status": "active", "value": money(contract.amount_cents)}],
                "contracts": [body]}))
        for modification in modifications:
            drafts.append(_release(self.ocid, "contractAmendment", str(modification.id), modification.modified_at, {
                **base, "contracts": [{"id": cid, "awardID": aid, "value": money(modification.amount_cents),
                                       "amendments": [{"id": str(modification.id),
                                                       "date": stamp(modification.modified_at),
                                                       "rationale": modification.reason}]}]}))
        for action in ("completed", "terminated_early"):
            ended = transitions.get(action)
            if ended is not None:
                drafts.append(_release(self.ocid, "contractTermination", cid, ended.at, {
                    **base, "contracts": [{"id": cid, "awardID": aid, "status": "terminated"}]}))
        abandoned = transitions.get("abandon")
        if abandoned is not None:
            drafts.append(_release(self.ocid, "contractUpdate", f"{cid}-abandoned", abandoned.at, {
                **base, "contracts": [{"id": cid, "awardID": aid, "status": "cancelled"}]}))
        return drafts


def _uuid7() -> uuid.UUID:
    from uuid_utils import uuid7

    return uuid.UUID(str(uuid7()))
