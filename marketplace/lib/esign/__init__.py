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
from marketplace.lib.esign._trust import SignaturePolicy, TrustStore

__all__ = ["Category", "Check", "Checks", "SignatureFormat", "SignaturePolicy", "SignatureReport", "SignerIdentity",
           "SignerReport", "SigningTime", "Status", "TimeSource", "TrustStore", "Verdict", "averify", "detect",
           "unsupported", "verify"]


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


def unsupported(reason: str, trust: TrustStore) -> SignatureReport:
    from marketplace.lib.esign._checks import unsupported as report

    return report(reason, trust)


async def averify(data: bytes, trust: TrustStore, *, detached_content: bytes | None = None) -> SignatureReport:
    # Imported here: pyHanko's signing and validation modules take about half a second to import, which
    # every process start (API, worker, `dev`) would pay while only a signature upload needs them.
    from marketplace.lib.esign._formats import cades, pades, xades

    fmt = detect(data)
    if fmt is SignatureFormat.PADES:
        return await pades(data, trust)
    if fmt is SignatureFormat.XADES:
        return await xades(data, trust)
    if fmt is SignatureFormat.CADES:
        return await cades(data, trust, detached_content)
    return unsupported("neither a PDF (PAdES), a CMS signature (CAdES) nor an XML document (XAdES)", trust)

