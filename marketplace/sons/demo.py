"""The demo's SONS orders (`marketplace dev --demo`, `marketplace seed`): two referenced solutions, one order of
the demo holder walked to PAID, one left at TO_MODIFY (its advance "A modifier" at the ASP).

Built through the services, with the same rules and audit as the API: the OG's signatures (order and VA) are real
PAdES signatures checked as G16 says, made by the caller's `sign` with the DEMO PKI and checked against its DEMO
trusted list (the composition root passes both: a domain doesn't know the dev stack); the balance's invoice is a
Factur-X PDF made with the `factur-x` library.

The dispositif MS1-DUI-PA-PH-DOM of wave 1 is used if the operator created it, else created with a calendar around
the seeding (marked as demonstration in its AF version). Its ceilings are data, never code: the table imported is
used; without one, the demo imports a small table of its own, labelled as demo data, whose amounts are no AF's.
Idempotent: a second run finds the demo's orders and changes nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import facturx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.roles import Role
from marketplace.lib.clock import Clock, to_paris
from marketplace.lib.esign import SignaturePolicy
from marketplace.sons import schemas
from marketplace.sons.asp import AspService
from marketplace.sons.checks import ttc_of
from marketplace.sons.dispositifs import DispositifService, current_calendar, current_ceiling_table, import_ceilings
from marketplace.sons.models import SonsCeiling, SonsDispositif, SonsEnrolment, SonsOrder, SonsSolution
from marketplace.sons.solutions import EnrolmentService, SolutionService
from marketplace.sons.states import AcceptanceKind, AspStatus, MssCase, SignatureMethod, VatStatus
from marketplace.tenders.demo import _once, _principal, demo_pdf
from storage import ObjectStore

OPERATOR = "admin@plateforme-sad.example"
HOLDER, HOLDER_SIGNATORY, HOLDER_NAME = "direction@les-tilleuls.example", "Nathalie Petit", "Association Les Tilleuls"
VENDOR, OTHER_VENDOR = "commercial@logisante.example", "contact@dossier-soins.example"
CODE, WAVE = "MS1-DUI-PA-PH-DOM", 1
PAID_REF, TO_MODIFY_REF = "DEMO-SONS-0001", "DEMO-SONS-0002"
DEMO_CEILINGS_VERSION = "DEMO"
# Demo data, not the AF's ceilings: loaded only into a dispositif that has no imported table.
DEMO_CEILINGS = {
    "dispositif": CODE, "wave": WAVE,
    "source": "DEMO data of marketplace/sons/demo.py: NOT the AF's ceilings (import the AF annex's own table).",
    "tranches": [
        {"tranche": "DEMO-1", "label": "Démonstration : 1 à 2 ESSMS (pas un plafond de l'AF)",
         "ceilingHtCents": 1_500_000, "vatRateBp": 2000},
        {"tranche": "DEMO-2", "label": "Démonstration : 3 ESSMS ou plus (pas un plafond de l'AF)",
         "ceilingHtCents": 3_000_000, "vatRateBp": 2000},
    ],
}
# Days from the seeding, for a dispositif the demo creates.
_CALENDAR_DAYS = {"referencing_opens_at": -365, "referencing_closes_at": 365, "proof_file_deadline": 300,
                  "order_deadline": 90, "advance_deadline": 120, "deployment_deadline": 240,
                  "balance_deadline": 300}
_SOLUTIONS = (
    (VENDOR, "LogiSanté DUI", "5.1", "ANS-DEMO-LOGISANTE-5.1", False),
    (OTHER_VENDOR, "Dossier de Soins Numérique", "3.0", "ANS-DEMO-DSN-3.0", True),
)
# The IBAN of domain.md §2.6's worked example (RIB key 89), for the demo vendor's ASP enrolment.
_DEMO_IBAN = "FR7630006000011234567890189"

# (signer's name, organisation, unsigned PDF) → the PDF signed (PAdES).
Signer = Callable[[str, str, bytes], bytes]


@dataclass(frozen=True, slots=True)
class SonsSummary:
    created: bool
    dispositif_id: uuid.UUID
    demo_ceilings: bool
    solutions: list[tuple[str, uuid.UUID]]
    paid_order_id: uuid.UUID
    to_modify_order_id: uuid.UUID


def facturx_invoice(number: str, seller: str, buyer: str, ht_cents: int, ttc_cents: int) -> bytes:
    """A Factur-X (profile MINIMUM) invoice: a PDF carrying its CII XML, made by the `factur-x` library."""
    def euros(cents: int) -> str:
        return f"{cents // 100}.{cents % 100:02d}"

    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
 xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
 xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100">
 <rsm:ExchangedDocumentContext><ram:GuidelineSpecifiedDocumentContextParameter>
  <ram:ID>urn:factur-x.eu:1p0:minimum</ram:ID></ram:GuidelineSpecifiedDocumentContextParameter>
 </rsm:ExchangedDocumentContext>
 <rsm:ExchangedDocument><ram:ID>{number}</ram:ID><ram:TypeCode>380</ram:TypeCode>
  <ram:IssueDateTime><udt:DateTimeString format="102">20260401</udt:DateTimeString></ram:IssueDateTime>
 </rsm:ExchangedDocument>
 <rsm:SupplyChainTradeTransaction>
  <ram:ApplicableHeaderTradeAgreement>
   <ram:SellerTradeParty><ram:Name>{seller}</ram:Name></ram:SellerTradeParty>
   <ram:BuyerTradeParty><ram:Name>{buyer}</ram:Name></ram:BuyerTradeParty>
  </ram:ApplicableHeaderTradeAgreement>
  <ram:ApplicableHeaderTradeDelivery/>
  <ram:ApplicableHeaderTradeSettlement><ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>
   <ram:SpecifiedTradeSettlementHeaderMonetarySummation>
    <ram:TaxBasisTotalAmount>{euros(ht_cents)}</ram:TaxBasisTotalAmount>
    <ram:TaxTotalAmount currencyID="EUR">{euros(ttc_cents - ht_cents)}</ram:TaxTotalAmount>
    <ram:GrandTotalAmount>{euros(ttc_cents)}</ram:GrandTotalAmount>
    <ram:DuePayableAmount>{euros(ttc_cents)}</ram:DuePayableAmount>
   </ram:SpecifiedTradeSettlementHeaderMonetarySummation>
  </ram:ApplicableHeaderTradeSettlement>
 </rsm:SupplyChainTradeTransaction>
</rsm:CrossIndustryInvoice>""".encode()
    return bytes(facturx.generate_from_binary(demo_pdf(f"Facture {number} (démonstration)"), xml,
                                              flavor="factur-x", level="minimum", check_xsd=True))


async def _dispositif(session: AsyncSession, clock: Clock) -> SonsDispositif:
    found = await session.scalar(select(SonsDispositif).where(SonsDispositif.code == CODE,
                                                              SonsDispositif.wave == WAVE))
    if found is not None:
        return found
    now = clock.now()

    def at(name: str) -> datetime:
        return now + timedelta(days=_CALENDAR_DAYS[name])

    created = await DispositifService(session, clock).create(await _principal(session, OPERATOR),
                                                             schemas.DispositifCreate(
        code=CODE, wave=WAVE, label="DUI PA/PH/domicile, vague 1 (démonstration)",
        legal_basis="Arrêté du 2 février 2022, annexe 3 (appel à financement) — calendrier de démonstration",
        acceptance_kind=AcceptanceKind.VA,
        calendar=schemas.CalendarCreate(
            af_version="DÉMONSTRATION", advance_ratio_bp=3000, pre_referencing_days=120,
            mss_indicator_from=now - timedelta(days=30), referencing_opens_at=at("referencing_opens_at"),
            referencing_closes_at=at("referencing_closes_at"), proof_file_deadline=at("proof_file_deadline"),
            order_deadline=at("order_deadline"), advance_deadline=at("advance_deadline"),
            balance_deadline=at("balance_deadline"), deployment_deadline=at("deployment_deadline"))))
    dispositif = await session.get(SonsDispositif, created.id)
    assert dispositif is not None
    return dispositif


async def _solutions(session: AsyncSession, clock: Clock, dispositif: SonsDispositif) -> list[SonsSolution]:
    out = []
    referenced_on = to_paris(clock.now()).date() - timedelta(days=60)
    for email, name, version, number, saas in _SOLUTIONS:
        vendor = await _principal(session, email)
        found = await session.scalar(select(SonsSolution).where(SonsSolution.referencing_number == number))
        if found is None:
            created = await SolutionService(session, clock).create(vendor, schemas.SolutionCreate(
                dispositif_id=dispositif.id, name=name, version=version, referencing_number=number,
                referenced_on=referenced_on, installation_scenarios=["on-premise", "hébergé"], saas=saas))
            found = await session.get(SonsSolution, created.id)
        assert found is not None
        out.append(found)
    return out


async def seed_demo_sons(session: AsyncSession, clock: Clock, store: ObjectStore, signatures: SignaturePolicy,
                         sign: Signer) -> SonsSummary:
    dispositif = await _dispositif(session, clock)
    demo_ceilings = False
    if await current_ceiling_table(session, dispositif.id) is None:
        await import_ceilings(session, clock, "marketplace/sons/demo.py (DEMO data)",
                              json.dumps(DEMO_CEILINGS, ensure_ascii=False).encode(), DEMO_CEILINGS_VERSION)
        demo_ceilings = True
    table = await current_ceiling_table(session, dispositif.id)
    assert table is not None
    solutions = await _solutions(session, clock, dispositif)
    summary = [(f"{s.name} {s.version}", s.id) for s in solutions]
    existing = {o.order_ref: o.id for o in (await session.scalars(select(SonsOrder).where(
        SonsOrder.order_ref.in_([PAID_REF, TO_MODIFY_REF])))).all()}
    if len(existing) == 2:
        return SonsSummary(created=False, dispositif_id=dispositif.id, demo_ceilings=demo_ceilings,
                           solutions=summary, paid_order_id=existing[PAID_REF],
                           to_modify_order_id=existing[TO_MODIFY_REF])
    # The cheapest tranche of the table in force, ordered at 80 % of its ceiling (whole euros).
    ceiling = await session.scalar(select(SonsCeiling).where(SonsCeiling.table_id == table.id)
                                   .order_by(SonsCeiling.ceiling_ht_cents, SonsCeiling.tranche).limit(1))
    assert ceiling is not None
    ht = ceiling.ceiling_ht_cents * 8 // 10 // 100 * 100
    calendar = await current_calendar(session, dispositif.id)
    mss = MssCase.CAS_1 if calendar.mss_indicator_from is not None else None
    vendor, other_vendor = await _principal(session, VENDOR), await _principal(session, OTHER_VENDOR)
    holder, operator = await _principal(session, HOLDER), await _principal(session, OPERATOR)
    holder_id = holder.organisations_with(Role.HOLDER_ADMIN)[0]
    service = AspService(session, clock, store, None, signatures)
    if not await session.scalar(select(SonsEnrolment.id).where(
            SonsEnrolment.vendor_organisation_id == solutions[0].vendor_organisation_id)):
        await EnrolmentService(session, clock).enrol(vendor, schemas.EnrolmentCreate(
            iban=_DEMO_IBAN, rib_key="89", vat_status=VatStatus.LIABLE, enrolment_reference="ASP-DEMO-0001",
            referencing_number=solutions[0].referencing_number or ""))

    def signed(what: str) -> bytes:
        return sign(HOLDER_SIGNATORY, HOLDER_NAME, demo_pdf(f"{what} (démonstration)"))

    def draft(ref: str, solution: SonsSolution, site: str) -> schemas.OrderCreate:
        return schemas.OrderCreate(
            order_ref=ref, holder_organisation_id=holder_id, solution_id=solution.id,
            installation_scenario="on-premise", tranche=ceiling.tranche, amount_ht_cents=ht,
            vat_rate_bp=ceiling.vat_rate_bp, amount_ttc_cents=ttc_of(ht, ceiling.vat_rate_bp),
            sites=[schemas.SiteCreate(finess_et=site)], subscription_excluded=solution.saas)

    # One order to PAID: signed, its advance validated and paid, deployed, its VA signed, its balance paid.
    order = await service.create(vendor, draft(PAID_REF, solutions[0], "750000010"))
    document = signed(f"Bon de commande {PAID_REF}")
    await service.sign(holder, order.id, signatory_name=HOLDER_SIGNATORY, signatory_role="Directrice",
                       method=SignatureMethod.EIDAS, declared_type="application/pdf", declared_size=len(document),
                       body=_once(document))
    advance = (await service.file_advance(vendor, order.id)).requests[0]
    for status in (AspStatus.VALIDATED, AspStatus.DECIDED_PAID):
        await service.record_status(operator, advance.id, schemas.AspStatusCreate(status=status))
    await service.deploy(vendor, order.id)
    document = signed(f"Vérification d'aptitude {PAID_REF}")
    await service.accept(holder, order.id, signatory_name=HOLDER_SIGNATORY, mss_case=mss, mss_address=None,
                         declared_type="application/pdf", declared_size=len(document), body=_once(document))
    invoice = facturx_invoice(f"FA-{PAID_REF}", "LogiSanté Médico-Social SAS", HOLDER_SIGNATORY, ht,
                              ttc_of(ht, ceiling.vat_rate_bp))
    filed = await service.file_balance(vendor, order.id, mss_case=mss, declared_type="application/pdf",
                                       declared_size=len(invoice), body=_once(invoice))
    final = next(r for r in filed.requests if r.kind.value == "balance")
    paid = await service.record_status(operator, final.id, schemas.AspStatusCreate(status=AspStatus.DECIDED_PAID))

    # One order at TO_MODIFY: signed, its advance filed and sent back by the ASP ("A modifier").
    second = await service.create(other_vendor, draft(TO_MODIFY_REF, solutions[1], "750000028"))
    document = signed(f"Bon de commande {TO_MODIFY_REF}")
    await service.sign(holder, second.id, signatory_name=HOLDER_SIGNATORY, signatory_role="Directrice",
                       method=SignatureMethod.PRO_SANTE_CONNECT, declared_type="application/pdf",
                       declared_size=len(document), body=_once(document))
    advance = (await service.file_advance(other_vendor, second.id)).requests[0]
    await service.record_status(operator, advance.id, schemas.AspStatusCreate(
        status=AspStatus.TO_MODIFY, note="Démonstration : RIB illisible, à déposer de nouveau"))
    return SonsSummary(created=True, dispositif_id=dispositif.id, demo_ceilings=demo_ceilings, solutions=summary,
                       paid_order_id=paid.id, to_modify_order_id=second.id)
