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

Certificates, trusted lists, the time stamper and PAdES signing are the product's (marketplace/devstack/pki.py,
with which marketplace/devstack/esign.py makes `marketplace dev`'s demo PKI); what only tests need (a
non-qualified and an untrusted CA, CRLs, CAdES and XAdES signatures) is here.
"""

from __future__ import annotations

import functools
import io
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from lxml import etree
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.validation.dss import DocumentSecurityStore
from signxml import DigestAlgorithm, SignatureMethod
from signxml.xades import XAdESSigner

from marketplace.devstack import pki as pki_tools
from marketplace.devstack.pki import QC_COMPLIANCE, Identity, TimeStamper, cms_signer, issue, run_sync, trusted_list
from tests.vendors.api import minimal_pdf

__all__ = ["NOW", "PKI", "QC_COMPLIANCE", "TRUSTED_LIST", "Identity", "add_dss", "contract_xml", "issue", "pki",
           "sign_cms", "sign_pdf", "sign_xml", "signed_contract_pdf", "trusted_list"]

# Certificates are valid from a year ago to a year ahead of the real time: pyHanko and signxml stamp the real
# time as the signing time, and the platform checks validity at that time, not at the frozen test clock's.
NOW = datetime.now(UTC).replace(microsecond=0)
TRUSTED_LIST = "trusted-list.xml"


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

    def timestamper(self, at: datetime | None = None) -> TimeStamper:
        return TimeStamper(self.tsa, at)

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


def sign_pdf(pki: PKI, identity: Identity, document: bytes, *, timestamp: bool = True,
             timestamp_at: datetime | None = None, field_name: str = "Signature") -> bytes:
    """A PAdES baseline signature (ETSI.CAdES.detached), with a signature timestamp from the test TSA."""
    return pki_tools.sign_pdf(identity, document, timestamper=pki.timestamper(timestamp_at) if timestamp else None,
                              field_name=field_name)


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
    signed = run_sync(lambda: cms_signer(identity).async_sign_general_data(
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
