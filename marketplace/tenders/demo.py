"""The demo sandbox: a ready rehearsal for a newcomer (`marketplace dev --demo`, `marketplace seed`), its
procedure's part.

A sandbox DPS of the demo central purchasing body at one sandbox day per real minute (vendors/sandbox.py),
conducted in intermediation (HC2: the holder buys), with two categories, both demo vendors admitted to one of
them, the holder's opener holding an opener key, and a submitted need of the demo holder. The funding's part
(the need filed to a rehearsal call of the ARS and selected) and the publication by the holder are
funding/demo.py's, a layer up: what is left to walk is the offers, the holder's opening, evaluation, award and
contract, and the grant's tranches. Built through the same services as the API, with the same rules and audit;
D4's 30-day window is skipped with the sandbox fast-forward any buyer may use.

Idempotent in its own way: a start that finds a demo sandbox still open for offers reuses it; otherwise (its
deadline passed while nobody looked) it seeds a fresh one, so `dev --demo` always leaves one to walk.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
from fpdf import FPDF
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.models import Membership, User
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import Role
from marketplace.lib.clock import Clock, real_span
from marketplace.reference.cpv import seed_cpv_codes
from marketplace.tenders import schemas as tender_schemas
from marketplace.tenders.contracts import SpecificContractService
from marketplace.tenders.dps_time import DpsTimeService
from marketplace.tenders.models import Need, OpenerKey, SpecificContract
from marketplace.tenders.needs import NeedService
from marketplace.tenders.openers import OpenerService
from marketplace.tenders.states import SpecificContractStatus
from marketplace.vendors import schemas as dps_schemas
from marketplace.vendors.admissions import AdmissionService
from marketplace.vendors.decisions import DecisionService
from marketplace.vendors.documents import AdmissionDocumentService
from marketplace.vendors.dps import DpsService
from marketplace.vendors.models import Dps
from marketplace.vendors.sandbox import dps_clock
from storage import ObjectStore

DEMO_FACTOR = 1440  # a sandbox day per real minute
DEMO_SANDBOX_TITLE = "Bac à sable — SAD ESMS numérique (démonstration)"
DEMO_OPENER_PASSPHRASE = "ouverture des plis de démonstration"  # noqa: S105 - printed to the developer on purpose
BUYER = "acheteur@centrale-achat.example"
HOLDER = "direction@les-tilleuls.example"
HOLDER_OPENER = "ouverture@les-tilleuls.example"
VENDORS = ("commercial@logisante.example", "contact@dossier-soins.example")
# D9's 10 days are a délai franc (the day of the invitation doesn't count): 11 days and an hour always cover them.
TENDER_PERIOD = timedelta(days=11, hours=1)
# Reused while at least this much sandbox time is left to submit offers (two real minutes).
STILL_OPEN = timedelta(days=2)

_DPS = {
    "title": DEMO_SANDBOX_TITLE,
    "description": "Procédure fictive de démonstration : acquisition de solutions de dossier usager informatisé "
                   "pour les ESSMS. Sans valeur juridique.",
    "usableByOtherBuyers": False,
    # ESMS numérique's mode (HC1, HC2): the holder publishes, opens with its opener's key (seeded below),
    # scores, awards and signs; the central purchasing body follows.
    "conductMode": "intermediation",
    "awardCriteria": [{"name": "Prix", "weightMin": 20, "weightMax": 50},
                      {"name": "Valeur technique", "weightMin": 50, "weightMax": 80}],
    "categories": [{"sector": sector, "deliveryMode": "saas", "title": f"DUI {label} en SaaS",
                    "selectionCriteria": "Capacités techniques et professionnelles ; références.",
                    "requiredDocuments": [{"kind": "kbis", "label": "Extrait Kbis de moins de trois mois",
                                           "maxBytes": 1024 * 1024}]}
                   for sector, label in (("grand_age", "grand âge"), ("handicap", "handicap"))],
}
_NEED = {
    "title": "Démonstration — mise en conformité du DUI de l'EHPAD Les Tilleuls",
    "description": "Besoin fictif de démonstration : mise en conformité Ségur du dossier usager informatisé.",
    "campaign": 2025, "projectType": 2, "requestedCall": "regional", "appliedOn": "2025-03-01",
    "facilities": [{"finessEt": "750000010", "equipmentBudgetCents": 0}],
    "coreServices": ["ins", "mss", "dmp", "eprescription"],
    "gdprCompliance": True, "targetMapConvergence": True, "businessContinuity": True,
    "usageTargetsDeclared": True, "software": {"couloir": "MS1", "referenced": True},
    "fundingSchedule": [40, 40, 20], "arsPrevalidationReference": "ARS-IDF-2025-042",
    "arsPrevalidatedOn": "2025-06-01", "sector": "grand_age", "deliveryMode": "saas", "sandbox": True,
    "cpvCodes": ["48180000-3", "72000000-5"],
}
# The CPV codes the demo need cites (CPV 2008 labels), loaded when no table was imported yet so that
# `dev --demo` runs on a fresh database; never the table itself (`./run import-cpv`, reference/cpv.py).
DEMO_CPV_CODES = {
    "48000000-8": "Software package and information systems",
    "48180000-3": "Medical software package",
    "72000000-5": "IT services: consulting, software development, Internet and support",
}
DEMO_CPV_VERSION = "demo"
_ADMISSION = {
    "selfDeclaration": {"noExclusionGrounds": True, "taxAndSocialObligationsMet": True,
                        "legalRepresentative": "Représentant de démonstration"},
    "referencedSoftware": {"referencingId": "SEGUR-DEMO-1", "software": "Logiciel de démonstration",
                           "version": "1.0", "dispositif": "DUI-ESMS"},
}


@dataclass(frozen=True, slots=True)
class SandboxSummary:
    created: bool
    dps_id: uuid.UUID
    specific_contract_id: uuid.UUID
    factor: int
    tender_deadline: datetime   # on the sandbox's clock
    deadline_in: timedelta      # real time left to submit offers
    need_id: uuid.UUID
    cpv_seeded: bool = False    # the CPV table was empty: the demo's few codes were loaded
    call_id: uuid.UUID | None = None  # the rehearsal call the need is filed to (funding/demo.py)


@dataclass(frozen=True, slots=True)
class PreparedSandbox:
    """A fresh demo sandbox before its need's funding and publication."""

    dps_id: uuid.UUID
    need_id: uuid.UUID
    cpv_seeded: bool


async def _principal(session: AsyncSession, email: str) -> Principal:
    user = await session.scalar(select(User).where(User.email == email))
    assert user is not None, f"the demo account {email} is seeded first (accounts/demo.py)"
    rows = (await session.execute(select(Membership.organisation_id, Membership.roles).where(
        Membership.user_id == user.id))).all()
    return Principal(user_id=user.id, api_key_id=None, email=user.email,
                     roles_by_organisation={org: frozenset(Role(r) for r in roles) for org, roles in rows})


def demo_pdf(text: str) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=14)
    pdf.cell(0, 10, text.encode("latin-1", "replace").decode("latin-1"))
    return bytes(pdf.output())


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def open_demo_sandbox(session: AsyncSession, clock: Clock) -> SandboxSummary | None:
    """The latest demo sandbox still open for offers for a while, if any."""
    buyer_organisation = (await _principal(session, BUYER)).organisations_with(Role.BUYER_ADMIN)[0]
    rows = (await session.execute(
        select(SpecificContract, Dps).join(Dps, Dps.id == SpecificContract.dps_id)
        .where(Dps.buyer_organisation_id == buyer_organisation, Dps.title == DEMO_SANDBOX_TITLE,
               Dps.sandbox_factor.is_not(None), SpecificContract.status == SpecificContractStatus.OPEN)
        .order_by(SpecificContract.created_at.desc()).limit(1))).all()
    for contract, dps in rows:
        sandbox = dps_clock(clock, dps)
        left = contract.tender_deadline - sandbox.now()
        if left > STILL_OPEN:
            need = await session.get(Need, contract.need_id)
            assert need is not None
            return SandboxSummary(created=False, dps_id=dps.id, specific_contract_id=contract.id,
                                  factor=dps.sandbox_factor or 1, tender_deadline=contract.tender_deadline,
                                  deadline_in=real_span(sandbox, left), need_id=need.id, call_id=need.call_id)
    return None


async def prepare_demo_sandbox(session: AsyncSession, clock: Clock, store: ObjectStore) -> PreparedSandbox:
    buyer = await _principal(session, BUYER)
    dps_service = DpsService(session, clock)
    admissions, decisions = AdmissionService(session, clock), DecisionService(session, clock)
    now = clock.now()
    created = await dps_service.create(buyer, msgspec.convert({
        **_DPS, "validityStart": now.isoformat(), "validityEnd": (now + timedelta(days=4 * 365)).isoformat(),
        "sandbox": {"factor": DEMO_FACTOR}}, dps_schemas.DpsCreate))
    assert created.sandbox_clock is not None
    # D4's 30 days are a délai franc: 31 days and two hours always cover them, whatever the hour and the DST.
    await dps_service.publish(buyer, created.id, dps_schemas.DpsPublish(
        initial_window_end=created.sandbox_clock.now + timedelta(days=31, hours=2)))
    category = next(c.id for c in created.categories if c.sector == "grand_age")
    requests = []
    for email in VENDORS:
        vendor = await _principal(session, email)
        request = await admissions.apply(vendor, msgspec.convert({**_ADMISSION, "categoryId": str(category)},
                                                                 dps_schemas.AdmissionCreate))
        kbis = demo_pdf(f"Extrait Kbis de démonstration — {email}")
        await AdmissionDocumentService(session, clock, store).upload_document(
            vendor, request.id, "kbis", filename="kbis.pdf", declared_type="application/pdf",
            declared_size=len(kbis), body=_once(kbis), valid_until=None)
        requests.append(request.id)
        await admissions.submit(vendor, request.id)
    # D4's window, skipped as any buyer of a sandbox may, rather than waited for (31 real minutes); the requests
    # of the window are decided once it has closed, before the DPS becomes active (D6).
    await DpsTimeService(session, clock).fast_forward(buyer, created.id,
                                                      dps_schemas.SandboxFastForward(days=31, hours=3))
    for request_id in requests:
        await decisions.admit(buyer, request_id)
    await dps_service.activate(buyer, created.id)

    # HC2: the offers are sealed to the holder's openers' keys, registered before the publication.
    opener = await _principal(session, HOLDER_OPENER)
    holder_organisation = opener.organisations_with(Role.HOLDER_OPENER)[0]
    if await session.scalar(select(OpenerKey.id).where(OpenerKey.user_id == opener.user_id,
                                                       OpenerKey.organisation_id == holder_organisation,
                                                       OpenerKey.retired_at.is_(None))) is None:
        await OpenerService(session, clock).register(opener, tender_schemas.OpenerKeyCreate(
            organisation_id=holder_organisation, passphrase=DEMO_OPENER_PASSPHRASE))
    cpv_seeded = await seed_cpv_codes(session, clock, DEMO_CPV_CODES, DEMO_CPV_VERSION) is not None
    holder = await _principal(session, HOLDER)
    needs = NeedService(session, clock)
    need = await needs.create(holder, msgspec.convert({**_NEED, "dpsId": str(created.id)}, tender_schemas.NeedCreate))
    await needs.submit(holder, need.id)
    return PreparedSandbox(dps_id=created.id, need_id=need.id, cpv_seeded=cpv_seeded)


async def publish_demo_need(session: AsyncSession, clock: Clock, prepared: PreparedSandbox,
                            call_id: uuid.UUID | None) -> SandboxSummary:
    """The holder publishes its (funded) need on the sandbox, open for offers for eleven sandbox days (HC2)."""
    holder = await _principal(session, HOLDER)
    sandbox_now = (await DpsService(session, clock).get(prepared.dps_id, holder)).sandbox_clock
    assert sandbox_now is not None
    contract = await SpecificContractService(session, clock).publish(holder, prepared.need_id,
                                                                      tender_schemas.NeedPublish(
        dps_id=prepared.dps_id, tender_deadline=sandbox_now.now + TENDER_PERIOD,
        award_criteria=[tender_schemas.CriterionWeight(name="Prix", weight=40),
                        tender_schemas.CriterionWeight(name="Valeur technique", weight=60)]))
    return SandboxSummary(created=True, dps_id=prepared.dps_id, specific_contract_id=contract.id,
                          factor=DEMO_FACTOR, tender_deadline=contract.tender_deadline,
                          deadline_in=TENDER_PERIOD / DEMO_FACTOR, need_id=prepared.need_id,
                          cpv_seeded=prepared.cpv_seeded, call_id=call_id)
