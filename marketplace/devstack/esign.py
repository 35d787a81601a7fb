"""A DEMO PKI for `marketplace dev`: a trusted list the dev server checks contract signatures against (G16), and
the certificates `marketplace demo-sign` signs with, so the sandbox can be walked to a signed contract offline.

DEVELOPMENT ONLY. Under the data directory (`esign-demo/`), made once and reused on later starts:

- a root CA named "DEMO — marketplace dev only — NOT a qualified trust service", listed as a granted qualified CA
  (CA/QC) in a demo trusted list in the ETSI TS 119 612 format (`trust/demo-trusted-list.xml`): the dev server
  then checks signatures with `MARKETPLACE_ESIGN_REQUIRE_QUALIFIED=true`, the production path, and nothing needs
  switching off;
- a time-stamping unit under that root (RFC 3161 tokens made in-process by pyHanko's stamper), so a demo
  signature's time is a timestamp's, not a claim;
- signer certificates issued on demand, one per name (a demo account's, or any), with the QcCompliance
  statement as qualified certificates carry it.

Private keys stay in that directory, unencrypted, readable by their owner only (0600): whoever can read the data
directory can sign as any demo person, which is the point of a demo and why `marketplace serve` and
`marketplace worker` never use it. A production deployment sets `MARKETPLACE_ESIGN_TRUST_LIST` to the real
trusted list material (README, "Contract signatures (G16)").

The building blocks (`issue`, `trusted_list`, `TimeStamper`, `sign_pdf`) serve the test suite's PKI as well.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from asn1crypto import cms, core
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fpdf import FPDF
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.ades.qualified_asn1 import QcStatement, QcStatements
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.general import as_signing_certificate, simple_cms_attribute
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from marketplace.lib.clock import Clock, format_paris, system_clock

DEMO_ROOT_NAME = "DEMO — marketplace dev only — NOT a qualified trust service"
DEMO_TSA_NAME = "DEMO TSA — marketplace dev only — NOT qualified"
DEMO_ORGANISATION = "marketplace (development only)"
DEMO_UNIT = "DEMO — marketplace dev only — not a qualified certificate"
TRUSTED_LIST = "demo-trusted-list.xml"
QC_COMPLIANCE = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3")
# A signer certificate is reissued when it has less than this left: a demo signature must not fail on validity.
_RENEW_BEFORE = timedelta(days=30)
_MADE = ("root-ca.pem", "root-ca.key", "tsa.pem", "tsa.key")
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


def contract_pdf(title: str, clock: Clock = system_clock) -> bytes:
    """A one-page PDF to sign when there is no document at hand: the title, and that it is a demo's."""
    pdf = FPDF()
    # The core fonts draw WinAnsi (cp1252): French text and dashes; anything else becomes "?".
    pdf.core_fonts_encoding = "windows-1252"

    def text(value: str) -> str:
        return value.encode("cp1252", "replace").decode("cp1252")

    pdf.set_title(text(title))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 9, text(title))
    pdf.ln(4)
    pdf.set_font("Helvetica", "", 11)
    pdf.multi_cell(0, 6, text(
        "Document de démonstration produit par marketplace demo-sign le "
        f"{format_paris(clock.now())}. DEMO — sans valeur juridique : signé avec un certificat de la PKI de "
        "démonstration de marketplace dev, que seul un serveur de développement accepte."))
    return bytes(pdf.output())


# -- the demo PKI on disk ------------------------------------------------------------------------------------


class DemoPkiMissing(RuntimeError):
    """The data directory holds no usable demo PKI (`marketplace dev` makes it when no trusted list is
    configured)."""


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:40] or "signer"


def _write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Written whole or not at all (a temporary file renamed over it); keys readable by their owner only."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mkstemp: 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _load_key(path: Path) -> PrivateKey:
    # Our own keys, written by this module: RSA's slow consistency checks add nothing.
    key = serialization.load_pem_private_key(path.read_bytes(), password=None,
                                             unsafe_skip_rsa_key_validation=True)
    assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    return key


class DemoPki:
    """The demo PKI kept under `data_dir/esign-demo/` (see the module docstring)."""

    def __init__(self, data_dir: Path, clock: Clock = system_clock) -> None:
        self.home = data_dir / "esign-demo"
        self.clock = clock

    @property
    def trust_dir(self) -> Path:
        """What `MARKETPLACE_ESIGN_TRUST_LIST` names: the demo trusted list (its root is the anchor)."""
        return self.home / "trust"

    def exists(self) -> bool:
        return (self.trust_dir / TRUSTED_LIST).is_file()

    def _complete(self) -> bool:
        return self.exists() and all((self.home / name).is_file() for name in _MADE)

    def _incomplete(self) -> DemoPkiMissing:
        return DemoPkiMissing(f"the demo PKI in {self.home} is incomplete: delete that directory and start "
                              "`marketplace dev` again to make a new one")

    @classmethod
    def open(cls, data_dir: Path, clock: Clock = system_clock) -> DemoPki:
        """The demo PKI of `data_dir`; DemoPkiMissing if there is none (it is never made here)."""
        pki = cls(data_dir, clock)
        if not pki.home.exists():
            raise DemoPkiMissing(f"no demo PKI in {data_dir}: `marketplace dev` makes one there when "
                                 "MARKETPLACE_ESIGN_TRUST_LIST is unset")
        if not pki._complete():
            raise pki._incomplete()
        return pki

    def ensure(self) -> DemoPki:
        """Make the root, the TSA and the trusted list unless they exist: a warm start only looks for a file."""
        if self.exists():
            return self
        self.home.parent.mkdir(parents=True, exist_ok=True)
        # Built aside and renamed into place: an interrupted start leaves no half PKI that later starts trust.
        building = Path(tempfile.mkdtemp(prefix=".esign-demo-", dir=self.home.parent))  # 0700
        try:
            now = self.clock.now().replace(microsecond=0)
            root = issue(DEMO_ROOT_NAME, DEMO_ORGANISATION, ca=True, clock=self.clock,
                         not_before=now - timedelta(days=1), not_after=now + timedelta(days=3650))
            tsa = issue(DEMO_TSA_NAME, DEMO_ORGANISATION, root, tsa=True, clock=self.clock,
                        not_before=now - timedelta(days=1), not_after=now + timedelta(days=3650))
            for name, identity in (("root-ca", root), ("tsa", tsa)):
                _write(building / f"{name}.key", identity.key_pem())
                _write(building / f"{name}.pem", identity.pem(), 0o644)
            (building / "signers").mkdir()
            (building / "trust").mkdir()
            (building / "trust" / TRUSTED_LIST).write_text(
                trusted_list([root], operator="DEMO trusted list — marketplace dev only"), encoding="utf-8")
            try:
                building.rename(self.home)
            except OSError:
                # Another process made it meanwhile, or something else is in the way: say so.
                if not self.exists():
                    raise self._incomplete() from None
        finally:
            shutil.rmtree(building, ignore_errors=True)
        return self

    def _load(self, stem: Path, chain: tuple[x509.Certificate, ...]) -> Identity:
        cert = x509.load_pem_x509_certificate(stem.with_suffix(".pem").read_bytes())
        return Identity(_load_key(stem.with_suffix(".key")), cert, chain)

    @cached_property
    def root(self) -> Identity:
        return self._load(self.home / "root-ca", ())

    @cached_property
    def tsa(self) -> Identity:
        return self._load(self.home / "tsa", (self.root.cert,))

    def timestamper(self) -> TimeStamper:
        return TimeStamper(self.tsa)

    def signer(self, common_name: str, organisation: str, email: str | None = None) -> Identity:
        """The demo certificate of this person (qualified, under the demo root): issued on first use, kept, and
        reissued when it nears its end."""
        key = hashlib.sha256(f"{common_name}\n{organisation}\n{email or ''}".encode()).hexdigest()[:12]
        stem = self.home / "signers" / f"{_slug(email or common_name)}-{key}"
        if stem.with_suffix(".pem").is_file() and stem.with_suffix(".key").is_file():
            identity = self._load(stem, (self.root.cert,))
            if identity.cert.not_valid_after_utc - self.clock.now() > _RENEW_BEFORE:
                return identity
        now = self.clock.now().replace(microsecond=0)
        identity = issue(common_name, organisation, self.root, qualified=True, unit=DEMO_UNIT, email=email,
                         clock=self.clock, not_before=now - timedelta(days=1),
                         not_after=min(now + timedelta(days=730), self.root.cert.not_valid_after_utc))
        # The key first: a certificate on disk always has its key.
        _write(stem.with_suffix(".key"), identity.key_pem())
        _write(stem.with_suffix(".pem"), identity.pem(), 0o644)
        return identity

    def sign_pdf(self, identity: Identity, document: bytes) -> bytes:
        """PAdES, timestamped by the demo TSA, in the first free signature field."""
        return sign_pdf(identity, document, timestamper=self.timestamper())
