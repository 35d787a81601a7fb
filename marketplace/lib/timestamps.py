"""RFC 3161 time-stamps on the platform's evidence (reliability.md G4, G14): offer receipts, opening records and
the audit chain's daily anchor.

A token is asked of the time-stamping authority (`MARKETPLACE_TSA_URL`, RFC 3161 over HTTP:
`application/timestamp-query` in, `application/timestamp-reply` out) for the SHA-256 of the evidence's canonical
bytes (RFC 8785 JSON for receipts and records, the chain head's hash for an anchor). It is kept beside the
evidence, append-only (`evidence_timestamp`, `audit_anchor`: migration 0032's triggers refuse UPDATE and DELETE),
and handed out as base64 DER with it.

A TSA that does not answer never costs a submission: the receipt is issued, signed, at once, and its token is
fetched by the `timestamp_evidence` job, recorded through the outbox in the submission's own transaction
(lib/jobs.py) and retried by arq until the TSA answers. Until then the API says `status: "pending"`.

`verify_token` checks a token offline against the bytes it should cover and the TSA certificates trusted
(`MARKETPLACE_TSA_CERTIFICATE`, PEM): the message imprint, the CMS signature over the signed attributes, the
signed attributes' digest of the TSTInfo, and the signer certificate: one of the trusted ones or issued by one
of them, valid at `genTime`, with the `id-kp-timeStamping` extended key usage alone and critical (RFC 3161
§2.3). A wrong answer on any is a failure with its reason, never an exception.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from arq import Retry
from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from pyhanko.sign.timestamps import TimeStamper, TimestampRequestError
from pyhanko.sign.timestamps.common_utils import set_tsp_headers
from sqlalchemy import LargeBinary, String, UniqueConstraint, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from uuid_utils.compat import uuid7

from marketplace.lib.clock import Clock
from marketplace.lib.jobs import job
from marketplace.settings import Settings

log = logging.getLogger("marketplace.timestamps")

TIMESTAMP_JOB = "timestamp_evidence"
# What a token covers, as `evidence_timestamp.subject_type` names it.
OFFER_RECEIPT = "offer_receipt"
OPENING_RECORD = "opening_record"
SUBJECTS = (OFFER_RECEIPT, OPENING_RECORD)
# The request's time limit: a TSA slower than this is down for us, and the job tries again later.
REQUEST_TIMEOUT = 10.0

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}


class TsaUnavailable(RuntimeError):
    """The TSA did not answer, or answered with anything but a granted token."""


# -- the tokens kept -----------------------------------------------------------------------------------------


class EvidenceTimestamp(UUIDv7AuditBase):
    """The RFC 3161 token of one piece of evidence (a receipt, an opening record): append-only (migration 0032)."""

    __tablename__ = "evidence_timestamp"
    __table_args__ = (UniqueConstraint("subject_type", "subject_id"),)

    subject_type: Mapped[str] = mapped_column(String(30))
    subject_id: Mapped[str] = mapped_column(String(100))
    # Hex SHA-256 of the canonical bytes the token covers: the token's messageImprint.
    sha256: Mapped[str] = mapped_column(String(64))
    token: Mapped[bytes] = mapped_column(LargeBinary)
    gen_time: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


async def timestamp_of(session: AsyncSession, subject_type: str, subject_id: object) -> EvidenceTimestamp | None:
    return await session.scalar(select(EvidenceTimestamp).where(
        EvidenceTimestamp.subject_type == subject_type, EvidenceTimestamp.subject_id == str(subject_id)))


async def keep(session: AsyncSession, clock: Clock, subject_type: str, subject_id: str, sha256: str,
               token: bytes) -> None:
    """Store a token once: a second one for the same evidence (a job run twice) is dropped, the first stays."""
    now = clock.now()
    await session.execute(insert(EvidenceTimestamp).values(
        id=uuid7(), subject_type=subject_type, subject_id=subject_id, sha256=sha256, token=token,
        gen_time=gen_time(token), created_at=now, updated_at=now,
    ).on_conflict_do_nothing(index_elements=["subject_type", "subject_id"]))


def b64(token: bytes) -> str:
    return base64.b64encode(token).decode()


# -- the client ----------------------------------------------------------------------------------------------


class _HttpxStamper(TimeStamper):
    """pyHanko's RFC 3161 client (request with a nonce, response and nonce checked) over httpx."""

    def __init__(self, url: str, timeout: float) -> None:
        super().__init__(include_nonce=True)  # type: ignore[no-untyped-call]
        self.url = url
        self.timeout = timeout

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                reply = await client.post(self.url, content=req.dump(), headers=set_tsp_headers({}))
        except httpx.HTTPError as exc:
            raise TsaUnavailable(f"the TSA at {self.url} did not answer: {exc!r}") from exc
        if reply.status_code != 200 or reply.headers.get("content-type") != "application/timestamp-reply":
            raise TsaUnavailable(f"the TSA at {self.url} answered {reply.status_code} "
                                 f"({reply.headers.get('content-type')})")
        return tsp.TimeStampResp.load(reply.content)


@dataclass(frozen=True)
class TsaClient:
    url: str
    timeout: float = REQUEST_TIMEOUT

    @classmethod
    def from_settings(cls, settings: Settings) -> TsaClient | None:
        return cls(settings.tsa_url) if settings.tsa_url else None

    async def stamp(self, digest: bytes) -> bytes:
        """The DER of a token over this SHA-256 digest; TsaUnavailable if the TSA can't give one."""
        stamper = _HttpxStamper(self.url, self.timeout)
        try:
            token = await stamper.async_timestamp(digest, "sha256")
        except (TimestampRequestError, ValueError) as exc:
            raise TsaUnavailable(f"the TSA at {self.url} gave no token: {exc}") from exc
        return bytes(token.dump())


# -- verification --------------------------------------------------------------------------------------------


def load_trust(settings: Settings) -> list[x509.Certificate]:
    """The TSA certificates tokens are checked against: every PEM certificate in `MARKETPLACE_TSA_CERTIFICATE`
    (a file); none when it is unset, and then no token verifies."""
    if not settings.tsa_certificate:
        return []
    return x509.load_pem_x509_certificates(Path(settings.tsa_certificate).read_bytes())


@dataclass(frozen=True, slots=True)
class TokenCheck:
    ok: bool
    reason: str | None = None
    gen_time: datetime | None = None
    tsa: str | None = None


def gen_time(token: bytes) -> datetime:
    """The token's genTime, read without verifying anything."""
    at: datetime = _tst_info(cms.ContentInfo.load(token))["gen_time"].native
    return at


def _tst_info(info: cms.ContentInfo) -> tsp.TSTInfo:
    content = info["content"]["encap_content_info"]["content"]
    parsed: tsp.TSTInfo = content.parsed
    return parsed


def _signer_cert(signed: cms.SignedData, signer: cms.SignerInfo) -> x509.Certificate | None:
    sid = signer["sid"]
    for choice in signed["certificates"] or []:
        if choice.name != "certificate":
            continue
        cert = choice.chosen
        if sid.name == "issuer_and_serial_number":
            if (cert.issuer == sid.chosen["issuer"]
                    and cert.serial_number == sid.chosen["serial_number"].native):
                return x509.load_der_x509_certificate(cert.dump())
        elif cert.key_identifier == sid.chosen.native:
            return x509.load_der_x509_certificate(cert.dump())
    return None


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _check_signature(cert: x509.Certificate, signature: bytes, data: bytes, algorithm: str) -> bool:
    key = cert.public_key()
    digest = _HASHES[algorithm]()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), digest)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(digest))
        else:
            return False
    except InvalidSignature:
        return False
    return True


class _Refused(Exception):
    """One check failed; its message is the reason given."""


def verify_token(token: bytes, data: bytes | None, trusted: list[x509.Certificate], *,
                 sha256: bytes | None = None) -> TokenCheck:
    """Whether `token` is a valid RFC 3161 token over `data` (or over the SHA-256 digest `sha256`) by a TSA
    certificate among `trusted` or issued by one of them. See the module docstring for what is checked."""
    digest = hashlib.sha256(data).digest() if data is not None else sha256
    when: datetime | None = None
    tsa: str | None = None
    try:
        signed, tst_bytes = _signed_tst(token)
        tst = tsp.TSTInfo.load(tst_bytes)
        when = tst["gen_time"].native
        imprint = tst["message_imprint"]
        if imprint["hash_algorithm"]["algorithm"].native != "sha256" or digest is None \
                or imprint["hashed_message"].native != digest:
            raise _Refused("its message imprint is not the SHA-256 of these bytes (the evidence was altered, or "
                           "the token is another's)")
        cert = _check_signature_of(signed, tst_bytes)
        tsa = cert.subject.rfc4514_string()
        assert when is not None
        _check_tsa_certificate(cert, when, trusted)
    except _Refused as refused:
        return TokenCheck(False, str(refused), when, tsa)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return TokenCheck(False, f"the token is not a readable RFC 3161 token ({exc.__class__.__name__})", when, tsa)
    return TokenCheck(True, None, when, tsa)


def _signed_tst(token: bytes) -> tuple[cms.SignedData, bytes]:
    info = cms.ContentInfo.load(token, strict=True)
    if info["content_type"].native != "signed_data":
        raise _Refused("the token is not CMS SignedData")
    signed: cms.SignedData = info["content"]
    encap = signed["encap_content_info"]
    if encap["content_type"].native != "tst_info":
        raise _Refused("the token does not hold a TSTInfo")
    return signed, bytes(encap["content"].contents)


def _check_signature_of(signed: cms.SignedData, tst_bytes: bytes) -> x509.Certificate:
    """The signer's certificate, once its signature over the signed attributes and their digest of the TSTInfo
    are checked."""
    if len(signed["signer_infos"]) != 1:
        raise _Refused("the token has not exactly one signer")
    signer: cms.SignerInfo = signed["signer_infos"][0]
    algorithm = signer["digest_algorithm"]["algorithm"].native
    if algorithm not in _HASHES:
        raise _Refused(f"its digest algorithm {algorithm} is not accepted")
    attributes = signer["signed_attrs"]
    values = {a["type"].native: a["values"][0] for a in attributes} if attributes else {}
    if "content_type" not in values or values["content_type"].native != "tst_info":
        raise _Refused("its signed content type is not a TSTInfo")
    if "message_digest" not in values or values["message_digest"].native != hashlib.new(algorithm,
                                                                                         tst_bytes).digest():
        raise _Refused("its TSTInfo does not match the digest its TSA signed")
    cert = _signer_cert(signed, signer)
    if cert is None:
        raise _Refused("the token does not carry its TSA's certificate")
    # The signature is over the DER of the attributes as a SET (RFC 5652 §5.4), not their [0] tag.
    if not _check_signature(cert, signer["signature"].native, b"\x31" + attributes.dump()[1:], algorithm):
        raise _Refused("its signature does not verify with its TSA certificate")
    return cert


def _check_tsa_certificate(cert: x509.Certificate, when: datetime, trusted: list[x509.Certificate]) -> None:
    if not any(cert == anchor or _signed_by(cert, anchor) for anchor in trusted):
        raise _Refused("its TSA certificate is not a trusted one, nor issued by one")
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise _Refused("its TSA certificate has no extended key usage") from None
    if not eku.critical or list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise _Refused("its TSA certificate's extended key usage is not timeStamping alone, critical "
                       "(RFC 3161 §2.3)")
    if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
        raise _Refused("its genTime is outside its TSA certificate's validity")


# -- the job -------------------------------------------------------------------------------------------------


def _retry_later(ctx: dict[str, Any]) -> Retry:
    # Soon, then less often, up to ten minutes: a TSA restarts in seconds, a lost link takes longer.
    return Retry(defer=min(5 * 2 ** (ctx.get("job_try", 1) - 1), 600))


@job
async def timestamp_evidence(ctx: dict[str, Any], subject_type: str, subject_id: str, sha256: str) -> str:
    """Fetch and keep the RFC 3161 token of one piece of evidence (recorded with it: `stamp_later`).

    Retried while the TSA does not answer or answers with a token that does not verify; a second run for
    evidence already stamped does nothing. Without a TSA configured there is nothing to ask: the evidence
    stays `pending`."""
    settings: Settings = ctx["settings"]
    client = TsaClient.from_settings(settings)
    if client is None or subject_type not in SUBJECTS:
        return "no-tsa" if client is None else "unknown-subject"
    async with ctx["session_maker"]() as session:
        if await timestamp_of(session, subject_type, subject_id) is not None:
            return "stamped-already"
    try:
        token = await client.stamp(bytes.fromhex(sha256))
    except TsaUnavailable as exc:
        log.warning("timestamp.tsa_unavailable", extra={"subject": f"{subject_type}:{subject_id}",
                                                        "error": str(exc)})
        raise _retry_later(ctx) from exc
    trusted = load_trust(settings)
    if trusted:
        check = verify_token(token, None, trusted, sha256=bytes.fromhex(sha256))
        if not check.ok:
            log.error("timestamp.token_refused", extra={"subject": f"{subject_type}:{subject_id}",
                                                        "reason": check.reason})
            raise _retry_later(ctx)
    async with ctx["session_maker"]() as session, session.begin():
        await keep(session, ctx["clock"], subject_type, subject_id, sha256, token)
    return "stamped"
