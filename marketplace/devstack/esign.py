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

The certificates, the trusted list, the stamper and the signing are `pki.py`'s, which the test suite's PKI uses too.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import unicodedata
from datetime import timedelta
from functools import cached_property
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fpdf import FPDF

from marketplace.devstack.pki import Identity, PrivateKey, TimeStamper, issue, sign_pdf, trusted_list
from marketplace.lib.clock import Clock, format_paris, system_clock

DEMO_ROOT_NAME = "DEMO — marketplace dev only — NOT a qualified trust service"
DEMO_TSA_NAME = "DEMO TSA — marketplace dev only — NOT qualified"
DEMO_ORGANISATION = "marketplace (development only)"
DEMO_UNIT = "DEMO — marketplace dev only — not a qualified certificate"
TRUSTED_LIST = "demo-trusted-list.xml"
# A signer certificate is reissued when it has less than this left: a demo signature must not fail on validity.
_RENEW_BEFORE = timedelta(days=30)
_MADE = ("root-ca.pem", "root-ca.key", "tsa.pem", "tsa.key")


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
