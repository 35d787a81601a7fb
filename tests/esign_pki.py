"""A local test PKI for contract signatures (G16), made at test time, and helpers that sign with it.

Made once per test session (EC P-256 keys: a few ms each):

- "Test Qualified CA": a root marked as a qualified CA (CA/QC, granted) in a trusted list in the ETSI TS 119 612
  format, the format of the EU's national trusted lists: the stand-in for the EU Trusted List, which can't be
  reached offline. Its signers carry the QcCompliance statement, as qualified certificates do.
- "Test Advanced CA": a root in the trust store but not on the trusted list (advanced, not qualified).
- "Test Rogue CA": a root nobody trusts.
- "Test TSA": a time-stamping unit under the qualified root (pyHanko's in-process RFC 3161 stamper).

`PKI.trust_dir` is a directory laid out as `MARKETPLACE_ESIGN_TRUST_LIST` expects: PEM anchors plus the
trusted list. Signing a PDF, a CMS or an XML document takes a few milliseconds.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import io
import tempfile
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from asn1crypto import cms, core
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from lxml import etree
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.ades.qualified_asn1 import QcStatement, QcStatements
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.general import as_signing_certificate, simple_cms_attribute
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator.registry import SimpleCertificateStore
from signxml import DigestAlgorithm, SignatureMethod
from signxml.xades import XAdESSigner

from tests.vendors.api import minimal_pdf

# Certificates are valid from a year ago to a year ahead of the real time: pyHanko and signxml stamp the real
# time as the signing time, and the platform checks validity at that time, not at the frozen test clock's.
NOW = datetime.now(UTC).replace(microsecond=0)
QC_COMPLIANCE = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3")
TRUSTED_LIST = "trusted-list.xml"
T = TypeVar("T")


PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class Identity:
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


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _qc_compliance() -> x509.UnrecognizedExtension:
    statements = QcStatements([QcStatement({"statement_id": "qc_compliance"})])
    return x509.UnrecognizedExtension(QC_COMPLIANCE, statements.dump())


def issue(common_name: str, organisation: str, issuer: Identity | None = None, *, ca: bool = False,
          tsa: bool = False, qualified: bool = False, not_before: datetime | None = None,
          not_after: datetime | None = None) -> Identity:
    # pyHanko's in-process time stamper signs with RSA only; everything else is EC (fast to generate).
    key: PrivateKey = rsa.generate_private_key(65537, 2048) if tsa else ec.generate_private_key(ec.SECP256R1())
    subject = _name(common_name, organisation)
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer.cert.subject if issuer else subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before or NOW - timedelta(days=365))
               .not_valid_after(not_after or NOW + timedelta(days=365))
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
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=not tsa, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False),
            critical=True)
    if tsa:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    if qualified:
        builder = builder.add_extension(_qc_compliance(), critical=False)
    if issuer is not None and not tsa:
        # Where the CA publishes its CRL, as real signer certificates say; never fetched (offline checks).
        builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            [x509.UniformResourceIdentifier(f"http://crl.invalid/{issuer.cert.serial_number:x}.crl")],
            relative_name=None, reasons=None, crl_issuer=None)]), critical=False)
    signing_key = issuer.key if issuer else key
    cert = builder.sign(signing_key, hashes.SHA256())
    return Identity(key, cert, (issuer.cert, *issuer.chain) if issuer else ())


@dataclass
class PKI:
    qualified_ca: Identity
    advanced_ca: Identity
    rogue_ca: Identity
    tsa: Identity
    trust_dir: Path
    signers: dict[str, Identity] = field(default_factory=dict)

    def signer(self, name: str) -> Identity:
        """A qualified signer certificate (QcCompliance, issued by the qualified CA), one per name."""
        if name not in self.signers:
            self.signers[name] = issue(name, f"Organisation de {name}", self.qualified_ca, qualified=True)
        return self.signers[name]

    def timestamper(self, at: datetime | None = None) -> DummyTimeStamper:
        return _TimeStamper(self.tsa, tsa_cert=self.tsa.asn1_cert, tsa_key=self.tsa.asn1_key,
                            certs_to_embed=SimpleCertificateStore.from_certs([self.qualified_ca.asn1_cert]),
                            fixed_dt=at)

    def crl(self, issuer: Identity, revoked: list[tuple[Identity, datetime]], *, at: datetime | None = None
            ) -> x509.CertificateRevocationList:
        at = at or NOW
        builder = (x509.CertificateRevocationListBuilder().issuer_name(issuer.cert.subject)
                   .last_update(at - timedelta(minutes=1)).next_update(at + timedelta(days=7))
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
                                  critical=False)
                   .add_extension(x509.CRLNumber(1), critical=False))
        for who, when in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(who.cert.serial_number).revocation_date(when).build())
        return builder.sign(issuer.key, hashes.SHA256())


class _TimeStamper(DummyTimeStamper):
    """pyHanko's in-process TSA, signing with the key object it is given: the stock one reloads its RSA key
    from DER for every token, and RSA key loading (with its consistency checks) costs ~50 ms each time."""

    def __init__(self, tsa: Identity, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._key = tsa.key

    def _sign_tst_info(self, tst_info_data: bytes, md_algorithm: str, dt: datetime
                       ) -> tuple[bytes, cms.CMSAttributes]:
        assert isinstance(self._key, rsa.RSAPrivateKey)
        signed_attrs = cms.CMSAttributes([
            simple_cms_attribute("content_type", "tst_info"),
            simple_cms_attribute("signing_time", cms.Time({"utc_time": core.UTCTime(dt)})),
            simple_cms_attribute("signing_certificate", as_signing_certificate(self.tsa_cert)),
            simple_cms_attribute("message_digest", hashlib.new(md_algorithm, tst_info_data).digest())])
        signature = self._key.sign(signed_attrs.dump(), padding.PKCS1v15(),
                                   getattr(hashes, md_algorithm.upper())())
        return signature, signed_attrs


def _run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """pyHanko signs asynchronously; these helpers serve sync and async tests alike, so under a running loop
    the signing runs on a loop of its own in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def _signer(identity: Identity) -> signers.SimpleSigner:
    chain = [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in identity.chain]
    return signers.SimpleSigner(signing_cert=identity.asn1_cert, signing_key=identity.asn1_key,
                                cert_registry=SimpleCertificateStore.from_certs(chain))


def sign_pdf(pki: PKI, identity: Identity, document: bytes, *, timestamp: bool = True,
             timestamp_at: datetime | None = None, field_name: str = "Signature") -> bytes:
    """A PAdES baseline signature (ETSI.CAdES.detached), with a signature timestamp from the test TSA."""
    out = _run(lambda: signers.async_sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(document)),
        signers.PdfSignatureMetadata(field_name=field_name, subfilter=SigSeedSubFilter.PADES),
        signer=_signer(identity), timestamper=pki.timestamper(timestamp_at) if timestamp else None,
        # A fixed reservation: pyHanko otherwise signs once more (with a dummy timestamp) to measure it.
        bytes_reserved=16384))
    return out.getvalue()


def add_dss(signed_pdf: bytes, *, crls: list[x509.CertificateRevocationList]) -> bytes:
    """PAdES-LT: revocation data added to the document security store in an incremental update."""
    from asn1crypto import crl as asn1_crl

    writer = IncrementalPdfFileWriter(io.BytesIO(signed_pdf))
    DocumentSecurityStore.supply_dss_in_writer(
        writer, None, certs=(), ocsps=(),
        crls=[asn1_crl.CertificateList.load(c.public_bytes(serialization.Encoding.DER)) for c in crls])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def sign_cms(pki: PKI, identity: Identity, content: bytes, *, detached: bool = False,
             timestamp: bool = True) -> bytes:
    """A CAdES signature (CMS SignedData, DER), enveloping the content unless detached."""
    signed = _run(lambda: _signer(identity).async_sign_general_data(
        content, digest_algorithm="sha256", detached=detached, use_cades=True,
        timestamper=pki.timestamper() if timestamp else None))
    return bytes(signed.dump())


def sign_xml(identity: Identity, document: bytes) -> bytes:
    """An enveloped XAdES-BES signature over the whole XML document (signxml)."""
    root = etree.fromstring(document)
    signed = XAdESSigner(signature_algorithm=SignatureMethod.ECDSA_SHA256,
                         digest_algorithm=DigestAlgorithm.SHA256).sign(
        root, key=identity.key, cert=[identity.cert, *identity.chain])
    return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))


def contract_xml(label: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><Marche xmlns="urn:example:marche"><Objet>{label}</Objet>'
            "<Montant devise=\"EUR\">30000.00</Montant></Marche>").encode()


def trusted_list(qualified: list[Identity], status: str = "granted") -> str:
    """A trusted list in the ETSI TS 119 612 format listing these CAs as qualified CAs (CA/QC) with this status
    (granted, or withdrawn for a CA that no longer is)."""
    services = "".join(f"""
      <tsl:TSPService><tsl:ServiceInformation>
        <tsl:ServiceTypeIdentifier>http://uri.etsi.org/TrstSvc/Svctype/CA/QC</tsl:ServiceTypeIdentifier>
        <tsl:ServiceName><tsl:Name xml:lang="en">{ca.cert.subject.rfc4514_string()}</tsl:Name></tsl:ServiceName>
        <tsl:ServiceDigitalIdentity><tsl:DigitalId><tsl:X509Certificate>{
            base64.b64encode(ca.cert.public_bytes(serialization.Encoding.DER)).decode()
        }</tsl:X509Certificate></tsl:DigitalId></tsl:ServiceDigitalIdentity>
        <tsl:ServiceStatus>http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/{status}</tsl:ServiceStatus>
        <tsl:StatusStartingTime>{(NOW - timedelta(days=3650)).strftime("%Y-%m-%dT%H:%M:%SZ")}</tsl:StatusStartingTime>
      </tsl:ServiceInformation></tsl:TSPService>""" for ca in qualified)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<tsl:TrustServiceStatusList xmlns:tsl="http://uri.etsi.org/02231/v2#" TSLTag="http://uri.etsi.org/19612/TSLTag">
  <tsl:SchemeInformation>
    <tsl:TSLVersionIdentifier>5</tsl:TSLVersionIdentifier><tsl:TSLSequenceNumber>1</tsl:TSLSequenceNumber>
    <tsl:SchemeTerritory>FR</tsl:SchemeTerritory>
  </tsl:SchemeInformation>
  <tsl:TrustServiceProviderList><tsl:TrustServiceProvider>
    <tsl:TSPInformation><tsl:TSPName><tsl:Name xml:lang="en">Test TSP</tsl:Name></tsl:TSPName></tsl:TSPInformation>
    <tsl:TSPServices>{services}
    </tsl:TSPServices>
  </tsl:TrustServiceProvider></tsl:TrustServiceProviderList>
</tsl:TrustServiceStatusList>
"""


@functools.cache
def pki() -> PKI:
    """The session's PKI and its trust directory (anchors + trusted list), made once."""
    qualified_ca = issue("Test Qualified CA", "Prestataire qualifié de test", ca=True,
                         not_before=NOW - timedelta(days=3650), not_after=NOW + timedelta(days=3650))
    advanced_ca = issue("Test Advanced CA", "Prestataire non qualifié de test", ca=True)
    rogue_ca = issue("Test Rogue CA", "Inconnu", ca=True)
    tsa = issue("Test TSA", "Prestataire qualifié de test", qualified_ca, tsa=True,
                not_before=NOW - timedelta(days=3000), not_after=NOW + timedelta(days=3000))
    trust_dir = Path(tempfile.mkdtemp(prefix="esign-trust-"))
    (trust_dir / "advanced-ca.pem").write_bytes(advanced_ca.pem())
    (trust_dir / TRUSTED_LIST).write_text(trusted_list([qualified_ca]), encoding="utf-8")
    return PKI(qualified_ca, advanced_ca, rogue_ca, tsa, trust_dir)


def signed_contract_pdf(name: str, label: str) -> bytes:
    """A contract PDF signed (PAdES, timestamped) by `name`'s qualified certificate."""
    return sign_pdf(pki(), pki().signer(name), minimal_pdf(label))
