"""The receipt PDF: readable in French, times in UTC and Paris, verifiable on its own (P1, P12, §4.2)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from marketplace.lib.receipt_pdf import (
    RECEIPT_ATTACHMENT,
    SIGNATURE_ATTACHMENT,
    find_fonts,
    render_receipt_pdf,
)
from marketplace.lib.sealing import PlatformSigner, verify

SIGNER = PlatformSigner.generate()


def _receipt(**changes: Any) -> dict[str, Any]:
    files = [
        {"name": "mémoire technique.pdf", "size": 1_234_567, "sha256": hashlib.sha256(b"memoire").hexdigest()},
        {"name": "bordereau des prix (œuvre) — lot 1.xlsx", "size": 8_192,
         "sha256": hashlib.sha256(b"bpu").hexdigest()},
        {"name": "facture\u202efdp.exe ✓ 中文", "size": 0, "sha256": hashlib.sha256(b"").hexdigest()},
    ]
    receipt: dict[str, Any] = {
        "type": "offer-receipt/v1",
        "platform": "ESMS numérique",
        "offer": "0192f0c4-1e2d-7a00-8000-00000000a001",
        "version": 3,
        "specificContract": "0192f0c4-1e2d-7a00-8000-00000000c001",
        "vendor": {"id": "0192f0c4-1e2d-7a00-8000-00000000e001", "name": "Société Éclair & Fils"},
        "receivedStart": "2026-11-23T08:59:58.250000Z",
        "receivedEnd": "2026-11-23T08:59:59.999999Z",
        "files": files,
        "manifestSha256": hashlib.sha256(b"manifest").hexdigest(),
    }
    return {**receipt, **changes}


def _render(receipt: dict[str, Any], fonts: bool = True) -> tuple[bytes, PdfReader, str]:
    data = render_receipt_pdf(receipt, SIGNER.sign(receipt), SIGNER.public_jwk(), fonts=fonts)
    reader = PdfReader(io.BytesIO(data))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    return data, reader, text


_FONT_MODES = [
    pytest.param(True, id="dejavu", marks=pytest.mark.skipif(find_fonts() is None,
                                                            reason="no DejaVu fonts (fonts-dejavu-core)")),
    pytest.param(False, id="core-fonts"),
]


@pytest.mark.parametrize("fonts", _FONT_MODES)
def test_the_pdf_shows_what_was_received_and_when(fonts: bool) -> None:
    receipt = _receipt()
    data, _, text = _render(receipt, fonts)
    assert data.startswith(b"%PDF-")
    assert "Accusé de réception de l'offre" in text
    for shown in ("ESMS numérique", receipt["offer"], receipt["specificContract"], "Société Éclair & Fils",
                  "Version de l'offre 3", receipt["manifestSha256"], SIGNER.kid, "/receipts/public-key",
                  "mémoire technique.pdf", "1234567", "8192"):
        assert shown in text, shown
    for entry in receipt["files"]:
        assert entry["sha256"] in text  # in full, on one line
    # Seconds matter: the end is one microsecond short of 10:00:00 in Paris, and must not read as it.
    assert "23/11/2026 09:59:58 (heure de Paris, UTC+1)" in text
    assert "23/11/2026 09:59:59 (heure de Paris, UTC+1)" in text
    assert "2026-11-23T08:59:59.999999Z (UTC)" in text
    assert SIGNER.sign(receipt) in text.replace(" ", "")  # wrapped over two lines


@pytest.mark.parametrize("fonts", _FONT_MODES)
def test_the_embedded_json_is_the_receipt_and_its_signature_verifies(fonts: bool) -> None:
    receipt = _receipt()
    _, reader, _ = _render(receipt, fonts)
    embedded = json.loads(reader.attachments[RECEIPT_ATTACHMENT][0])
    assert embedded == receipt
    envelope = json.loads(reader.attachments[SIGNATURE_ATTACHMENT][0])
    assert envelope["kid"] == SIGNER.kid and envelope["jwk"] == SIGNER.public_jwk()
    assert verify(embedded, envelope["signature"], SIGNER.public_jwk())
    assert not verify({**embedded, "receivedEnd": "2026-11-23T08:59:59.000000Z"}, envelope["signature"],
                      SIGNER.public_jwk())


@pytest.mark.parametrize("fonts", _FONT_MODES)
def test_names_never_display_as_something_else(fonts: bool) -> None:
    _, _, text = _render(_receipt(), fonts)
    assert "\u202e" not in text
    assert "facture<U+202E>fdp.exe" in text  # the override is shown, not applied
    if fonts:
        assert "œ" in text and "✓" in text and "<U+4E2D><U+6587>" in text  # DejaVu Sans has no CJK
    else:
        assert "œ" in text and "<U+2713> <U+4E2D><U+6587>" in text  # WinAnsi has œ, not the check mark


def test_a_line_break_in_a_vendor_name_is_shown_not_obeyed() -> None:
    _, _, text = _render(_receipt(vendor={"name": "ACME\nOffre retenue"}), fonts=False)
    assert "ACME<U+000A>Offre retenue" in text


def test_the_paris_offset_follows_the_date() -> None:
    _, _, text = _render(_receipt(receivedStart="2026-07-14T07:59:00Z", receivedEnd="2026-07-14T08:00:00Z"))
    assert "14/07/2026 10:00:00 (heure de Paris, UTC+2)" in text


def test_the_same_receipt_gives_the_same_bytes() -> None:
    receipt = _receipt()
    assert _render(receipt)[0] == _render(receipt)[0]


def test_many_files_run_over_pages_and_all_hashes_stay_whole() -> None:
    files = [{"name": f"annexe {i:03}.pdf", "size": i, "sha256": hashlib.sha256(str(i).encode()).hexdigest()}
             for i in range(120)]
    receipt = _receipt(files=files)
    _, reader, text = _render(receipt)
    assert len(reader.pages) > 1
    assert all(entry["sha256"] in text for entry in files)
    assert json.loads(reader.attachments[RECEIPT_ATTACHMENT][0]) == receipt


@pytest.mark.parametrize("missing", ["offer", "receivedStart", "receivedEnd", "files", "manifestSha256"])
def test_a_receipt_missing_what_it_attests_is_refused(missing: str) -> None:
    receipt = {k: v for k, v in _receipt().items() if k != missing}
    with pytest.raises(ValueError, match=missing):
        render_receipt_pdf(receipt, SIGNER.sign(receipt), SIGNER.public_jwk())


def test_naive_times_are_refused() -> None:
    receipt = _receipt(receivedEnd="2026-11-23T09:00:00")
    with pytest.raises(ValueError, match="offset"):
        render_receipt_pdf(receipt, SIGNER.sign(receipt), SIGNER.public_jwk())


def test_fonts_are_found_only_where_all_three_are(tmp_path: Path) -> None:
    assert find_fonts([tmp_path]) is None
    found = find_fonts()
    if found is not None:
        for path in found.values():
            (tmp_path / path.name).write_bytes(path.read_bytes())
        assert find_fonts([tmp_path / "nowhere", tmp_path]) == {role: tmp_path / p.name for role, p in found.items()}


@pytest.mark.parametrize("fonts", _FONT_MODES)
def test_a_sandbox_receipt_says_so_on_its_first_line_and_every_page(fonts: bool) -> None:
    receipt = _receipt(sandbox={"notice": "BAC À SABLE / SANDBOX — sans valeur juridique", "factor": 1440})
    _, reader, text = _render(receipt, fonts)
    first = reader.pages[0].extract_text()
    assert first.lstrip().startswith("BAC À SABLE / SANDBOX — sans valeur juridique")
    assert "horloge accélérée (1440 fois le temps réel)" in text
    assert all("BAC À SABLE" in page.extract_text() for page in reader.pages)  # the footer too
    # A real receipt never does.
    assert "BAC À SABLE" not in _render(_receipt(), fonts)[2]
