"""SONS through the API, for tests (domain.md §5 with §12): a dispositif with its calendar around a given instant and
the sample ceiling table (imported by the product's own service, as `./run import-sons-ceilings` does), a vendor's
referenced solution and enrolment, an order drafted and signed, documents signed with the test PKI (G16), and
Factur-X invoices (a PDF carrying its CII XML)."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pypdf import PdfReader, PdfWriter
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from marketplace.lib.clock import system_clock, to_paris
from marketplace.settings import Settings
from marketplace.sons.dispositifs import import_ceilings
from tests.esign_pki import signed_contract_pdf
from tests.vendors.api import minimal_pdf
from tests.world import World

Client = AsyncTestClient[Litestar]
CEILINGS = Path(__file__).resolve().parent.parent / "data" / "sons_ceilings_sample.json"
CODE, WAVE = "MS1-DUI-PA-PH-DOM", 1
IBAN = "FR7630006000011234567890189"  # domain.md §2.6's verified example (RIB key 89)
SIGNATORY = "Jeanne Martin"
# The sample's tranche T1: 15 000 € HT at 20 %.
T1_CEILING = 1_500_000
HT, VAT, TTC = 1_200_000, 2000, 1_440_000


def ok(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: " \
                                           f"{response.status_code} {response.text}"
    return response.json()


def problem(response: httpx.Response, status: int, rule: str) -> dict[str, Any]:
    """A refusal with its status, naming `rule`."""
    body = ok(response, status)
    assert body.get("rule") == rule, body
    return dict(body)


def calendar(at: datetime, **changes: Any) -> dict[str, Any]:
    days = {"referencingOpensAt": -400, "referencingClosesAt": 400, "proofFileDeadline": 300, "orderDeadline": 30,
            "advanceDeadline": 60, "deploymentDeadline": 200, "balanceDeadline": 300}
    body: dict[str, Any] = {name: (at + timedelta(days=d)).isoformat() for name, d in days.items()}
    body |= {"afVersion": "AF-2022-annexe-3", "advanceRatioBp": 3000, "preReferencingDays": 120,
             "mssIndicatorFrom": (at - timedelta(days=1)).isoformat()}
    return body | changes


async def dispositif(client: Client, world: World, settings: Settings, at: datetime, **changes: Any) -> dict[str, Any]:
    """The MS1 dispositif of wave 1 (VA), its calendar around `at`, and the sample ceiling table."""
    created = ok(await client.post("/sons/dispositifs", headers=world["platform_admin"].headers, json={
        "code": CODE, "wave": WAVE, "label": "DUI PA/PH/domicile, vague 1",
        "legalBasis": "Arrêté du 2 février 2022, annexe 3 (appel à financement)", "acceptanceKind": "VA",
        "calendar": calendar(at, **changes)}), 201)
    engine = create_async_engine(settings.migration_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            await import_ceilings(session, system_clock, CEILINGS, CEILINGS.read_bytes(), "sample")
            await session.commit()
    finally:
        await engine.dispose()
    return dict(ok(await client.get(f"/sons/dispositifs/{created['id']}", headers=world["platform_admin"].headers),
                   200))


async def solution(client: Client, world: World, dispositif_id: str, at: datetime, *, person: str = "vendor_admin",
                   referenced: bool = True, proof_in_days: int | None = None, saas: bool = False,
                   name: str = "Dossier Usager Médico-Social") -> dict[str, Any]:
    body: dict[str, Any] = {"dispositifId": dispositif_id, "name": name, "version": "4.2",
                            "installationScenarios": ["on-premise", "hébergé"], "saas": saas}
    day = to_paris(at).date()
    if referenced:
        body |= {"referencingNumber": f"ANS-SEG-{person}-{name[:3]}", "referencedOn": (day - timedelta(days=10))
                 .isoformat()}
    if proof_in_days is not None:
        body["proofFileSubmittedOn"] = (day + timedelta(days=proof_in_days)).isoformat()
    return dict(ok(await client.post("/sons/solutions", headers=world[person].headers, json=body), 201))


def order_body(world: World, solution_id: str, **changes: Any) -> dict[str, Any]:
    body = {"orderRef": "BDC-0001", "holderOrganisationId": str(world.organisations["holder"]),
            "solutionId": solution_id, "installationScenario": "on-premise", "tranche": "T1",
            "amountHtCents": HT, "vatRateBp": VAT, "amountTtcCents": TTC, "sites": [{"finessEt": "750000010"}]}
    return body | changes


async def draft(client: Client, world: World, solution_id: str, **changes: Any) -> httpx.Response:
    return await client.post("/sons/orders", headers=world["vendor_admin"].headers,
                             json=order_body(world, solution_id, **changes))


def signed(label: str, signer: str = SIGNATORY) -> bytes:
    return signed_contract_pdf(signer, label)


async def sign(client: Client, world: World, order_id: str, document: bytes | None = None, *,
               person: str = "holder_admin") -> httpx.Response:
    return await client.put(f"/sons/orders/{order_id}/signature", content=document or signed(f"BDC {order_id}"),
                            params={"signatoryName": SIGNATORY, "signatoryRole": "Directrice",
                                    "method": "pro_sante_connect"},
                            headers={**world[person].headers, "content-type": "application/pdf"})


async def accept(client: Client, world: World, order_id: str, *, mss_case: str | None = "CAS_1",
                 signatory: str = SIGNATORY) -> httpx.Response:
    params = {"signatoryName": signatory} | ({"mssCase": mss_case} if mss_case else {})
    return await client.put(f"/sons/orders/{order_id}/acceptance", content=signed(f"VA {order_id}", signatory),
                            params=params, headers={**world["holder_admin"].headers, "content-type": "application/pdf"})


def facturx(*, number: str = "FA-2026-001", buyer: str = SIGNATORY, ht: int = HT, ttc: int = TTC) -> bytes:
    """A Factur-X invoice: a PDF carrying its CII XML (`factur-x.xml`) with its totals and buyer."""
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
   <ram:SellerTradeParty><ram:Name>Logiciels Médico-Sociaux SAS</ram:Name></ram:SellerTradeParty>
   <ram:BuyerTradeParty><ram:Name>{buyer}</ram:Name></ram:BuyerTradeParty>
  </ram:ApplicableHeaderTradeAgreement>
  <ram:ApplicableHeaderTradeDelivery/>
  <ram:ApplicableHeaderTradeSettlement><ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>
   <ram:SpecifiedTradeSettlementHeaderMonetarySummation>
    <ram:TaxBasisTotalAmount>{euros(ht)}</ram:TaxBasisTotalAmount>
    <ram:TaxTotalAmount currencyID="EUR">{euros(ttc - ht)}</ram:TaxTotalAmount>
    <ram:GrandTotalAmount currencyID="EUR">{euros(ttc)}</ram:GrandTotalAmount>
    <ram:DuePayableAmount>{euros(ttc)}</ram:DuePayableAmount>
   </ram:SpecifiedTradeSettlementHeaderMonetarySummation>
  </ram:ApplicableHeaderTradeSettlement>
 </rsm:SupplyChainTradeTransaction>
</rsm:CrossIndustryInvoice>""".encode()
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(minimal_pdf(f"facture {number}"))))
    writer.add_attachment("factur-x.xml", xml)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def balance(client: Client, world: World, order_id: str, invoice: bytes, *,
                  mss_case: str | None = "CAS_1") -> httpx.Response:
    return await client.put(f"/sons/orders/{order_id}/balance", content=invoice,
                            params={"mssCase": mss_case} if mss_case else {},
                            headers={**world["vendor_admin"].headers, "content-type": "application/pdf"})


async def asp(client: Client, world: World, request_id: str, status: str, **extra: Any) -> httpx.Response:
    return await client.post(f"/sons/asp-requests/{request_id}/statuses", headers=world["platform_admin"].headers,
                             json={"status": status, **extra})


def request_of(order: dict[str, Any], kind: str, position: int = 0) -> dict[str, Any]:
    return next(r for r in order["requests"] if r["kind"] == kind and r["position"] == position)
