"""What signatures are checked against: trust anchors, trusted lists (ETSI TS 119 612), and the
revocation data a document carries; nothing is fetched."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from asn1crypto import cms, crl, ocsp, x509
from pyhanko.keys import load_certs_from_pemder_data
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.qualified.eutl_parse import trust_list_to_registry_unsafe
from pyhanko.sign.validation.qualified.tsp import TSPRegistry
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.authority import AuthorityWithCert

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
class Revinfo:
    """Revocation data and certificates carried by the document itself (signature, DSS)."""

    crls: list[crl.CertificateList] = field(default_factory=list)
    ocsps: list[ocsp.OCSPResponse] = field(default_factory=list)
    certs: list[x509.Certificate] = field(default_factory=list)

    def __add__(self, other: Revinfo) -> Revinfo:
        return Revinfo(self.crls + other.crls, self.ocsps + other.ocsps, self.certs + other.certs)

    @classmethod
    def from_signed_data(cls, signed_data: cms.SignedData, signer_info: cms.SignerInfo) -> Revinfo:
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
    def from_dss(cls, reader: PdfFileReader) -> Revinfo:
        try:
            dss = DocumentSecurityStore.read_dss(reader)
        except NoDSSFoundError:
            return cls()
        return cls(crls=[crl.CertificateList.load(ref.get_object().read_data(DecodePurpose.CRL)) for ref in dss.crls],
                   ocsps=[ocsp.OCSPResponse.load(ref.get_object().read_data(DecodePurpose.OCSP_RESPONSE))
                          for ref in dss.ocsps],
                   certs=list(dss.load_certs()))


def context(trust: TrustStore, revinfo: Revinfo, moment: datetime | None, *, mode: str = "soft-fail"
             ) -> ValidationContext:
    # Nothing is fetched (allow_fetching=False). Embedded revocation data is usually gathered just after
    # signing, so it is accepted although issued after the signing time (retroactive); a revocation dated
    # after the signing time doesn't make the signature invalid (the check is "at signing time").
    return ValidationContext(trust_roots=list(trust.anchors), other_certs=revinfo.certs, moment=moment,
                             best_signature_time=moment, allow_fetching=False, crls=revinfo.crls,
                             ocsps=revinfo.ocsps, revocation_mode=mode,
                             retroactive_revinfo=True)

