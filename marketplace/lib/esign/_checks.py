"""The checks of one signer, shared by the three formats: signing time, validity, chain, revocation and
category at signing time, and the verdict they make together."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import cms, x509
from cryptography import x509 as pyca_x509
from pyhanko.sign.ades.report import AdESIndeterminate, AdESSubIndic
from pyhanko.sign.validation import generic_cms
from pyhanko.sign.validation.qualified.assess import QualificationAssessor
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import (
    StandardCMSSignatureStatus,
    TimestampSignatureStatus,
)
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import RevokedError, ValidationError
from pyhanko_certvalidator.path import ValidationPath

from marketplace.lib.esign._report import (
    Category,
    Check,
    Checks,
    SignatureFormat,
    SignatureReport,
    SignerIdentity,
    SignerReport,
    SigningTime,
    Status,
    TimeSource,
    Verdict,
)
from marketplace.lib.esign._trust import Revinfo, TrustStore, context

log = logging.getLogger("marketplace.esign")

# A qualified signature certificate is issued for non-repudiation (ETSI EN 319 412-2).
SIGNER_KEY_USAGE = KeyUsageConstraints(key_usage={"non_repudiation"})



@dataclass
class Outcome:
    """What a format-specific validation found, in terms the report shares."""

    integrity: Check
    signing_cert: x509.Certificate | None
    path: ValidationPath | None = None
    problem: AdESSubIndic | None = None


def rfc4514(name: x509.Name) -> str:
    return pyca_x509.Name.from_bytes(name.dump()).rfc4514_string()


def _identity(cert: x509.Certificate) -> SignerIdentity:
    subject = cert.subject.native
    return SignerIdentity(common_name=subject.get("common_name"), organisation=subject.get("organization_name"),
                          subject=rfc4514(cert.subject), serial_number=format(cert.serial_number, "x"),
                          issuer=rfc4514(cert.issuer))


def passed(detail: str) -> Check:
    return Check(status=Status.PASSED, detail=detail)


def failed(detail: str) -> Check:
    return Check(status=Status.FAILED, detail=detail)


def unknown(detail: str) -> Check:
    return Check(status=Status.UNKNOWN, detail=detail)


NOT_CHECKED = unknown("not checked: an earlier check failed")


def _validity(cert: x509.Certificate, at: datetime | None) -> Check:
    validity = cert["tbs_certificate"]["validity"]
    start, end = validity["not_before"].native, validity["not_after"].native
    window = f"{start.isoformat()} to {end.isoformat()}"
    if at is None:
        return failed(f"no signing time: the certificate's validity ({window}) can't be checked")
    if at < start:
        return failed(f"the certificate was not yet valid at signing time {at.isoformat()} (valid {window})")
    if at > end:
        return failed(f"the certificate had expired at signing time {at.isoformat()} (valid {window})")
    return passed(f"valid at signing time {at.isoformat()} ({window})")


async def signature_timestamp(signer_info: cms.SignerInfo, trust: TrustStore, revinfo: Revinfo,
                     claimed_elsewhere: datetime | None = None) -> tuple[Check, SigningTime]:
    """The signature timestamp (RFC 3161 token over the signature value), checked at its own time.

    Without a trusted one, the signing time is the claimed one: CAdES's signingTime attribute, or a PAdES
    signature dictionary's /M (PAdES baseline signatures carry no signingTime attribute)."""
    claimed = generic_cms.extract_self_reported_ts(signer_info) or claimed_elsewhere
    claimed_time = SigningTime(at=claimed, source=TimeSource.CLAIMED if claimed else TimeSource.NONE)
    tokens = list(generic_cms.extract_tst_data_iter(signer_info, signed=False))
    if not tokens:
        return unknown("no signature timestamp: the signing time is the one the signer claims"), claimed_time
    token = tokens[0]
    gen_time = token["encap_content_info"]["content"].parsed["gen_time"].native
    kwargs = await generic_cms.validate_tst_signed_data(
        token, context(trust, revinfo, gen_time), generic_cms.message_imprint_checker(signer_info))
    status = TimestampSignatureStatus(**kwargs)
    tsa = rfc4514(status.signing_cert.subject)
    if not (status.intact and status.valid):
        return failed(f"the signature timestamp by {tsa} doesn't match the signature (altered)"), claimed_time
    if not status.trusted:
        reason = _indication(status.trust_problem_indic)
        return (unknown(f"the signature timestamp's authority {tsa} is not trusted ({reason}): the signing time "
                         "is the one the signer claims"), claimed_time)
    return (passed(f"timestamped {gen_time.isoformat()} by {tsa}"),
            SigningTime(at=gen_time, source=TimeSource.TIMESTAMP, authority=tsa))


def _indication(indication: AdESSubIndic | None) -> str:
    return str(indication.standard_name) if indication is not None else "untrusted"


def _chain(outcome: Outcome) -> tuple[Check, Check]:
    """(chain, revocation) from the certificate validation's AdES sub-indication."""
    problem = outcome.problem
    anchor = rfc4514(outcome.path.trust_anchor.authority.name) if outcome.path else None
    if problem is None:
        return passed(f"chains to the trust anchor {anchor}"), unknown("not checked yet")
    if problem in (AdESIndeterminate.REVOKED_NO_POE, AdESIndeterminate.REVOKED_CA_NO_POE):
        which = "the signer's certificate" if problem is AdESIndeterminate.REVOKED_NO_POE else "a CA certificate"
        return (passed(f"chains to the trust anchor {anchor}"),
                failed(f"{which} was revoked at signing time (embedded revocation data)"))
    if problem is AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND:
        return (failed("no chain to a trust anchor of the trusted list (unknown or untrusted CA)"),
                NOT_CHECKED)
    if problem is AdESIndeterminate.OUT_OF_BOUNDS_NO_POE:
        # Reported by the validity check; the chain isn't judged on a certificate out of its validity.
        return unknown("not checked: the certificate was outside its validity at signing time"), NOT_CHECKED
    if problem is AdESIndeterminate.CHAIN_CONSTRAINTS_FAILURE:
        return failed("the certificate is not one for signing (key usage: non-repudiation expected)"), NOT_CHECKED
    return failed(f"the certificate chain doesn't validate ({_indication(problem)})"), NOT_CHECKED


async def _revocation(cert: x509.Certificate, trust: TrustStore, revinfo: Revinfo, at: datetime | None) -> Check:
    """Revocation at signing time from the embedded data only, requiring it for every certificate of the chain
    ("require"): the soft-fail pass before checks only the certificates that name a revocation source."""
    if not (revinfo.crls or revinfo.ocsps):
        return unknown("no revocation data embedded in the signature or the document; nothing is fetched online")
    validator = CertificateValidator(cert, intermediate_certs=revinfo.certs,
                                     validation_context=context(trust, revinfo, at, mode="require"))
    try:
        # Untyped in pyhanko-certvalidator.
        await validator.async_validate_usage(key_usage=set(SIGNER_KEY_USAGE.key_usage or ()))  # type: ignore[no-untyped-call]
    except RevokedError as exc:
        return failed(f"revoked at signing time (embedded revocation data): {exc.failure_msg}")
    except ValidationError as exc:
        return unknown(f"the embedded revocation data doesn't cover the chain at signing time: {exc.failure_msg}")
    return passed("not revoked at signing time (embedded revocation data)")


def _category(trust: TrustStore, path: ValidationPath | None, at: datetime | None) -> tuple[Category, Check]:
    if path is None:
        return Category.NOT_QUALIFIED, unknown("not assessed: no valid chain")
    result = QualificationAssessor(trust.registry).check_entity_cert_qualified(path, moment=at)
    if result.status.qualified and result.service_definition is not None:
        service = result.service_definition.base_info.service_name
        return Category.QUALIFIED, passed(f"qualified certificate ({result.status.qc_type.value}); issuing "
                                           f"service on the trusted list: {service}")
    return Category.NOT_QUALIFIED, failed("not a qualified certificate: no QcCompliance statement, or its CA is "
                                           "not a granted qualified service (CA/QC) on the trusted list")


async def assess_signer(trust: TrustStore, revinfo: Revinfo, timestamp: tuple[Check, SigningTime],
                  validate: Callable[[ValidationContext, ValidationContext], Awaitable[Outcome]]) -> SignerReport:
    ts_check, signing_time = timestamp
    at = signing_time.at
    outcome = await validate(context(trust, revinfo, at), context(trust, revinfo, at))
    cert = outcome.signing_cert
    if cert is None:
        return SignerReport(identity=None, signing_time=signing_time, category=Category.NOT_QUALIFIED,
                            checks=Checks(integrity=outcome.integrity, timestamp=ts_check, validity=NOT_CHECKED,
                                          chain=NOT_CHECKED, revocation=NOT_CHECKED, category=NOT_CHECKED),
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


def cms_outcome(status: StandardCMSSignatureStatus, integrity: Check | None = None) -> Outcome:
    if integrity is None:
        integrity = (passed(f"the signed digest ({status.md_algorithm}) matches the content")
                     if status.intact and status.valid else
                     failed("the content doesn't match the signed digest (altered)") if not status.intact else
                     failed("the signature value doesn't verify with the signer's key"))
    return Outcome(integrity=integrity, signing_cert=status.signing_cert, path=status.validation_path,
                    problem=status.trust_problem_indic)


# -- the document's verdict ------------------------------------------------------------------------------


def aggregate(fmt: SignatureFormat, packaging: str | None, signers: list[SignerReport], trust: TrustStore
              ) -> SignatureReport:
    """Valid when every signature is; else invalid, named by the first failed check of the first bad one."""
    for index, signer in enumerate(signers, 1):
        check = signer.checks.first_failed() if not signer.valid else None
        if check is not None:
            who = signer.identity.subject if signer.identity else f"signature {index}"
            detail = getattr(signer.checks, check).detail
            return SignatureReport(verdict=Verdict.INVALID, format=fmt, packaging=packaging, failed_check=check,
                                   detail=f"{fmt.value} signature of {who}: {check}: {detail}",
                                   signatures=signers, trusted_list=trust.source)
    names = ", ".join(s.identity.subject for s in signers if s.identity)
    return SignatureReport(verdict=Verdict.VALID, format=fmt, packaging=packaging, failed_check=None,
                           detail=f"{fmt.value} signature{'s' if len(signers) > 1 else ''} of {names}: valid",
                           signatures=signers, trusted_list=trust.source)


def unsupported(detail: str, trust: TrustStore | None = None) -> SignatureReport:
    return SignatureReport(verdict=Verdict.UNSUPPORTED, format=SignatureFormat.UNSUPPORTED, packaging=None,
                           failed_check="format", detail=detail, signatures=[],
                           trusted_list=(trust or TrustStore()).source)


def unreadable(exc: Exception) -> SignerReport:
    log.warning("esign.unreadable_signature", exc_info=exc)
    return SignerReport(identity=None, signing_time=SigningTime(at=None, source=TimeSource.NONE),
                        category=Category.NOT_QUALIFIED,
                        checks=Checks(integrity=failed(f"the signature can't be read ({type(exc).__name__})"),
                                      timestamp=NOT_CHECKED, validity=NOT_CHECKED, chain=NOT_CHECKED,
                                      revocation=NOT_CHECKED, category=NOT_CHECKED), valid=False)

