"""SN7: the balance's invoice, a Factur-X PDF (a PDF/A-3 carrying its CII XML): its number, totals and buyer, read
from the embedded XML, never from the PDF's text.

The XML is taken out of the PDF by the `factur-x` package, then parsed without entities nor network (lxml);
only the fields checked here are read.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

import facturx  # type: ignore[import-untyped, unused-ignore]
from lxml import etree

from marketplace.lib.schemas import CamelStruct

_NS = {"rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
       "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}
_SUMMATION = "//ram:ApplicableHeaderTradeSettlement/ram:SpecifiedTradeSettlementHeaderMonetarySummation/"


class InvoiceUnreadable(ValueError):
    """Not a Factur-X invoice, or one whose checked fields can't be read; the message says which."""


class Invoice(CamelStruct):
    number: str
    buyer_name: str
    tax_basis_cents: int
    grand_total_cents: int
    currency: str | None


def _embedded_xml(pdf: bytes) -> bytes:
    try:
        _, xml = facturx.get_xml_from_pdf(pdf, check_xsd=False)
    except Exception as exc:  # the library raises plain Exceptions for a PDF it can't read
        raise InvoiceUnreadable(f"not a Factur-X PDF ({exc})") from None
    if not xml:
        raise InvoiceUnreadable("the PDF carries no Factur-X XML (an embedded factur-x.xml)")
    return bytes(xml)


def _text(root: Any, path: str, what: str) -> str:
    found = root.xpath(path, namespaces=_NS)
    value = found[0].text if found and found[0].text else None
    if value is None or not value.strip():
        raise InvoiceUnreadable(f"the invoice has no {what}")
    return str(value).strip()


def _cents(root: Any, name: str, what: str) -> int:
    raw = _text(root, _SUMMATION + f"ram:{name}", what)
    try:
        cents = Decimal(raw) * 100
    except InvalidOperation:
        raise InvoiceUnreadable(f"the invoice's {what} {raw!r} is not an amount") from None
    if cents != cents.to_integral_value():
        raise InvoiceUnreadable(f"the invoice's {what} {raw} has more than 2 decimals")
    return int(cents)


def read_invoice(pdf: bytes) -> Invoice:
    xml = _embedded_xml(pdf)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(xml, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise InvoiceUnreadable(f"its Factur-X XML is not well-formed ({exc})") from None
    if etree.QName(root).namespace != _NS["rsm"]:
        raise InvoiceUnreadable("its XML is not a CII CrossIndustryInvoice")
    currency = root.xpath(_SUMMATION + "ram:GrandTotalAmount/@currencyID", namespaces=_NS)
    return Invoice(number=_text(root, "/rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:ID", "number"),
                   buyer_name=_text(root, "//ram:ApplicableHeaderTradeAgreement/ram:BuyerTradeParty/ram:Name",
                                    "buyer name"),
                   tax_basis_cents=_cents(root, "TaxBasisTotalAmount", "total without VAT"),
                   grand_total_cents=_cents(root, "GrandTotalAmount", "total with VAT"),
                   currency=str(currency[0]) if currency else None)


def same_name(a: str, b: str) -> bool:
    """Two names of one person: compared without case, accents or repeated spaces."""
    def key(name: str) -> str:
        decomposed = unicodedata.normalize("NFKD", name)
        return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())
    return key(a) == key(b)
