"""Upload defences: names, archives, active content, download headers (reliability.md §2.7, G11).

Every hostile file is made here, at test time: nothing binary is committed, and nothing a scanner on a
developer's machine would flag sits in the repository.
"""

from __future__ import annotations

import io
import stat
import struct
import unicodedata
import zipfile
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from marketplace.lib.files import (
    FALLBACK_FILENAME,
    MAX_FILENAME_BYTES,
    UNKNOWN_MEDIA_TYPE,
    ZipLimits,
    check_zip,
    download_headers,
    inspect_zip,
    is_active_content,
    safe_filename,
    served_media_type,
    sniff,
)

MiB = 1024 * 1024

# ------------------------------------------------------------------------------------------ filenames


def _assert_safe(out: str) -> None:
    assert out
    assert out not in {".", ".."}
    assert "/" not in out and "\\" not in out
    assert not any(unicodedata.category(ch) in {"Cc", "Cf", "Cs"} for ch in out)
    folded = unicodedata.normalize("NFKC", out)
    assert "/" not in folded and "\\" not in folded
    assert len(out.encode("utf-8")) <= MAX_FILENAME_BYTES
    assert out == out.strip() and not out.startswith(".") and not out.endswith(".")


# Characters that have broken sanitisers: separators and their look-alikes, dots, controls, bidi.
_NASTY = st.sampled_from([
    "/", "\\", ".", "..", " ", "\x00", "\t", "\n", "\x7f", "\x85", "\u202e", "\u202d", "\u2066", "\u2069",
    "\u200e", "\u200f", "\ufeff", "\uff0f", "\uff3c", "\ufe68", "\u2215", "\u2044", "\u2100", "\u3000",
    "\u00a0", "C", "O", "N", ":", "COM\u00b9", "e\u0301", "\ud800", "\U0001f600", "CON", "aux",
])


@settings(max_examples=500)
@given(st.lists(st.one_of(_NASTY, st.text(max_size=5)), max_size=40).map("".join))
@example("\uff0f" * 3)
@example("..\uff0f..\uff0fetc\uff0fpasswd")
@example("a" * 400 + ".pdf")
def test_any_name_becomes_one_safe_path_component(name: str) -> None:
    out = safe_filename(name)
    _assert_safe(out)
    assert safe_filename(out) == out  # stable: sanitising what we stored changes nothing


@pytest.mark.parametrize(("name", "expected"), [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\windows\\win.ini", "win.ini"),
    ("/abs/path/offre.pdf", "offre.pdf"),
    ("C:\\Users\\x\\offre.pdf", "offre.pdf"),
    ("offre.pdf\x00.exe", "offre.pdf.exe"),
    ("facture\u202efdp.exe", "facturefdp.exe"),  # displays as "factureexe.pdf" with the override
    ("a\u2066b\u2069c\u200e\u200f.pdf", "abc.pdf"),
    ("..\uff0f..\uff0fetc\uff0fpasswd", "passwd"),  # fullwidth solidus: NFKC makes it '/'
    ("lot\uff3cannexe.pdf", "annexe.pdf"),  # fullwidth reverse solidus
    ("a\u2215b.pdf", "b.pdf"),  # division slash
    ("1\u20442.pdf", "2.pdf"),  # fraction slash
    ("CON", "_CON"),
    ("aux.txt", "_aux.txt"),
    ("Lpt9.tar.gz", "_Lpt9.tar.gz"),
    ("com\u00b9.pdf", "_com\u00b9.pdf"),  # Windows reads superscript digits as digits
    ("CONTRAT.pdf", "CONTRAT.pdf"),
    ("offre.pdf. . .", "offre.pdf"),
    ("offre.pdf   ", "offre.pdf"),
    ("...hidden", "hidden"),
    (".htaccess", "htaccess"),
    ("", FALLBACK_FILENAME),
    (".", FALLBACK_FILENAME),
    ("..", FALLBACK_FILENAME),
    ("/", FALLBACK_FILENAME),
    ("\u202e\u200f", FALLBACK_FILENAME),
    ("rapport/..", "rapport"),
    ("m\u00e9moire  technique\t(v2).pdf", "mémoire technique (v2).pdf"),
    ("me\u0301moire.pdf", "mémoire.pdf"),  # NFC: one form for the same name
    ("lot 1: prix?.pdf", "lot 1_ prix_.pdf"),
])
def test_hostile_names(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


def test_long_names_are_cut_to_200_bytes_keeping_the_extension() -> None:
    out = safe_filename("é" * 300 + ".pdf")
    assert out.endswith(".pdf") and len(out.encode()) <= MAX_FILENAME_BYTES
    assert out == "é" * 98 + ".pdf"  # 196 bytes of two-byte letters, none cut in half
    assert safe_filename("x" * 500) == "x" * MAX_FILENAME_BYTES
    # An "extension" longer than an extension is part of the name.
    assert safe_filename("a." + "b" * 300) == ("a." + "b" * 300)[:MAX_FILENAME_BYTES]


# ------------------------------------------------------------------------------------------ archives


def _zip(members: dict[str | zipfile.ZipInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _zeros_bomb(path: Path, size: int) -> None:
    """`size` bytes of zeros deflated, written in chunks: quick, and never `size` bytes in memory."""
    chunk = bytes(MiB)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, \
            archive.open("zeros.bin", "w", force_zip64=True) as member:
        for _ in range(size // MiB):
            member.write(chunk)


def test_a_plain_archive_is_accepted() -> None:
    data = _zip({"offre/memoire.pdf": b"%PDF-1.7\n" + bytes(range(256)) * 40, "offre/": b"",
                 "offre/prix.csv": b"lot;prix\n1;1000\n", "LISEZ-MOI.txt": "é".encode()})
    report = inspect_zip(data)
    assert report.error is None
    assert report.member_count == 4
    assert check_zip(report) == []
    assert not (report.traversal or report.symlinks or report.encrypted or report.nested)


def test_a_zip_bomb_is_refused_by_ratio_and_by_total(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    _zeros_bomb(path, 100 * MiB)
    assert path.stat().st_size < MiB
    with path.open("rb") as spooled:  # the caller's spooled temporary file
        report = inspect_zip(spooled)
    assert report.total_uncompressed == 100 * MiB
    assert report.max_ratio > 500
    reasons = check_zip(report, ZipLimits(max_total_uncompressed=50 * MiB))
    assert any("ratio" in r for r in reasons)
    assert any("once extracted" in r for r in reasons)
    assert check_zip(inspect_zip(path)) == [r for r in reasons if "once extracted" not in r]  # a path works too


def test_small_compressible_members_are_not_taken_for_bombs() -> None:
    report = inspect_zip(_zip({"notes.txt": b" " * 200_000}))
    assert report.max_ratio > 100
    assert check_zip(report) == []


def test_many_members_are_refused() -> None:
    report = inspect_zip(_zip({f"f{i}.txt": b"x" for i in range(30)}))
    assert check_zip(report, ZipLimits(max_members=20)) == ["30 members, over the limit of 20"]


def _duplicate_central_entry(data: bytes) -> bytes:
    """A second central-directory entry pointing at the first member's data (the overlapping bomb)."""
    cd_start = data.index(b"PK\x01\x02")
    eocd = data.rindex(b"PK\x05\x06")
    entry = data[cd_start:eocd]
    twin = entry.replace(b"a.bin", b"b.bin")
    count = struct.unpack("<H", data[eocd + 10:eocd + 12])[0] + 1
    tail = bytearray(data[eocd:])
    tail[8:12] = struct.pack("<HH", count, count)
    tail[12:16] = struct.pack("<I", len(entry) * 2)
    return data[:cd_start] + entry + twin + bytes(tail)


def test_members_sharing_their_data_are_refused() -> None:
    report = inspect_zip(_duplicate_central_entry(_zip({"a.bin": b"x" * 1000})))
    assert report.member_count == 2 and report.overlapping
    assert "members share compressed data (zip bomb)" in check_zip(report)


def test_a_nested_archive_is_refused() -> None:
    inner = _zip({"x.txt": b"x"})
    report = inspect_zip(_zip({"dossier/inner.ZIP": inner, "b.7z": b"7z", "doc.pdf": b"%PDF"}))
    assert set(report.nested) == {"dossier/inner.ZIP", "b.7z"}
    assert any("archives inside" in r for r in check_zip(report))
    assert check_zip(report, ZipLimits(allow_nested=True)) == []


@pytest.mark.parametrize("name", [
    "../../etc/passwd", "/abs", "C:\\x", "a\\..\\..\\b", "c:relative", "ok/../../up", "..",
    "..\uff0f..\uff0fx",  # fine until an extractor normalises it
    "evil.txt\x00.pdf",
])
def test_zip_slip_entries_are_refused(name: str) -> None:
    # zipfile won't write a NUL in a name, so it goes in afterwards (an extractor in C stops at it).
    placeholder = name.replace("\x00", "\x01")
    data = _zip({"fine.txt": b"ok", placeholder: b"x"}).replace(placeholder.encode(), name.encode())
    report = inspect_zip(data)
    assert report.traversal == (name,)
    assert any("zip-slip" in r for r in check_zip(report))


def test_names_with_dots_that_stay_inside_are_fine() -> None:
    report = inspect_zip(_zip({"a..b/c...txt": b"x", "./d.txt": b"y"}))
    assert report.traversal == ()


def test_a_symlink_entry_is_refused() -> None:
    link = zipfile.ZipInfo("passwd")
    link.create_system = 3  # Unix: the high 16 bits of external_attr are st_mode
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    report = inspect_zip(_zip({link: b"/etc/passwd", "fine.txt": b"ok"}))
    assert report.symlinks == ("passwd",)
    assert any("symbolic links" in r for r in check_zip(report))


def _set_encrypted_flag(data: bytes) -> bytes:
    """Set general-purpose bit 0 in the local and central headers, as an encrypting tool would."""
    patched = bytearray(data)
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    patched[local + 6] |= 0x01
    patched[central + 8] |= 0x01
    return bytes(patched)


def test_an_encrypted_entry_is_refused() -> None:
    report = inspect_zip(_set_encrypted_flag(_zip({"secret.pdf": b"%PDF-1.7 ..."})))
    assert report.encrypted == ("secret.pdf",)
    assert check_zip(report) == ["encrypted members cannot be scanned: 'secret.pdf'"]


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04" + bytes(100)])
def test_what_is_not_an_archive_is_refused_not_crashed_on(data: bytes) -> None:
    report = inspect_zip(data)
    assert report.error is not None
    assert check_zip(report) == [report.error]


def test_a_pdf_zip_polyglot_sniffs_as_pdf_but_its_archive_is_still_seen() -> None:
    pdf = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    polyglot = pdf + _zip({"../payload.sh": b"#!/bin/sh\n"})
    assert sniff(polyglot) == "application/pdf"
    assert inspect_zip(polyglot).traversal == ("../payload.sh",)


# ------------------------------------------------------------------------------------------ content


def test_sniff_reads_content_not_names() -> None:
    assert sniff(b"%PDF-1.7\n") == "application/pdf"
    assert sniff(b"\x89PNG\r\n\x1a\n" + bytes(32)) == "image/png"
    assert sniff(_zip({"a": b"b"})) == "application/zip"
    assert sniff(b"MZ\x90\x00" + bytes(60)) != "application/pdf"
    assert sniff(b"") == UNKNOWN_MEDIA_TYPE
    assert sniff(b"just some text") == UNKNOWN_MEDIA_TYPE


@pytest.mark.parametrize("head", [
    b"<!DOCTYPE html><html><body>x</body></html>",
    b"<!doctype HTML>",
    b"\xef\xbb\xbf \r\n\t<HtMl lang=fr>",
    b"<script>alert(1)</script>",
    b"<iframe src=x>",
    b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
    b"<?xml version='1.0'?>\n<!DOCTYPE svg>\n<svg xmlns='http://www.w3.org/2000/svg'><script>x</script></svg>",
    b"<?XML version='1.0'?><html xmlns='http://www.w3.org/1999/xhtml'/>",
    b"<?xml version='1.0'?><?xml-stylesheet type='text/xsl' href='x.xsl'?><a/>",
    "<!DOCTYPE html>".encode("utf-16"),  # with its BOM
    b"<!-- comment --><p>x",
])
def test_active_content_is_recognised_by_its_bytes(head: bytes) -> None:
    assert is_active_content(head, "offre.pdf")


@pytest.mark.parametrize("head", [
    b"%PDF-1.7\n<html>",
    b"<?xml version='1.0'?><Invoice xmlns='urn:oasis:names:specification:ubl:schema:xsd:Invoice-2'/>",
    b"lot;prix\n1;<html>",
    b"<htmlx>",
    b"",
])
def test_passive_content_is_not_flagged(head: bytes) -> None:
    assert not is_active_content(head, "offre.pdf")


@pytest.mark.parametrize("name", ["x.html", "x.HTM", "x.svg", "x.xhtml", "x.svgz", "x.mht", "page.js", "a.\uff53vg"])
def test_active_content_is_recognised_by_its_name(name: str) -> None:
    assert is_active_content(b"%PDF-1.7\n", name)


# ------------------------------------------------------------------------------------------ downloads


@pytest.mark.parametrize(("declared", "served"), [
    ("text/html", UNKNOWN_MEDIA_TYPE),
    ("TEXT/HTML; charset=utf-8", UNKNOWN_MEDIA_TYPE),
    ("image/svg+xml", UNKNOWN_MEDIA_TYPE),
    ("application/xhtml+xml", UNKNOWN_MEDIA_TYPE),
    ("text/xml", UNKNOWN_MEDIA_TYPE),
    ("application/atom+xml", UNKNOWN_MEDIA_TYPE),
    ("text/javascript", UNKNOWN_MEDIA_TYPE),
    ("text/html\r\nSet-Cookie: a=b", UNKNOWN_MEDIA_TYPE),
    ("", UNKNOWN_MEDIA_TYPE),
    ("pdf", UNKNOWN_MEDIA_TYPE),
    ("application/pdf", "application/pdf"),
    ("Application/PDF; name=x.html", "application/pdf"),
    ("text/plain; charset=UTF-8", "text/plain; charset=utf-8"),
    ("text/csv", "text/csv"),
])
def test_served_types_are_never_renderable_documents(declared: str, served: str) -> None:
    assert served_media_type(declared) == served


@pytest.mark.parametrize("name", ["<script>alert(1)</script>.html", "..\uff0fx.svg", "facture\u202efdp.exe",
                                  'a";b\r\nSet-Cookie: x.pdf', "mémoire technique.pdf", ""])
@pytest.mark.parametrize("media_type", ["text/html", "image/svg+xml", "application/pdf"])
def test_download_headers_always_attach_and_sandbox(name: str, media_type: str) -> None:
    headers = download_headers(name, media_type)
    assert headers["Content-Type"] not in {"text/html", "image/svg+xml"}
    assert headers["Content-Disposition"].startswith("attachment; filename=\"")
    assert "filename*=UTF-8''" in headers["Content-Disposition"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    for value in headers.values():
        assert value.isascii() and "\r" not in value and "\n" not in value
    fallback = headers["Content-Disposition"].split('filename="', 1)[1].split('"', 1)[0]
    assert "/" not in fallback and "\\" not in fallback


def test_download_headers_keep_the_name_readable() -> None:
    headers = download_headers("mémoire technique.pdf", "application/pdf")
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Content-Disposition"] == (
        "attachment; filename=\"m_moire technique.pdf\"; filename*=UTF-8''m%C3%A9moire%20technique.pdf")
