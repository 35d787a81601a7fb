"""The DEMO PKI of `marketplace dev` (marketplace/devstack/esign.py) and `marketplace demo-sign`: what lets a
newcomer walk the demo sandbox to a signed contract (README, "The demo sandbox, step by step").

The PKI is made once under a data directory and reused as it is; a PDF `demo-sign` signs verifies as a valid,
timestamped, qualified signature against the demo trust list with the platform's own checks (G16), and only
there; `demo-sign` never makes a PKI of its own. That `marketplace dev` hands the demo trust list to its server
is shown by tests/test_dev_command.py, and the signed contract over HTTP by tests/test_sandbox_e2e.py.
"""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from marketplace.accounts.demo import DEMO_ORGANISATIONS, DEMO_PEOPLE
from marketplace.cli import main
from marketplace.devstack.esign import DEMO_ROOT_NAME, TRUSTED_LIST, DemoPki, DemoPkiMissing
from marketplace.lib.esign import Category, TimeSource, TrustStore, Verdict, verify
from tests import esign_pki
from tests.vendors.api import minimal_pdf

BUYER, VENDOR = "acheteur@centrale-achat.example", "commercial@logisante.example"


def demo_sign(data_dir: Path, *args: str) -> Result:
    # MARKETPLACE_ESIGN_TRUST_LIST unset: as in a newcomer's shell (the command only notes a different one).
    return CliRunner().invoke(main, ["demo-sign", "--data-dir", str(data_dir), *args],
                              env={"MARKETPLACE_ESIGN_TRUST_LIST": None}, catch_exceptions=False)


def test_the_demo_pki_is_made_once_then_reused_with_its_keys_private(tmp_path: Path) -> None:
    began = time.monotonic()
    first = DemoPki(tmp_path).ensure()
    made_in = time.monotonic() - began
    # A cold `marketplace dev` pays this once; a warm one only looks for the trusted list.
    assert made_in < 2.0, f"making the demo PKI took {made_in:.2f} s"
    listed = (first.trust_dir / TRUSTED_LIST).read_bytes()
    assert sorted(p.name for p in first.trust_dir.iterdir()) == [TRUSTED_LIST]
    assert first.root.cert.subject.rfc4514_string() == f"CN={DEMO_ROOT_NAME},O=marketplace (development only),C=FR"

    began = time.monotonic()
    again = DemoPki(tmp_path).ensure()
    assert time.monotonic() - began < 0.05
    assert again.root.cert == first.root.cert and again.tsa.cert == first.tsa.cert
    assert (again.trust_dir / TRUSTED_LIST).read_bytes() == listed

    # A signer's certificate is issued once per person and kept; another person gets another.
    buyer = again.signer("Julien Moreau", "Centrale", BUYER)
    assert DemoPki(tmp_path).signer("Julien Moreau", "Centrale", BUYER).cert == buyer.cert
    assert DemoPki(tmp_path).signer("Antoine Girard", "LogiSanté").cert != buyer.cert

    keys = list(tmp_path.glob("esign-demo/**/*.key"))
    assert len(keys) == 4  # root, TSA, two signers
    assert {stat.S_IMODE(k.stat().st_mode) for k in keys} == {0o600}
    assert stat.S_IMODE((tmp_path / "esign-demo").stat().st_mode) == 0o700


def test_demo_sign_makes_a_contract_both_sides_sign_valid_and_qualified_against_the_demo_trust_list(
        tmp_path: Path) -> None:
    pki = DemoPki(tmp_path).ensure()
    buyer_signed, both_signed = tmp_path / "signe-acheteur.pdf", tmp_path / "signe.pdf"
    first = demo_sign(tmp_path, "--as", BUYER, "--generate", "Marché DUI grand âge — démonstration",
                      "-o", str(buyer_signed))
    assert first.exit_code == 0, first.output
    assert "DEMO certificate, for development only" in first.stderr
    # The titulaire counter-signs the buyer's signed PDF, written to stdout as with `> signe.pdf`.
    second = demo_sign(tmp_path, "--as", VENDOR, str(buyer_signed))
    assert second.exit_code == 0, second.stderr
    both_signed.write_bytes(second.stdout_bytes)

    report = verify(both_signed.read_bytes(), TrustStore.load(pki.trust_dir))
    assert (report.verdict, report.qualified, report.failed_check) == (Verdict.VALID, True, None)
    people = [DEMO_PEOPLE[BUYER], DEMO_PEOPLE[VENDOR]]
    assert [(s.identity.common_name, s.identity.organisation) for s in report.signatures if s.identity] == [
        (name, DEMO_ORGANISATIONS[org][1]) for org, name, _ in people]
    for signer in report.signatures:
        assert signer.category is Category.QUALIFIED
        assert signer.identity is not None and DEMO_ROOT_NAME in signer.identity.issuer
        assert signer.signing_time.source is TimeSource.TIMESTAMP
        assert signer.signing_time.authority is not None and "DEMO TSA" in signer.signing_time.authority

    # A document of one's own is signed as it is (an incremental update keeps its bytes in front).
    own = minimal_pdf("contrat apporté")
    signed_own = demo_sign(tmp_path, "--signer", "Jeanne Martin", "--organisation", "EHPAD de démonstration",
                           str(_write(tmp_path / "own.pdf", own)))
    assert signed_own.exit_code == 0, signed_own.stderr
    assert signed_own.stdout_bytes.startswith(own)
    assert verify(signed_own.stdout_bytes, TrustStore.load(pki.trust_dir)).verdict is Verdict.VALID

    # Only the demo trust list accepts it: against another list (the test suite's) it doesn't chain.
    elsewhere = verify(both_signed.read_bytes(), TrustStore.load(esign_pki.pki().trust_dir))
    assert (elsewhere.verdict, elsewhere.failed_check) == (Verdict.INVALID, "chain")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_demo_sign_refuses_a_data_dir_without_a_demo_pki_and_makes_none(tmp_path: Path) -> None:
    result = demo_sign(tmp_path, "--as", BUYER, "--generate", "Marché", "-o", str(tmp_path / "signed.pdf"))
    assert result.exit_code == 1
    assert f"no demo PKI in {tmp_path.resolve()}" in result.stderr
    assert not (tmp_path / "signed.pdf").exists()
    assert not (tmp_path / "esign-demo").exists()

    # One that lost a key says what to do, rather than fail half-way.
    DemoPki(tmp_path).ensure()
    (tmp_path / "esign-demo" / "tsa.key").unlink()
    result = demo_sign(tmp_path, "--as", BUYER, "--generate", "Marché", "-o", str(tmp_path / "signed.pdf"))
    assert (result.exit_code, "is incomplete: delete that directory" in result.stderr) == (1, True), result.stderr


def test_a_demo_pki_directory_without_its_trusted_list_is_not_trusted_nor_made_over(tmp_path: Path) -> None:
    # What an unrelated or broken `esign-demo` looks like: `dev` stops with the same advice, trusting nothing.
    (tmp_path / "esign-demo").mkdir()
    (tmp_path / "esign-demo" / "root-ca.key").write_bytes(b"someone else's")
    with pytest.raises(DemoPkiMissing, match="is incomplete"):
        DemoPki(tmp_path).ensure()
    assert (tmp_path / "esign-demo" / "root-ca.key").read_bytes() == b"someone else's"
    assert [p.name for p in tmp_path.iterdir()] == ["esign-demo"]  # nothing left of the attempt


@pytest.mark.parametrize(("args", "code", "says"), [
    (("--generate", "Marché"), 2, "say who signs"),
    (("--as", "inconnu@example.fr", "--generate", "Marché"), 2, "is not a demo account"),
    (("--as", BUYER), 2, "either a DOCUMENT to sign or --generate"),
    (("--signer", "X" * 65, "--generate", "Marché"), 1, "length must be"),
], ids=["nobody", "unknown-account", "nothing-to-sign", "name-too-long"])
def test_demo_sign_says_what_is_wrong(tmp_path: Path, args: tuple[str, ...], code: int, says: str) -> None:
    DemoPki(tmp_path).ensure()
    result = demo_sign(tmp_path, *args, "-o", str(tmp_path / "out.pdf"))
    assert (result.exit_code, says in result.stderr) == (code, True), result.stderr


def test_demo_sign_refuses_what_is_not_a_pdf(tmp_path: Path) -> None:
    DemoPki(tmp_path).ensure()
    result = demo_sign(tmp_path, "--as", BUYER, str(_write(tmp_path / "note.txt", b"pas un PDF")))
    assert result.exit_code == 1 and "not a PDF" in result.stderr, result.stderr
    assert result.stdout_bytes == b""
