"""The three formats of the arrêté of 22 March 2019 (art. 5): PAdES (pyHanko), CAdES (pyHanko's CMS
validation) and XAdES (signxml for the XML signature, pyhanko-certvalidator for the certificate)."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
from datetime import UTC, datetime
from typing import Any

from asn1crypto import cms, x509
from cryptography import x509 as pyca_x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import async_validate_pdf_signature, generic_cms
from pyhanko.sign.validation.status import (
    SignatureCoverageLevel,
    StandardCMSSignatureStatus,
)
from pyhanko_certvalidator import ValidationContext
from signxml.exceptions import InvalidCertificate, SignXMLException
from signxml.xades.xades import XAdESSignatureConfiguration, XAdESVerifier

from marketplace.lib.esign._checks import (
    SIGNER_KEY_USAGE,
    Outcome,
    aggregate,
    assess_signer,
    cms_outcome,
    failed,
    passed,
    signature_timestamp,
    unknown,
    unreadable,
    unsupported,
)
from marketplace.lib.esign._report import Check, SignatureFormat, SignatureReport, SigningTime, TimeSource
from marketplace.lib.esign._trust import Revinfo, TrustStore

log = logging.getLogger("marketplace.esign")

_NS = {"ds": "http://www.w3.org/2000/09/xmldsig#", "xades": "http://uri.etsi.org/01903/v1.3.2#",
       "xades141": "http://uri.etsi.org/01903/v1.4.1#"}
_XADES_NAMESPACES = ("http://uri.etsi.org/01903/v1.3.2#", "http://uri.etsi.org/01903/v1.4.1#")


async def pades(data: bytes, trust: TrustStore) -> SignatureReport:
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = list(reader.embedded_regular_signatures)
        dss = Revinfo.from_dss(reader)
    except Exception as exc:  # a PDF pyHanko can't read is not one we can check
        log.info("esign.unreadable_pdf", exc_info=exc)
        return unsupported(f"a PDF that can't be read ({type(exc).__name__})", trust)
    if not signatures:
        return unsupported("a PDF without any signature: a PAdES-signed PDF is expected", trust)
    reports = []
    last = max(signatures, key=lambda s: s.signed_revision)
    for embedded in signatures:
        try:
            revinfo = dss + Revinfo.from_signed_data(embedded.signed_data, embedded.signer_info)
            timestamp = await signature_timestamp(embedded.signer_info, trust, revinfo,
                                                  embedded.self_reported_timestamp)

            async def validate(vc: ValidationContext, ts_vc: ValidationContext, embedded: Any = embedded,
                               ) -> Outcome:
                status = await async_validate_pdf_signature(embedded, vc, ts_vc,
                                                            key_usage_settings=SIGNER_KEY_USAGE)
                return cms_outcome(status, _pdf_integrity(status, last=embedded is last))

            reports.append(await assess_signer(trust, revinfo, timestamp, validate))
        except Exception as exc:  # malformed signature content: refused, never a 500
            reports.append(unreadable(exc))
    return aggregate(SignatureFormat.PADES, "embedded", reports, trust)


def _pdf_integrity(status: Any, *, last: bool) -> Check:
    """Digest, then what the signature covers: the last signature's byte range is the whole file but its own
    /Contents, or what follows it is validation data only (DSS, document timestamps: PAdES-LT/LTA); an earlier
    signature allows what its DocMDP permissions allow (further signatures, form filling)."""
    coverage, level = status.coverage, status.modification_level
    changed = level.name if level is not None else "unknown changes"
    refusal = (
        "the document doesn't match the signed digest (altered after signing)" if not status.intact else
        "the signature value doesn't verify with the signer's key" if not status.valid else
        None if coverage is SignatureCoverageLevel.ENTIRE_FILE else
        f"the signed byte range doesn't cover its revision ({coverage.name})"
        if coverage is not SignatureCoverageLevel.ENTIRE_REVISION else
        f"the document was changed after the last signature ({changed})"
        if last and (level is None or level > ModificationLevel.LTA_UPDATES) else
        f"the document was changed after signing beyond what the signer allowed ({changed})"
        if not status.docmdp_ok else None)
    if refusal is not None:
        return failed(refusal)
    if coverage is SignatureCoverageLevel.ENTIRE_FILE:
        return passed("the signed byte range covers the whole file but the signature itself; digest matches")
    return passed(f"digest matches; later revisions only add {changed}")


async def cades(data: bytes, trust: TrustStore, content: bytes | None) -> SignatureReport:
    try:
        info = cms.ContentInfo.load(data, strict=True)
        if info["content_type"].native != "signed_data":
            return unsupported(f"a CMS {info['content_type'].native} object, not a signature", trust)
        signed_data = info["content"]
        signer_infos = list(signed_data["signer_infos"])
        enveloped = signed_data["encap_content_info"]["content"].native is not None
    except ValueError:
        return unsupported("not a CMS signature (unreadable DER)", trust)
    packaging = "enveloping" if enveloped else "detached"
    if not enveloped and content is None:
        return unsupported("a detached CAdES signature without the document it signs: send the enveloping form "
                           "(the document inside the .p7s/.p7m)", trust)
    if len(signer_infos) != 1:
        return unsupported(f"a CMS with {len(signer_infos)} signers: one signature per file", trust)
    signer_info = signer_infos[0]
    try:
        revinfo = Revinfo.from_signed_data(signed_data, signer_info)
        timestamp = await signature_timestamp(signer_info, trust, revinfo)

        async def validate(vc: ValidationContext, ts_vc: ValidationContext) -> Outcome:
            algorithm = signer_info["digest_algorithm"]["algorithm"].native
            detached = None if enveloped else hashlib.new(algorithm, content or b"").digest()
            status = await generic_cms.async_validate_cms_signature(
                signed_data, status_cls=StandardCMSSignatureStatus, validation_context=vc, raw_digest=detached,
                key_usage_settings=SIGNER_KEY_USAGE)
            return cms_outcome(status)

        report = await assess_signer(trust, revinfo, timestamp, validate)
    except Exception as exc:  # malformed signature content: refused, never a 500
        report = unreadable(exc)
    return aggregate(SignatureFormat.CADES, packaging, [report], trust)


def _xml_root(data: bytes) -> Any:
    # No DTD, no entities, no network: the document is hostile until checked.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    return etree.fromstring(data, parser=parser)


async def xades(data: bytes, trust: TrustStore) -> SignatureReport:
    try:
        root = _xml_root(data)
    except etree.XMLSyntaxError as exc:
        return unsupported(f"not well-formed XML ({exc})", trust)
    signatures = root.xpath("//ds:Signature", namespaces=_NS)
    if not signatures:
        return unsupported("an XML document without a signature: a XAdES-signed document is expected", trust)
    if len(signatures) != 1:
        return unsupported(f"an XML document with {len(signatures)} signatures: one signature per file", trust)
    signature = signatures[0]
    properties = [p for ns in _XADES_NAMESPACES for p in signature.iter(f"{{{ns}}}QualifyingProperties")]
    if not properties:
        return unsupported("an XML signature without XAdES qualifying properties (plain XMLDSig)", trust)
    references = signature.xpath("ds:SignedInfo/ds:Reference/@URI", namespaces=_NS)
    if signature is root or "" not in references:
        return unsupported("only an enveloped XAdES signature over the whole document (Reference URI=\"\") is "
                           "accepted", trust)
    try:
        certs = [pyca_x509.load_der_x509_certificate(_b64(c.text or "")) for c in
                 signature.xpath("ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=_NS)]
        if not certs:
            raise ValueError("no X509Certificate in KeyInfo")
        signer_cert = x509.Certificate.load(certs[0].public_bytes(Encoding.DER))
        revinfo = Revinfo(certs=[x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in certs[1:]])
        claimed_text = signature.xpath("string(.//xades:SignedSignatureProperties/xades:SigningTime)",
                                       namespaces=_NS)
        claimed = _parse_time(claimed_text)
        timestamp = (unknown("XAdES signature timestamps are not checked offline here (signxml doesn't verify "
                              "them): the signing time is the one the signer claims"),
                     SigningTime(at=claimed, source=TimeSource.CLAIMED if claimed else TimeSource.NONE))

        async def validate(vc: ValidationContext, ts_vc: ValidationContext) -> Outcome:
            integrity = _xades_integrity(data, certs[0], claimed)
            vc.certificate_registry.register_multiple(revinfo.certs)
            result = await generic_cms.validate_cert_usage(
                signer_cert, vc, key_usage_settings=SIGNER_KEY_USAGE,
                paths=vc.path_builder.async_build_paths_lazy(signer_cert))
            return Outcome(integrity=integrity, signing_cert=signer_cert,
                            path=result.success_result or result.error_path, problem=result.error_subindic)

        report = await assess_signer(trust, revinfo, timestamp, validate)
    except Exception as exc:  # malformed signature content: refused, never a 500
        report = unreadable(exc)
    return aggregate(SignatureFormat.XADES, "enveloped", [report], trust)


def _xades_integrity(data: bytes, cert: pyca_x509.Certificate, claimed: datetime | None) -> Check:
    # signxml checks the references, the signature value and the signed properties (SigningCertificate digest).
    # Its own validity check is put inside the certificate's window on purpose: validity at signing time is
    # reported by `_validity`, the same way for the three formats.
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    inside = min(max(claimed or start, start), end)
    try:
        XAdESVerifier().verify(data, x509_cert=cert, expect_config=XAdESSignatureConfiguration(
            expect_references=True, verification_time=inside))
    except InvalidCertificate as exc:
        return failed(f"the signing certificate doesn't verify ({exc})")
    except SignXMLException as exc:
        return failed(f"the document or its signed properties don't match the signature (altered): {exc}")
    return passed("the references (whole document, signed properties) and the signature value verify")


def _b64(text: str) -> bytes:
    return base64.b64decode("".join(text.split()))


def _parse_time(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

