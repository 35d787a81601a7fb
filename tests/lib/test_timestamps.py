"""`verify_token` (G4, G14), offline: a token verifies over its bytes by a trusted TSA whose certificate says
`timeStamping` alone, critical; other bytes, another TSA, a TSA certificate without that extended key usage, a
token with a flipped byte or no token at all: refused, each with its reason. The tokens are made in process
(devstack/pki.py's stamper); tests/tenders/test_timestamps.py takes them from the local TSA over HTTP."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from marketplace.devstack.pki import Identity, TimeStamper, issue
from marketplace.lib.timestamps import gen_time, verify_token

ROOT = issue("Test TSA root", "Tests", ca=True)
TSA = issue("Test TSA", "Tests", ROOT, tsa=True)
DATA = b'{"manifestSha256":"abc","offer":"1"}'


def _token(tsa: Identity, data: bytes = DATA, at: datetime | None = None) -> bytes:
    stamper = TimeStamper(tsa, at)
    return bytes(asyncio.run(stamper.async_timestamp(hashlib.sha256(data).digest(), "sha256")).dump())


def _tsa_with(eku: x509.ExtendedKeyUsage | None, *, critical: bool) -> Identity:
    """A TSA certificate under ROOT like TSA's, but with this extended key usage (or none)."""
    key = rsa.generate_private_key(65537, 2048)
    now = datetime.now(UTC).replace(microsecond=0)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Odd TSA")]))
               .issuer_name(ROOT.cert.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30)))
    if eku is not None:
        builder = builder.add_extension(eku, critical=critical)
    return Identity(key, builder.sign(ROOT.key, hashes.SHA256()), (ROOT.cert,))


def test_a_token_verifies_over_its_bytes_against_its_tsas_ca_or_certificate() -> None:
    token = _token(TSA)
    for trusted in ([ROOT.cert], [TSA.cert]):
        check = verify_token(token, DATA, trusted)
        assert check.ok, check.reason
        assert check.tsa == TSA.cert.subject.rfc4514_string() and check.gen_time == gen_time(token)
    assert verify_token(token, None, [ROOT.cert], sha256=hashlib.sha256(DATA).digest()).ok


@pytest.mark.parametrize(("case", "reason"), [
    ("other bytes", "message imprint"),
    ("flipped byte", ""),
    ("untrusted TSA", "not a trusted one"),
    ("no trust at all", "not a trusted one"),
    ("garbage", "not a readable RFC 3161 token"),
])
def test_a_token_is_refused_with_its_reason(case: str, reason: str) -> None:
    token, data, trusted = _token(TSA), DATA, [ROOT.cert]
    if case == "other bytes":
        data = DATA.replace(b"abc", b"abd")  # a tampered manifest hash in the receipt
    elif case == "flipped byte":
        token = token[:200] + bytes([token[200] ^ 1]) + token[201:]
    elif case == "untrusted TSA":
        other_root = issue("Other root", "Elsewhere", ca=True)
        token = _token(issue("Other TSA", "Elsewhere", other_root, tsa=True))
    elif case == "no trust at all":
        trusted = []
    else:
        token = b"\x30\x03\x02\x01\x00"
    check = verify_token(token, data, trusted)
    assert not check.ok and check.reason and reason in check.reason


@pytest.mark.parametrize(("eku", "critical"), [
    (None, False),
    (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), False),
    (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING, ExtendedKeyUsageOID.SERVER_AUTH]), True),
    (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), True),
])
def test_a_tsa_certificate_needs_time_stamping_alone_and_critical(eku: x509.ExtendedKeyUsage | None,
                                                                   critical: bool) -> None:
    check = verify_token(_token(_tsa_with(eku, critical=critical)), DATA, [ROOT.cert])
    assert not check.ok and "extended key usage" in (check.reason or "")


def test_a_token_dated_outside_its_tsa_certificate_is_refused() -> None:
    late = TSA.cert.not_valid_after_utc + timedelta(days=1)
    check = verify_token(_token(TSA, at=late), DATA, [ROOT.cert])
    assert not check.ok and "validity" in (check.reason or "")
