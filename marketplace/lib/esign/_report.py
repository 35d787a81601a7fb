"""The report of a signature's offline verification (G16): one check per line of the arrêté's art. 5."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from marketplace.lib.schemas import CamelStruct


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

