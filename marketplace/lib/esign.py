"""Electronic signatures checked offline (G16; arrêté du 22 mars 2019 relatif à la signature électronique des
contrats de la commande publique, art. 5).

`verify(data, trust)` reads a signed document and says, for each signature in it, what can be checked without
the network: the format (PAdES, CAdES, XAdES; anything else is unsupported), integrity, the signer's identity,
the signing time (from an RFC 3161 signature timestamp when there is one, else the time the signer claims,
marked "claimed"), the certificate's validity at that time, its chain to the configured trust anchors, its
revocation at that time from the revocation data embedded in the signature or the PDF's DSS ("unknown" when
none covers it, never "good" by default), and its category: "qualified" only when the certificate says it is
(QcCompliance statement) and its issuing CA is a granted CA/QC service on the configured trusted list.

The trusted list is the stand-in for the EU Trusted List, which can't be fetched offline: a directory
(`MARKETPLACE_ESIGN_TRUST_LIST`) of PEM anchors and trusted lists in the ETSI TS 119 612 format (the format of
the EU's national lists), read by pyHanko's parser and assessed by its eIDAS qualification algorithm. Nothing is
fetched: no live trusted list, no OCSP or CRL download. The trusted list's own XML signature is not checked:
the file is trusted as the operator placed it.

The cryptography, ASN.1, CMS and PDF work is pyHanko's and pyhanko-certvalidator's; XML signatures are signxml's.
Pure: no HTTP, no database; `verify` runs its own event loop, so callers on a loop run it in a thread.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from asn1crypto import cms, crl, ocsp, x509
from cryptography import x509 as pyca_x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from pyhanko.keys import load_certs_from_pemder_data
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESIndeterminate, AdESSubIndic
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import async_validate_pdf_signature, generic_cms
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.qualified.assess import QualificationAssessor
from pyhanko.sign.validation.qualified.eutl_parse import trust_list_to_registry_unsafe
from pyhanko.sign.validation.qualified.tsp import TSPRegistry
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import (
    SignatureCoverageLevel,
    StandardCMSSignatureStatus,
    TimestampSignatureStatus,
)
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.authority import AuthorityWithCert
from pyhanko_certvalidator.errors import RevokedError, ValidationError
from pyhanko_certvalidator.path import ValidationPath
from signxml.exceptions import InvalidCertificate, SignXMLException
from signxml.xades.xades import XAdESSignatureConfiguration, XAdESVerifier

from marketplace.lib.schemas import CamelStruct

log = logging.getLogger("marketplace.esign")

# A qualified signature certificate is issued for non-repudiation (ETSI EN 319 412-2).
SIGNER_KEY_USAGE = KeyUsageConstraints(key_usage={"non_repudiation"})
_NS = {"ds": "http://www.w3.org/2000/09/xmldsig#", "xades": "http://uri.etsi.org/01903/v1.3.2#",
       "xades141": "http://uri.etsi.org/01903/v1.4.1#"}
_XADES_NAMESPACES = ("http://uri.etsi.org/01903/v1.3.2#", "http://uri.etsi.org/01903/v1.4.1#")


class SignatureFormat(StrEnum):
    PADES = "PAdES"
    CADES = "CAdES"
    XADES = "XAdES"
    UNSUPPORTED = "unsupported"


class Verdict(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    UNSUPPORTED = "unsupported"


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    UNKNOWN = "unknown"


class Category(StrEnum):
    QUALIFIED = "qualified"
    NOT_QUALIFIED = "not_qualified"


class TimeSource(StrEnum):
    TIMESTAMP = "timestamp"   # an RFC 3161 token from a trusted TSA, checked against the signature
    CLAIMED = "claimed"       # the signer's own signingTime: what it says, nothing proves it
    NONE = "none"


class Check(CamelStruct):
    status: Status
    detail: str


class Checks(CamelStruct):
    """The checks of one signature, in the order they are reported; the first failed one names the refusal."""

    integrity: Check
    timestamp: Check
    validity: Check
    chain: Check
    revocation: Check
    category: Check

    def first_failed(self) -> str | None:
        return next((name for name in self.__struct_fields__ if getattr(self, name).status is Status.FAILED), None)


class SignerIdentity(CamelStruct):
    common_name: str | None
    organisation: str | None
    subject: str
    serial_number: str
    issuer: str


class SigningTime(CamelStruct):
    at: datetime | None
    source: TimeSource
    authority: str | None = None


class SignerReport(CamelStruct):
    identity: SignerIdentity | None
    signing_time: SigningTime
    category: Category
    checks: Checks
    valid: bool


class SignatureReport(CamelStruct):
    """What was checked (G16), stored with the signature and shown with the contract."""

    verdict: Verdict
    format: SignatureFormat
    packaging: str | None
    failed_check: str | None
    detail: str
    signatures: list[SignerReport]
    trusted_list: str

    @property
    def qualified(self) -> bool:
        return bool(self.signatures) and all(s.category is Category.QUALIFIED for s in self.signatures)


# -- the trust configuration -------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustStore:
    """Trust anchors (PEM files, and every CA on the trusted lists) and the qualified services of the lists."""

    anchors: tuple[x509.Certificate, ...] = ()
    registry: TSPRegistry = field(default_factory=TSPRegistry)
    source: str = "none configured: no certificate chains to a trust anchor"

    @classmethod
    def load(cls, directory: str | Path | None) -> TrustStore:
        """Read `directory`: `*.pem`, `*.crt`, `*.cer` (anchors) and `*.xml` (ETSI TS 119 612 trusted lists).

        A file that doesn't read is an error at start-up, not a store that silently trusts less."""
        if not directory:
            return cls()
        root = Path(directory)
        if not root.is_dir():
            raise ValueError(f"MARKETPLACE_ESIGN_TRUST_LIST: {root} is not a directory")
        anchors: list[x509.Certificate] = []
        registry = TSPRegistry()
        lists = []
        for path in sorted(root.iterdir()):
            suffix = path.suffix.lower()
            if suffix in {".pem", ".crt", ".cer"}:
                anchors.extend(load_certs_from_pemder_data(path.read_bytes()))
            elif suffix == ".xml":
                _, errors = trust_list_to_registry_unsafe(path.read_text(encoding="utf-8"), registry)
                if errors:
                    raise ValueError(f"MARKETPLACE_ESIGN_TRUST_LIST: {path.name} has services that don't read: "
                                     + "; ".join(str(e) for e in errors))
                lists.append(path.name)
        for authority in registry.known_certificate_authorities:
            if isinstance(authority, AuthorityWithCert):
                anchors.append(authority.certificate)
        # Named by its files, not its path: the report is shown to the parties.
        source = (f"local trusted list ({', '.join(lists) or 'no ETSI TS 119 612 list'}; {len(anchors)} anchors), "
                  "the offline stand-in for the EU Trusted List")
        return cls(tuple(anchors), registry, source)


@dataclass(frozen=True)
class SignaturePolicy:
    """What the platform accepts: signatures that verify against `trust`, and, when `require_qualified`, only
    those whose certificate is qualified (the arrêté of 22 March 2019, art. 5: an advanced signature based on a
    qualified certificate)."""

    trust: TrustStore = field(default_factory=TrustStore)
    require_qualified: bool = True


@dataclass
class _Revinfo:
    """Revocation data and certificates carried by the document itself (signature, DSS)."""

    crls: list[crl.CertificateList] = field(default_factory=list)
    ocsps: list[ocsp.OCSPResponse] = field(default_factory=list)
    certs: list[x509.Certificate] = field(default_factory=list)

    def __add__(self, other: _Revinfo) -> _Revinfo:
        return _Revinfo(self.crls + other.crls, self.ocsps + other.ocsps, self.certs + other.certs)

    @classmethod
    def from_signed_data(cls, signed_data: cms.SignedData, signer_info: cms.SignerInfo) -> _Revinfo:
        out = cls(certs=[c.chosen for c in signed_data["certificates"] or () if c.name == "certificate"])
        for choice in signed_data["crls"] or ():
            if choice.name == "crl":
                out.crls.append(choice.chosen)
            elif choice.chosen["other_rev_info_format"].native == "ocsp_response":
                out.ocsps.append(choice.chosen["other_rev_info"])
        # Adobe's revocation archival attribute (signed), as PDF signers embed it.
        for attr in signer_info["signed_attrs"] or ():
            if attr["type"].native == "adobe_revocation_info_archival":
                for archival in attr["values"]:
                    out.crls.extend(archival["crl"] or ())
                    out.ocsps.extend(archival["ocsp"] or ())
        return out

    @classmethod
    def from_dss(cls, reader: PdfFileReader) -> _Revinfo:
        try:
            dss = DocumentSecurityStore.read_dss(reader)
        except NoDSSFoundError:
            return cls()
        return cls(crls=[crl.CertificateList.load(ref.get_object().read_data(DecodePurpose.CRL)) for ref in dss.crls],
                   ocsps=[ocsp.OCSPResponse.load(ref.get_object().read_data(DecodePurpose.OCSP_RESPONSE))
                          for ref in dss.ocsps],
                   certs=list(dss.load_certs()))


def _context(trust: TrustStore, revinfo: _Revinfo, moment: datetime | None, *, mode: str = "soft-fail"
             ) -> ValidationContext:
    # Nothing is fetched (allow_fetching=False). Embedded revocation data is usually gathered just after
    # signing, so it is accepted although issued after the signing time (retroactive); a revocation dated
    # after the signing time doesn't make the signature invalid (the check is "at signing time").
    return ValidationContext(trust_roots=list(trust.anchors), other_certs=revinfo.certs, moment=moment,
                             best_signature_time=moment, allow_fetching=False, crls=revinfo.crls,
                             ocsps=revinfo.ocsps, revocation_mode=mode,
                             retroactive_revinfo=True)


# -- the signer-level assessment, shared by the three formats ------------------------------------------


@dataclass
class _Outcome:
    """What a format-specific validation found, in terms the report shares."""

    integrity: Check
    signing_cert: x509.Certificate | None
    path: ValidationPath | None = None
    problem: AdESSubIndic | None = None


def _rfc4514(name: x509.Name) -> str:
    return pyca_x509.Name.from_bytes(name.dump()).rfc4514_string()


def _identity(cert: x509.Certificate) -> SignerIdentity:
    subject = cert.subject.native
    return SignerIdentity(common_name=subject.get("common_name"), organisation=subject.get("organization_name"),
                          subject=_rfc4514(cert.subject), serial_number=format(cert.serial_number, "x"),
                          issuer=_rfc4514(cert.issuer))


def _passed(detail: str) -> Check:
    return Check(status=Status.PASSED, detail=detail)


def _failed(detail: str) -> Check:
    return Check(status=Status.FAILED, detail=detail)


def _unknown(detail: str) -> Check:
    return Check(status=Status.UNKNOWN, detail=detail)


_NOT_CHECKED = _unknown("not checked: an earlier check failed")


def _validity(cert: x509.Certificate, at: datetime | None) -> Check:
    validity = cert["tbs_certificate"]["validity"]
    start, end = validity["not_before"].native, validity["not_after"].native
    window = f"{start.isoformat()} to {end.isoformat()}"
    if at is None:
        return _failed(f"no signing time: the certificate's validity ({window}) can't be checked")
    if at < start:
        return _failed(f"the certificate was not yet valid at signing time {at.isoformat()} (valid {window})")
    if at > end:
        return _failed(f"the certificate had expired at signing time {at.isoformat()} (valid {window})")
    return _passed(f"valid at signing time {at.isoformat()} ({window})")


async def _timestamp(signer_info: cms.SignerInfo, trust: TrustStore, revinfo: _Revinfo,
                     claimed_elsewhere: datetime | None = None) -> tuple[Check, SigningTime]:
    """The signature timestamp (RFC 3161 token over the signature value), checked at its own time.

    Without a trusted one, the signing time is the claimed one: CAdES's signingTime attribute, or a PAdES
    signature dictionary's /M (PAdES baseline signatures carry no signingTime attribute)."""
    claimed = generic_cms.extract_self_reported_ts(signer_info) or claimed_elsewhere
    claimed_time = SigningTime(at=claimed, source=TimeSource.CLAIMED if claimed else TimeSource.NONE)
    tokens = list(generic_cms.extract_tst_data_iter(signer_info, signed=False))
    if not tokens:
        return _unknown("no signature timestamp: the signing time is the one the signer claims"), claimed_time
    token = tokens[0]
    gen_time = token["encap_content_info"]["content"].parsed["gen_time"].native
    kwargs = await generic_cms.validate_tst_signed_data(
        token, _context(trust, revinfo, gen_time), generic_cms.message_imprint_checker(signer_info))
    status = TimestampSignatureStatus(**kwargs)
    tsa = _rfc4514(status.signing_cert.subject)
    if not (status.intact and status.valid):
        return _failed(f"the signature timestamp by {tsa} doesn't match the signature (altered)"), claimed_time
    if not status.trusted:
        reason = _indication(status.trust_problem_indic)
        return (_unknown(f"the signature timestamp's authority {tsa} is not trusted ({reason}): the signing time "
                         "is the one the signer claims"), claimed_time)
    return (_passed(f"timestamped {gen_time.isoformat()} by {tsa}"),
            SigningTime(at=gen_time, source=TimeSource.TIMESTAMP, authority=tsa))


def _indication(indication: AdESSubIndic | None) -> str:
    return str(indication.standard_name) if indication is not None else "untrusted"


def _chain(outcome: _Outcome) -> tuple[Check, Check]:
    """(chain, revocation) from the certificate validation's AdES sub-indication."""
    problem = outcome.problem
    anchor = _rfc4514(outcome.path.trust_anchor.authority.name) if outcome.path else None
    if problem is None:
        return _passed(f"chains to the trust anchor {anchor}"), _unknown("not checked yet")
    if problem in (AdESIndeterminate.REVOKED_NO_POE, AdESIndeterminate.REVOKED_CA_NO_POE):
        which = "the signer's certificate" if problem is AdESIndeterminate.REVOKED_NO_POE else "a CA certificate"
        return (_passed(f"chains to the trust anchor {anchor}"),
                _failed(f"{which} was revoked at signing time (embedded revocation data)"))
    if problem is AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND:
        return (_failed("no chain to a trust anchor of the trusted list (unknown or untrusted CA)"),
                _NOT_CHECKED)
    if problem is AdESIndeterminate.OUT_OF_BOUNDS_NO_POE:
        # Reported by the validity check; the chain isn't judged on a certificate out of its validity.
        return _unknown("not checked: the certificate was outside its validity at signing time"), _NOT_CHECKED
    if problem is AdESIndeterminate.CHAIN_CONSTRAINTS_FAILURE:
        return _failed("the certificate is not one for signing (key usage: non-repudiation expected)"), _NOT_CHECKED
    return _failed(f"the certificate chain doesn't validate ({_indication(problem)})"), _NOT_CHECKED


async def _revocation(cert: x509.Certificate, trust: TrustStore, revinfo: _Revinfo, at: datetime | None) -> Check:
    """Revocation at signing time from the embedded data only, requiring it for every certificate of the chain
    ("require"): the soft-fail pass before checks only the certificates that name a revocation source."""
    if not (revinfo.crls or revinfo.ocsps):
        return _unknown("no revocation data embedded in the signature or the document; nothing is fetched online")
    validator = CertificateValidator(cert, intermediate_certs=revinfo.certs,
                                     validation_context=_context(trust, revinfo, at, mode="require"))
    try:
        # Untyped in pyhanko-certvalidator.
        await validator.async_validate_usage(key_usage=set(SIGNER_KEY_USAGE.key_usage or ()))  # type: ignore[no-untyped-call]
    except RevokedError as exc:
        return _failed(f"revoked at signing time (embedded revocation data): {exc.failure_msg}")
    except ValidationError as exc:
        return _unknown(f"the embedded revocation data doesn't cover the chain at signing time: {exc.failure_msg}")
    return _passed("not revoked at signing time (embedded revocation data)")


def _category(trust: TrustStore, path: ValidationPath | None, at: datetime | None) -> tuple[Category, Check]:
    if path is None:
        return Category.NOT_QUALIFIED, _unknown("not assessed: no valid chain")
    result = QualificationAssessor(trust.registry).check_entity_cert_qualified(path, moment=at)
    if result.status.qualified and result.service_definition is not None:
        service = result.service_definition.base_info.service_name
        return Category.QUALIFIED, _passed(f"qualified certificate ({result.status.qc_type.value}); issuing "
                                           f"service on the trusted list: {service}")
    return Category.NOT_QUALIFIED, _failed("not a qualified certificate: no QcCompliance statement, or its CA is "
                                           "not a granted qualified service (CA/QC) on the trusted list")


async def _signer(trust: TrustStore, revinfo: _Revinfo, timestamp: tuple[Check, SigningTime],
                  validate: Callable[[ValidationContext, ValidationContext], Awaitable[_Outcome]]) -> SignerReport:
    ts_check, signing_time = timestamp
    at = signing_time.at
    outcome = await validate(_context(trust, revinfo, at), _context(trust, revinfo, at))
    cert = outcome.signing_cert
    if cert is None:
        return SignerReport(identity=None, signing_time=signing_time, category=Category.NOT_QUALIFIED,
                            checks=Checks(integrity=outcome.integrity, timestamp=ts_check, validity=_NOT_CHECKED,
                                          chain=_NOT_CHECKED, revocation=_NOT_CHECKED, category=_NOT_CHECKED),
                            valid=False)
    validity = _validity(cert, at)
    chain, revocation = _chain(outcome)
    if chain.status is Status.PASSED and revocation.status is Status.UNKNOWN:
        revocation = await _revocation(cert, trust, revinfo, at)
    category, category_check = _category(trust, outcome.path if chain.status is Status.PASSED else None, at)
    checks = Checks(integrity=outcome.integrity, timestamp=ts_check, validity=validity, chain=chain,
                    revocation=revocation, category=category_check)
    valid = all(getattr(checks, name).status is not Status.FAILED
                for name in ("integrity", "timestamp", "validity", "chain", "revocation"))
    return SignerReport(identity=_identity(cert), signing_time=signing_time, category=category, checks=checks,
                        valid=valid)


def _cms_outcome(status: StandardCMSSignatureStatus, integrity: Check | None = None) -> _Outcome:
    if integrity is None:
        integrity = (_passed(f"the signed digest ({status.md_algorithm}) matches the content")
                     if status.intact and status.valid else
                     _failed("the content doesn't match the signed digest (altered)") if not status.intact else
                     _failed("the signature value doesn't verify with the signer's key"))
    return _Outcome(integrity=integrity, signing_cert=status.signing_cert, path=status.validation_path,
                    problem=status.trust_problem_indic)


# -- the formats ---------------------------------------------------------------------------------------


def _report(fmt: SignatureFormat, packaging: str | None, signers: list[SignerReport], trust: TrustStore
            ) -> SignatureReport:
    for index, signer in enumerate(signers, 1):
        failed = signer.checks.first_failed() if not signer.valid else None
        if failed is not None:
            who = signer.identity.subject if signer.identity else f"signature {index}"
            detail = getattr(signer.checks, failed).detail
            return SignatureReport(verdict=Verdict.INVALID, format=fmt, packaging=packaging, failed_check=failed,
                                   detail=f"{fmt.value} signature of {who}: {failed}: {detail}",
                                   signatures=signers, trusted_list=trust.source)
    names = ", ".join(s.identity.subject for s in signers if s.identity)
    return SignatureReport(verdict=Verdict.VALID, format=fmt, packaging=packaging, failed_check=None,
                           detail=f"{fmt.value} signature{'s' if len(signers) > 1 else ''} of {names}: valid",
                           signatures=signers, trusted_list=trust.source)


def unsupported(detail: str, trust: TrustStore | None = None) -> SignatureReport:
    return SignatureReport(verdict=Verdict.UNSUPPORTED, format=SignatureFormat.UNSUPPORTED, packaging=None,
                           failed_check="format", detail=detail, signatures=[],
                           trusted_list=(trust or TrustStore()).source)


def _unreadable(exc: Exception) -> SignerReport:
    log.warning("esign.unreadable_signature", exc_info=exc)
    return SignerReport(identity=None, signing_time=SigningTime(at=None, source=TimeSource.NONE),
                        category=Category.NOT_QUALIFIED,
                        checks=Checks(integrity=_failed(f"the signature can't be read ({type(exc).__name__})"),
                                      timestamp=_NOT_CHECKED, validity=_NOT_CHECKED, chain=_NOT_CHECKED,
                                      revocation=_NOT_CHECKED, category=_NOT_CHECKED), valid=False)


async def _pades(data: bytes, trust: TrustStore) -> SignatureReport:
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = list(reader.embedded_regular_signatures)
        dss = _Revinfo.from_dss(reader)
    except Exception as exc:  # a PDF pyHanko can't read is not one we can check
        log.info("esign.unreadable_pdf", exc_info=exc)
        return unsupported(f"a PDF that can't be read ({type(exc).__name__})", trust)
    if not signatures:
        return unsupported("a PDF without any signature: a PAdES-signed PDF is expected", trust)
    reports = []
    last = max(signatures, key=lambda s: s.signed_revision)
    for embedded in signatures:
        try:
            revinfo = dss + _Revinfo.from_signed_data(embedded.signed_data, embedded.signer_info)
            timestamp = await _timestamp(embedded.signer_info, trust, revinfo, embedded.self_reported_timestamp)

            async def validate(vc: ValidationContext, ts_vc: ValidationContext, embedded: Any = embedded,
                               ) -> _Outcome:
                status = await async_validate_pdf_signature(embedded, vc, ts_vc,
                                                            key_usage_settings=SIGNER_KEY_USAGE)
                return _cms_outcome(status, _pdf_integrity(status, last=embedded is last))

            reports.append(await _signer(trust, revinfo, timestamp, validate))
        except Exception as exc:  # malformed signature content: refused, never a 500
            reports.append(_unreadable(exc))
    return _report(SignatureFormat.PADES, "embedded", reports, trust)


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
        return _failed(refusal)
    if coverage is SignatureCoverageLevel.ENTIRE_FILE:
        return _passed("the signed byte range covers the whole file but the signature itself; digest matches")
    return _passed(f"digest matches; later revisions only add {changed}")


async def _cades(data: bytes, trust: TrustStore, content: bytes | None) -> SignatureReport:
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
        revinfo = _Revinfo.from_signed_data(signed_data, signer_info)
        timestamp = await _timestamp(signer_info, trust, revinfo)

        async def validate(vc: ValidationContext, ts_vc: ValidationContext) -> _Outcome:
            algorithm = signer_info["digest_algorithm"]["algorithm"].native
            detached = None if enveloped else hashlib.new(algorithm, content or b"").digest()
            status = await generic_cms.async_validate_cms_signature(
                signed_data, status_cls=StandardCMSSignatureStatus, validation_context=vc, raw_digest=detached,
                key_usage_settings=SIGNER_KEY_USAGE)
            return _cms_outcome(status)

        report = await _signer(trust, revinfo, timestamp, validate)
    except Exception as exc:  # malformed signature content: refused, never a 500
        report = _unreadable(exc)
    return _report(SignatureFormat.CADES, packaging, [report], trust)


def _xml_root(data: bytes) -> Any:
    # No DTD, no entities, no network: the document is hostile until checked.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    return etree.fromstring(data, parser=parser)


async def _xades(data: bytes, trust: TrustStore) -> SignatureReport:
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
        revinfo = _Revinfo(certs=[x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in certs[1:]])
        claimed_text = signature.xpath("string(.//xades:SignedSignatureProperties/xades:SigningTime)",
                                       namespaces=_NS)
        claimed = _parse_time(claimed_text)
        timestamp = (_unknown("XAdES signature timestamps are not checked offline here (signxml doesn't verify "
                              "them): the signing time is the one the signer claims"),
                     SigningTime(at=claimed, source=TimeSource.CLAIMED if claimed else TimeSource.NONE))

        async def validate(vc: ValidationContext, ts_vc: ValidationContext) -> _Outcome:
            integrity = _xades_integrity(data, certs[0], claimed)
            vc.certificate_registry.register_multiple(revinfo.certs)
            result = await generic_cms.validate_cert_usage(
                signer_cert, vc, key_usage_settings=SIGNER_KEY_USAGE,
                paths=vc.path_builder.async_build_paths_lazy(signer_cert))
            return _Outcome(integrity=integrity, signing_cert=signer_cert,
                            path=result.success_result or result.error_path, problem=result.error_subindic)

        report = await _signer(trust, revinfo, timestamp, validate)
    except Exception as exc:  # malformed signature content: refused, never a 500
        report = _unreadable(exc)
    return _report(SignatureFormat.XADES, "enveloped", [report], trust)


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
        return _failed(f"the signing certificate doesn't verify ({exc})")
    except SignXMLException as exc:
        return _failed(f"the document or its signed properties don't match the signature (altered): {exc}")
    return _passed("the references (whole document, signed properties) and the signature value verify")


def _b64(text: str) -> bytes:
    return base64.b64decode("".join(text.split()))


def _parse_time(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# -- the entry point -------------------------------------------------------------------------------------


def detect(data: bytes) -> SignatureFormat:
    """The format the content shows (never the declared type)."""
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if data.startswith(b"%PDF-"):
        return SignatureFormat.PADES
    if head.startswith(b"<"):
        return SignatureFormat.XADES
    if data[:1] == b"\x30":  # a DER SEQUENCE: a CMS ContentInfo, if anything
        return SignatureFormat.CADES
    return SignatureFormat.UNSUPPORTED


def verify(data: bytes, trust: TrustStore, *, detached_content: bytes | None = None) -> SignatureReport:
    """Check the signed document offline and report each check (G16). Runs its own event loop."""
    return asyncio.run(averify(data, trust, detached_content=detached_content))


async def averify(data: bytes, trust: TrustStore, *, detached_content: bytes | None = None) -> SignatureReport:
    fmt = detect(data)
    if fmt is SignatureFormat.PADES:
        return await _pades(data, trust)
    if fmt is SignatureFormat.XADES:
        return await _xades(data, trust)
    if fmt is SignatureFormat.CADES:
        return await _cades(data, trust, detached_content)
    return unsupported("neither a PDF (PAdES), a CMS signature (CAdES) nor an XML document (XAdES)", trust)
