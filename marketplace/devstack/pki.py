"""The building blocks of a local PKI, made at run time: certificates (EC keys, a few ms each; RSA for the
time-stamping unit), trusted lists in the ETSI TS 119 612 format, an in-process RFC 3161 time stamper, and PAdES
signing with pyHanko.

For development and tests only: `esign.py` makes `marketplace dev`'s DEMO PKI with them, and the test suite its
own (tests/esign_pki.py). The platform itself never signs with them; it verifies (marketplace/lib/esign).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from asn1crypto import cms, core
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.ades.qualified_asn1 import QcStatement, QcStatements
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.general import as_signing_certificate, simple_cms_attribute
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from marketplace.lib.clock import Clock, system_clock

QC_COMPLIANCE = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3")
T = TypeVar("T")

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


# -- certificates --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """A key, its certificate and the chain above it (issuer first)."""

    key: PrivateKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def asn1_cert(self) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(self.cert.public_bytes(serialization.Encoding.DER))

    @property
    def asn1_key(self) -> asn1_keys.PrivateKeyInfo:
        return asn1_keys.PrivateKeyInfo.load(self.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())


def _name(common_name: str, organisation: str, unit: str | None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                  x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation)]
    if unit:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _qc_compliance() -> x509.UnrecognizedExtension:
    statements = QcStatements([QcStatement({"statement_id": "qc_compliance"})])
    return x509.UnrecognizedExtension(QC_COMPLIANCE, statements.dump())


def issue(common_name: str, organisation: str, issuer: Identity | None = None, *, ca: bool = False,
          tsa: bool = False, qualified: bool = False, not_before: datetime | None = None,
          not_after: datetime | None = None, unit: str | None = None, email: str | None = None,
          clock: Clock = system_clock) -> Identity:
    """A certificate and its new key: a self-signed root without `issuer`, else one `issuer` signs.

    Valid from a year before now to a year after unless told; `qualified` adds the QcCompliance statement.
    Raises ValueError for a name past what a certificate holds (64 characters)."""
    # pyHanko's in-process time stamper signs with RSA only; everything else is EC (a few ms to generate).
    key: PrivateKey = rsa.generate_private_key(65537, 2048) if tsa else ec.generate_private_key(ec.SECP256R1())
    now = clock.now().replace(microsecond=0)
    subject = _name(common_name, organisation, unit)
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer.cert.subject if issuer else subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before or now - timedelta(days=365))
               .not_valid_after(not_after or now + timedelta(days=365))
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer is not None:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer.key.public_key()), critical=False)
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
    else:
        # Signers sign for non-repudiation (content_commitment), as qualified signature certificates do.
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=not tsa, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False),
            critical=True)
    if email:
        # In the alternative name, where RFC 5280 puts an e-mail address, rather than in the subject.
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
    if tsa:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    if qualified:
        builder = builder.add_extension(_qc_compliance(), critical=False)
    if issuer is not None and not tsa:
        # Where the CA publishes its CRL, as real signer certificates say; never fetched (offline checks).
        builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            [x509.UniformResourceIdentifier(f"http://crl.invalid/{issuer.cert.serial_number:x}.crl")],
            relative_name=None, reasons=None, crl_issuer=None)]), critical=False)
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return Identity(key, cert, (issuer.cert, *issuer.chain) if issuer else ())


def trusted_list(qualified: list[Identity], *, status: str = "granted", operator: str = "Test TSP") -> str:
    """A trusted list in the ETSI TS 119 612 format listing these CAs as qualified CAs (CA/QC) with this status
    (granted, or withdrawn for a CA that no longer is), each since its certificate's start."""
    services = "".join(f"""
      <tsl:TSPService><tsl:ServiceInformation>
        <tsl:ServiceTypeIdentifier>http://uri.etsi.org/TrstSvc/Svctype/CA/QC</tsl:ServiceTypeIdentifier>
        <tsl:ServiceName><tsl:Name xml:lang="en">{_xml(ca.cert.subject.rfc4514_string())}</tsl:Name></tsl:ServiceName>
        <tsl:ServiceDigitalIdentity><tsl:DigitalId><tsl:X509Certificate>{
            base64.b64encode(ca.cert.public_bytes(serialization.Encoding.DER)).decode()
        }</tsl:X509Certificate></tsl:DigitalId></tsl:ServiceDigitalIdentity>
        <tsl:ServiceStatus>http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/{status}</tsl:ServiceStatus>
        <tsl:StatusStartingTime>{ca.cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")}</tsl:StatusStartingTime>
      </tsl:ServiceInformation></tsl:TSPService>""" for ca in qualified)
    name = _xml(operator)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<tsl:TrustServiceStatusList xmlns:tsl="http://uri.etsi.org/02231/v2#" TSLTag="http://uri.etsi.org/19612/TSLTag">
  <tsl:SchemeInformation>
    <tsl:TSLVersionIdentifier>5</tsl:TSLVersionIdentifier><tsl:TSLSequenceNumber>1</tsl:TSLSequenceNumber>
    <tsl:SchemeTerritory>FR</tsl:SchemeTerritory>
  </tsl:SchemeInformation>
  <tsl:TrustServiceProviderList><tsl:TrustServiceProvider>
    <tsl:TSPInformation><tsl:TSPName><tsl:Name xml:lang="en">{name}</tsl:Name></tsl:TSPName></tsl:TSPInformation>
    <tsl:TSPServices>{services}
    </tsl:TSPServices>
  </tsl:TrustServiceProvider></tsl:TrustServiceProviderList>
</tsl:TrustServiceStatusList>
"""


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- signing -------------------------------------------------------------------------------------------------


class TimeStamper(DummyTimeStamper):
    """pyHanko's in-process RFC 3161 time stamper, signing with the key object it is given (the stock one reloads
    its RSA key from DER for every token, and RSA key loading with its consistency checks costs ~50 ms)."""

    def __init__(self, tsa: Identity, at: datetime | None = None) -> None:
        super().__init__(tsa_cert=tsa.asn1_cert, tsa_key=tsa.asn1_key, fixed_dt=at,
                         certs_to_embed=_store(tsa.chain))
        self._key = tsa.key

    def _sign_tst_info(self, tst_info_data: bytes, md_algorithm: str, dt: datetime
                       ) -> tuple[bytes, cms.CMSAttributes]:
        assert isinstance(self._key, rsa.RSAPrivateKey)
        signed_attrs = cms.CMSAttributes([
            _attribute("content_type", "tst_info"),
            _attribute("signing_time", cms.Time({"utc_time": core.UTCTime(dt)})),
            _attribute("signing_certificate", as_signing_certificate(self.tsa_cert)),
            _attribute("message_digest", hashlib.new(md_algorithm, tst_info_data).digest())])
        signature = self._key.sign(signed_attrs.dump(), padding.PKCS1v15(),
                                   getattr(hashes, md_algorithm.upper())())
        return signature, signed_attrs


def _attribute(name: str, value: object) -> cms.CMSAttribute:
    return simple_cms_attribute(name, value)  # type: ignore[no-untyped-call]


def _store(certs: tuple[x509.Certificate, ...]) -> SimpleCertificateStore:
    return SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call,no-any-return]
        [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in certs])


def cms_signer(identity: Identity) -> signers.SimpleSigner:
    """pyHanko's signer for this identity, its chain embedded."""
    return signers.SimpleSigner(signing_cert=identity.asn1_cert, signing_key=identity.asn1_key,
                                cert_registry=_store(identity.chain))


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """pyHanko signs asynchronously: run it from sync code, on a loop of its own in a worker thread when the
    caller is already on a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def free_field_name(document: bytes) -> str:
    """"Signature", or "Signature2", "Signature3"…: the first name no signature field of the PDF has yet, so a
    signed document can be signed again (a counter-signature)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    taken = {name for name, _, _ in fields.enumerate_sig_fields(PdfFileReader(io.BytesIO(document)))}
    candidates = ["Signature", *(f"Signature{n}" for n in range(2, len(taken) + 2))]
    return next(name for name in candidates if name not in taken)


def sign_pdf(identity: Identity, document: bytes, *, timestamper: TimeStamper | None = None,
             field_name: str | None = None) -> bytes:
    """A PAdES baseline signature (ETSI.CAdES.detached) in an incremental update, timestamped if a stamper is
    given. Raises pyHanko's PdfReadError for what isn't a PDF."""
    name = field_name or free_field_name(document)
    out = run_sync(lambda: signers.async_sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(document)),
        signers.PdfSignatureMetadata(field_name=name, subfilter=SigSeedSubFilter.PADES),
        signer=cms_signer(identity), timestamper=timestamper,
        # A fixed reservation: pyHanko otherwise signs once more (with a dummy timestamp) to measure it.
        bytes_reserved=16384))
    return bytes(out.getvalue())
