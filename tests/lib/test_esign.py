"""Contract signatures checked offline (G16), against a test PKI made at test time (tests/esign_pki.py).

The qualified status needs the EU Trusted List, which can't be reached offline: here a trusted list in its
format (ETSI TS 119 612) lists the test's "qualified" CA, and the tests show the category follows that list
(listed and granted → qualified; not listed, withdrawn, or no QcCompliance statement → not qualified)."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from signxml import DigestAlgorithm, SignatureMethod, XMLSigner

from marketplace.lib.esign import (
    Category,
    SignatureFormat,
    SignatureReport,
    Status,
    TimeSource,
    TrustStore,
    Verdict,
    verify,
)
from tests.esign_pki import (
    NOW,
    Identity,
    add_dss,
    contract_xml,
    issue,
    pki,
    sign_cms,
    sign_pdf,
    sign_xml,
    trusted_list,
)
from tests.vendors.api import minimal_pdf


@pytest.fixture(scope="module")
def trust() -> TrustStore:
    return TrustStore.load(pki().trust_dir)


def statuses(report: SignatureReport, index: int = 0) -> dict[str, Status]:
    checks = report.signatures[index].checks
    return {name: getattr(checks, name).status for name in checks.__struct_fields__}


def flip(data: bytes, marker: bytes) -> bytes:
    """One byte changed inside the signed content, after signing."""
    at = data.index(marker)
    return data[:at] + bytes([data[at] ^ 0x20]) + data[at + 1:]


def expired_signer() -> Identity:
    return issue("Signataire périmé", "Acheteur", pki().qualified_ca, qualified=True,
                 not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=30))


# -- PAdES ------------------------------------------------------------------------------------------------


def test_a_timestamped_pades_signature_by_a_qualified_certificate_is_valid_and_qualified(trust: TrustStore) -> None:
    report = verify(sign_pdf(pki(), pki().signer("Alice Martin"), minimal_pdf("marché")), trust)
    assert (report.verdict, report.format, report.packaging, report.failed_check) == (
        Verdict.VALID, SignatureFormat.PADES, "embedded", None)
    signer = report.signatures[0]
    assert signer.identity is not None
    assert (signer.identity.common_name, signer.identity.organisation) == ("Alice Martin",
                                                                           "Organisation de Alice Martin")
    assert signer.identity.serial_number == format(pki().signer("Alice Martin").cert.serial_number, "x")
    assert "CN=Test Qualified CA" in signer.identity.issuer
    assert signer.signing_time.source is TimeSource.TIMESTAMP and signer.signing_time.authority is not None
    assert "CN=Test TSA" in signer.signing_time.authority
    assert signer.category is Category.QUALIFIED and report.qualified
    # No revocation data in the document and nothing fetched: "unknown", never "passed".
    assert statuses(report) == {"integrity": Status.PASSED, "timestamp": Status.PASSED, "validity": Status.PASSED,
                                "chain": Status.PASSED, "revocation": Status.UNKNOWN, "category": Status.PASSED}
    assert "EU Trusted List" in report.trusted_list
    # The report survives its storage as JSON.
    assert msgspec.convert(msgspec.to_builtins(report), SignatureReport) == report


def test_one_byte_changed_after_signing_makes_the_pdf_invalid(trust: TrustStore) -> None:
    signed = sign_pdf(pki(), pki().signer("Alice Martin"), minimal_pdf("montant 30000"))
    report = verify(flip(signed, b"montant 30000"), trust)
    assert (report.verdict, report.failed_check) == (Verdict.INVALID, "integrity")
    assert statuses(report)["integrity"] is Status.FAILED
    assert "altered" in report.detail


def test_a_change_appended_after_the_last_signature_makes_the_pdf_invalid(trust: TrustStore) -> None:
    """The byte range still matches, but what follows it isn't validation data: a new revision edits the page."""
    signed = sign_pdf(pki(), pki().signer("Alice Martin"), minimal_pdf("marché"))
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page[generic.NameObject("/Rotate")] = generic.NumberObject(90)
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    report = verify(out.getvalue(), trust)
    assert (report.verdict, report.failed_check) == (Verdict.INVALID, "integrity")
    assert "changed after" in report.signatures[0].checks.integrity.detail


def test_a_countersigned_pdf_reports_both_signatures(trust: TrustStore) -> None:
    buyer = sign_pdf(pki(), pki().signer("Acheteur"), minimal_pdf("marché"))
    both = sign_pdf(pki(), pki().signer("Titulaire"), buyer, field_name="Signature2")
    report = verify(both, trust)
    assert report.verdict is Verdict.VALID
    assert [s.identity.common_name for s in report.signatures if s.identity] == ["Acheteur", "Titulaire"]
    assert all(s.valid and s.category is Category.QUALIFIED for s in report.signatures)


def test_a_certificate_expired_at_signing_time_is_invalid(trust: TrustStore) -> None:
    report = verify(sign_pdf(pki(), expired_signer(), minimal_pdf("marché")), trust)
    assert (report.verdict, report.failed_check) == (Verdict.INVALID, "validity")
    assert "expired at signing time" in report.signatures[0].checks.validity.detail


def test_validity_is_judged_at_the_timestamped_signing_time_not_today(trust: TrustStore) -> None:
    """Expired now, but the TSA's token proves the signature was made while the certificate was valid."""
    report = verify(sign_pdf(pki(), expired_signer(), minimal_pdf("marché"),
                             timestamp_at=NOW - timedelta(days=60)), trust)
    assert report.verdict is Verdict.VALID
    assert report.signatures[0].signing_time.source is TimeSource.TIMESTAMP
    assert report.signatures[0].signing_time.at == NOW - timedelta(days=60)


def test_without_a_timestamp_the_signing_time_is_the_claimed_one(trust: TrustStore) -> None:
    report = verify(sign_pdf(pki(), pki().signer("Alice Martin"), minimal_pdf("marché"), timestamp=False), trust)
    assert report.verdict is Verdict.VALID
    signer = report.signatures[0]
    assert signer.signing_time.source is TimeSource.CLAIMED and signer.signing_time.at is not None
    assert signer.checks.timestamp.status is Status.UNKNOWN


def test_a_certificate_from_an_untrusted_ca_breaks_the_chain(trust: TrustStore) -> None:
    rogue = issue("Signataire inconnu", "Inconnu", pki().rogue_ca, qualified=True)
    report = verify(sign_pdf(pki(), rogue, minimal_pdf("marché")), trust)
    assert (report.verdict, report.failed_check) == (Verdict.INVALID, "chain")
    assert report.signatures[0].category is Category.NOT_QUALIFIED


def test_a_ca_off_the_trusted_list_gives_a_valid_but_not_qualified_signature(trust: TrustStore) -> None:
    advanced = issue("Signataire avancé", "Acheteur", pki().advanced_ca, qualified=True)
    report = verify(sign_pdf(pki(), advanced, minimal_pdf("marché")), trust)
    assert report.verdict is Verdict.VALID and not report.qualified
    assert report.signatures[0].category is Category.NOT_QUALIFIED
    assert report.signatures[0].checks.category.status is Status.FAILED


def test_a_certificate_without_the_qccompliance_statement_is_not_qualified(trust: TrustStore) -> None:
    plain = issue("Sans QcCompliance", "Acheteur", pki().qualified_ca, qualified=False)
    report = verify(sign_pdf(pki(), plain, minimal_pdf("marché")), trust)
    assert report.verdict is Verdict.VALID
    assert report.signatures[0].category is Category.NOT_QUALIFIED


def test_the_qualified_status_follows_the_trusted_list(tmp_path: Path) -> None:
    """The mocked EU Trusted List decides: the same signature is qualified only while the list grants its CA."""
    signed = sign_pdf(pki(), pki().signer("Alice Martin"), minimal_pdf("marché"))
    (tmp_path / "qualified-ca.pem").write_bytes(pki().qualified_ca.pem())
    anchors_only = verify(signed, TrustStore.load(tmp_path))
    assert anchors_only.verdict is Verdict.VALID and not anchors_only.qualified
    (tmp_path / "tl.xml").write_text(trusted_list([pki().qualified_ca], status="withdrawn"), encoding="utf-8")
    assert not verify(signed, TrustStore.load(tmp_path)).qualified
    (tmp_path / "tl.xml").write_text(trusted_list([pki().qualified_ca]), encoding="utf-8")
    assert verify(signed, TrustStore.load(tmp_path)).qualified


def test_a_certificate_revoked_before_signing_is_invalid_and_after_signing_is_not(trust: TrustStore) -> None:
    """Revocation at signing time, from the CRL in the document's DSS (PAdES-LT); nothing fetched."""
    revoked = issue("Signataire révoqué", "Acheteur", pki().qualified_ca, qualified=True)
    signed = sign_pdf(pki(), revoked, minimal_pdf("marché"))
    later = NOW + timedelta(minutes=30)  # the CRL is gathered after signing, as for PAdES-LT
    before = add_dss(signed, crls=[pki().crl(pki().qualified_ca, [(revoked, NOW - timedelta(days=1))], at=later)])
    report = verify(before, trust)
    assert (report.verdict, report.failed_check) == (Verdict.INVALID, "revocation")
    after = add_dss(signed, crls=[pki().crl(pki().qualified_ca, [(revoked, later)], at=later)])
    report = verify(after, trust)
    assert report.verdict is Verdict.VALID
    assert report.signatures[0].checks.revocation.status is Status.PASSED
    # The DSS revision after the signature is validation data only: the integrity check accepts it.
    assert report.signatures[0].checks.integrity.status is Status.PASSED


# -- CAdES -----------------------------------------------------------------------------------------------


def test_an_enveloping_cades_signature_is_valid_and_a_changed_byte_invalid(trust: TrustStore) -> None:
    signed = sign_cms(pki(), pki().signer("Bruno Petit"), minimal_pdf("montant 30000"))
    report = verify(signed, trust)
    assert (report.verdict, report.format, report.packaging) == (Verdict.VALID, SignatureFormat.CADES, "enveloping")
    assert report.qualified and report.signatures[0].signing_time.source is TimeSource.TIMESTAMP
    tampered = verify(flip(signed, b"montant 30000"), trust)
    assert (tampered.verdict, tampered.failed_check) == (Verdict.INVALID, "integrity")


def test_a_detached_cades_signature_needs_the_document_it_signs(trust: TrustStore) -> None:
    document = minimal_pdf("marché")
    signed = sign_cms(pki(), pki().signer("Bruno Petit"), document, detached=True)
    alone = verify(signed, trust)
    assert (alone.verdict, alone.failed_check) == (Verdict.UNSUPPORTED, "format")
    assert verify(signed, trust, detached_content=document).verdict is Verdict.VALID
    other = verify(signed, trust, detached_content=minimal_pdf("autre marché"))
    assert (other.verdict, other.failed_check) == (Verdict.INVALID, "integrity")


def test_an_expired_certificate_is_invalid_in_cades_too(trust: TrustStore) -> None:
    report = verify(sign_cms(pki(), expired_signer(), b"contenu"), trust)
    assert (report.verdict, report.failed_check) == (Verdict.INVALID, "validity")


# -- XAdES -----------------------------------------------------------------------------------------------


def test_an_enveloped_xades_signature_is_valid_and_a_changed_byte_invalid(trust: TrustStore) -> None:
    signed = sign_xml(pki().signer("Chloé Durand"), contract_xml("Maintenance du DPI"))
    report = verify(signed, trust)
    assert (report.verdict, report.format, report.packaging) == (Verdict.VALID, SignatureFormat.XADES, "enveloped")
    signer = report.signatures[0]
    assert signer.category is Category.QUALIFIED and signer.identity is not None
    assert signer.identity.common_name == "Chloé Durand"
    # signxml doesn't check XAdES signature timestamps: the time is the claimed one, and says so.
    assert signer.signing_time.source is TimeSource.CLAIMED
    assert signer.checks.timestamp.status is Status.UNKNOWN
    tampered = verify(signed.replace(b"30000.00", b"90000.00"), trust)
    assert (tampered.verdict, tampered.failed_check) == (Verdict.INVALID, "integrity")


def test_an_expired_certificate_is_invalid_in_xades_too(trust: TrustStore) -> None:
    report = verify(sign_xml(expired_signer(), contract_xml("marché")), trust)
    assert (report.verdict, report.failed_check) == (Verdict.INVALID, "validity")


def test_a_plain_xmldsig_signature_is_not_xades(trust: TrustStore) -> None:
    from lxml import etree

    signer = pki().signer("Chloé Durand")
    root = XMLSigner(signature_algorithm=SignatureMethod.ECDSA_SHA256,
                     digest_algorithm=DigestAlgorithm.SHA256).sign(
        etree.fromstring(contract_xml("marché")), key=signer.key, cert=[signer.cert])
    report = verify(etree.tostring(root), trust)
    assert (report.verdict, report.failed_check) == (Verdict.UNSUPPORTED, "format")
    assert "XAdES" in report.detail


# -- unsupported -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "why"), [
    (minimal_pdf("jamais signé"), "without any signature"),
    (b"\x00\x01\x02 not a signature", "neither a PDF"),
    (contract_xml("jamais signé"), "without a signature"),
    (b"\x30\x03\x02\x01\x01", "not a CMS signature"),
    (b"%PDF-1.7\n garbage", "can't be read"),
])
def test_what_is_not_a_supported_signature_is_refused_as_such(trust: TrustStore, data: bytes, why: str) -> None:
    report = verify(data, trust)
    assert (report.verdict, report.format, report.failed_check) == (
        Verdict.UNSUPPORTED, SignatureFormat.UNSUPPORTED, "format")
    assert why in report.detail and report.signatures == []


# -- the trust configuration -----------------------------------------------------------------------------


def test_without_a_trust_list_nothing_chains(tmp_path: Path) -> None:
    report = verify(sign_pdf(pki(), pki().signer("Alice Martin"), minimal_pdf("marché")), TrustStore.load(""))
    assert (report.verdict, report.failed_check) == (Verdict.INVALID, "chain")
    with pytest.raises(ValueError, match="not a directory"):
        TrustStore.load(tmp_path / "missing")


def test_a_trusted_list_that_does_not_read_is_an_error_at_load(tmp_path: Path) -> None:
    broken = trusted_list([pki().qualified_ca]).replace("<tsl:StatusStartingTime>", "<tsl:Other>").replace(
        "</tsl:StatusStartingTime>", "</tsl:Other>")
    (tmp_path / "tl.xml").write_text(broken, encoding="utf-8")
    with pytest.raises(ValueError, match=r"tl\.xml"):
        TrustStore.load(tmp_path)
