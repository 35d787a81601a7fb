"""Defences for files that vendors upload and buyers download (reliability.md §2.7, G11).

Pure functions, no database and no HTTP, so each defence is tested on its own:

- `safe_filename`: the only form of a client-supplied name we keep (as display text and escaped
  metadata; the object key is always a UUID). Unicode that *normalises* to a separator is a separator.
- `inspect_zip` / `check_zip`: an archive is judged from its central directory alone. **We never
  extract server-side** (§2.7: "never extract server-side"); the checks exist so that an archive which
  would hurt whoever does extract it — a zip bomb, zip-slip paths, symlinks, nested archives — or one
  we can't scan (encrypted) is refused at receipt rather than passed on to the buyer's evaluators.
  ClamAV is no substitute: it skips over-limit members and still answers "OK" (§2.9).
- `sniff` / `is_active_content`: what the bytes are, whatever the client declared, and whether a
  browser could run them (HTML, SVG, scripted XML) if they were ever served inline.
- `download_headers`: every download is an attachment, never sniffed, sandboxed, and never typed as
  a renderable document.
"""

from __future__ import annotations

import codecs
import io
import itertools
import os
import re
import stat
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

import filetype

from storage import content_disposition

# ------------------------------------------------------------------------------------------ filenames

MAX_FILENAME_BYTES = 200
FALLBACK_FILENAME = "document"
# An extension longer than this is more likely part of the name ("v1.final-version-for-review").
_MAX_EXTENSION_CHARS = 16
_SEPARATORS = frozenset("/\\")
# Look-alikes that NFKC leaves alone but that a reader (or a careless tool) takes for a slash. Those that
# NFKC does fold into '/' or '\' (fullwidth solidus U+FF0F, small reverse solidus U+FE68, "a/c" U+2100…)
# are found by normalising each character, so they need no list.
_SEPARATOR_LOOKALIKES = frozenset("\u2044\u2215\u2216\u29f5\u29f8\u29f9\u2571\u2572\u3033\u3035")
# Characters Windows refuses in a name: an evaluator saving the file there must not get an error or a
# different name ("lot 1: mémoire" → stream "mémoire" of file "lot 1" on NTFS).
_WINDOWS_FORBIDDEN = frozenset('<>:"|?*')
# Cc: C0/C1 controls (NUL…); Cf: format characters, which include every bidi control (U+200E/F,
# U+202A–U+202E, U+2066–U+2069) and zero-width ones — they make "invoice\u202efdp.exe" display as
# "invoiceexe.pdf"; Cs: lone surrogates (no UTF-8 form); Cn: unassigned, whose meaning may change.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn"})
# Windows maps these device names (with any extension, any case, superscript digits too) to devices.
_RESERVED_STEMS = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{device}{n}" for device in ("COM", "LPT") for n in "123456789"}
)


def _map_char(ch: str) -> str:
    """One character of a name as we keep it: itself, '/', ' ', '_' or nothing."""
    folded = unicodedata.normalize("NFKC", ch)
    if ch in _SEPARATOR_LOOKALIKES or any(c in _SEPARATORS for c in folded):
        return "/"
    if ch.isspace() or unicodedata.category(ch) in {"Zs", "Zl", "Zp"}:
        return " "
    if any(unicodedata.category(c) in _DROPPED_CATEGORIES for c in ch + folded):
        return ""
    if any(c in _WINDOWS_FORBIDDEN for c in folded):
        return "_"
    return ch


def _is_reserved(name: str) -> bool:
    stem = unicodedata.normalize("NFKC", name).split(".", 1)[0].rstrip(" ").upper()
    return stem in _RESERVED_STEMS


def _utf8_prefix(text: str, max_bytes: int) -> str:
    return text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")


def _cap(name: str) -> str:
    """At most MAX_FILENAME_BYTES of UTF-8, cutting the stem rather than the extension."""
    if len(name.encode("utf-8")) <= MAX_FILENAME_BYTES:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > _MAX_EXTENSION_CHARS:
        stem, extension = name, ""
    suffix = f".{extension}" if extension else ""
    stem = _utf8_prefix(stem, MAX_FILENAME_BYTES - len(suffix.encode("utf-8"))).rstrip(". ")
    return f"{stem}{suffix}" if stem else _utf8_prefix(name, MAX_FILENAME_BYTES).rstrip(". ")


def safe_filename(name: str) -> str:
    """What we keep of a client-supplied file name: a single, printable, portable path component.

    NFC first (the same name typed on macOS and Windows compares equal), then each character is judged
    by its NFKC form, so a fullwidth solidus is split on like '/' — the bug an NFKC-after-split
    sanitiser has (§2.7: fuzzing caught it). Only the last path component is kept; controls and bidi
    overrides go; leading dots (hidden files, "..") and trailing dots and spaces (which Windows strips,
    making two names one) go; Windows device names get a '_' prefix; at most 200 UTF-8 bytes, keeping
    the extension. Never empty, never "." or "..".
    """
    mapped = unicodedata.normalize("NFC", "".join(_map_char(ch) for ch in unicodedata.normalize("NFC", name)))
    candidate = ""
    for component in reversed(mapped.split("/")):
        candidate = " ".join(component.split()).lstrip(". ").rstrip(". ")
        if candidate:
            break
    candidate = _cap(candidate)
    if _is_reserved(candidate):
        candidate = _cap(f"_{candidate}")
    return candidate or FALLBACK_FILENAME


# ------------------------------------------------------------------------------------------ archives

# Names of archive members that are archives themselves: nesting is how a bomb multiplies (42.zip), and
# a nested archive hides its own members from these checks. Judged by name only: reading a member's
# bytes would mean decompressing it.
_ARCHIVE_EXTENSIONS = frozenset({
    "zip", "zipx", "7z", "rar", "tar", "gz", "tgz", "bz2", "tbz", "tbz2", "xz", "txz", "zst", "lz",
    "lzma", "z", "cab", "arj", "lzh", "iso", "jar", "war", "ear", "apk",
})
_DRIVE = re.compile(r"^[A-Za-z]:")
# PKWARE APPNOTE 4.4.5: 99 is WinZip AES, which sets its own flag too but some tools don't.
_AES_METHOD = 99
# The smallest local file header (APPNOTE 4.3.7): signature and fixed fields, before name and extra.
_LOCAL_HEADER_SIZE = 30


@dataclass(frozen=True, slots=True)
class ZipMember:
    name: str
    size: int
    """Declared uncompressed size, from the central directory."""
    compressed_size: int
    encrypted: bool
    symlink: bool
    traversal: bool
    nested_archive: bool

    @property
    def ratio(self) -> float:
        # A member that declares bytes out of nothing is as bad as a ratio can be.
        return self.size / self.compressed_size if self.compressed_size else float(self.size)


@dataclass(frozen=True, slots=True)
class ZipReport:
    """What an archive's central directory declares. `error` is set when there is no readable one."""

    members: tuple[ZipMember, ...] = ()
    overlapping: bool = False
    """Two members' data overlap: the "non-recursive" bomb, where every entry inflates the same bytes."""
    error: str | None = None

    @property
    def member_count(self) -> int:
        return len(self.members)

    @property
    def total_uncompressed(self) -> int:
        return sum(m.size for m in self.members)

    @property
    def max_ratio(self) -> float:
        return max((m.ratio for m in self.members), default=0.0)

    @property
    def traversal(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.members if m.traversal)

    @property
    def symlinks(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.members if m.symlink)

    @property
    def encrypted(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.members if m.encrypted)

    @property
    def nested(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.members if m.nested_archive)


@dataclass(frozen=True, slots=True)
class ZipLimits:
    max_members: int = 1_000
    max_total_uncompressed: int = 1024 * 1024 * 1024
    max_ratio: float = 100.0
    ratio_floor: int = 1024 * 1024
    """Members declaring less than this aren't ratio-checked: a 40 KiB text file may well deflate 200:1,
    and bombs are about size, which `max_total_uncompressed` bounds anyway."""
    allow_nested: bool = False
    allow_encrypted: bool = False
    """Encrypted members can't be scanned (P10) nor read by the buyer without a password sent elsewhere."""


def _is_traversal(name: str) -> bool:
    for form in {name, unicodedata.normalize("NFKC", name)}:
        if "\\" in form or "\x00" in form or form.startswith("/") or _DRIVE.match(form):
            return True
        if ".." in form.split("/"):
            return True
    return False


def _member(info: zipfile.ZipInfo) -> ZipMember:
    name = info.orig_filename  # before zipfile cuts it at a NUL
    mode = info.external_attr >> 16
    extension = name.rstrip("/").rpartition(".")[2].lower() if "." in name else ""
    return ZipMember(
        name=name,
        size=info.file_size,
        compressed_size=info.compress_size,
        encrypted=bool(info.flag_bits & 0x1) or info.compress_type == _AES_METHOD,
        symlink=stat.S_ISLNK(mode),
        traversal=_is_traversal(name),
        nested_archive=not info.is_dir() and extension in _ARCHIVE_EXTENSIONS,
    )


def _overlapping(infos: Iterable[zipfile.ZipInfo]) -> bool:
    spans = sorted((i.header_offset, i.header_offset + _LOCAL_HEADER_SIZE + len(i.orig_filename.encode())
                    + i.compress_size) for i in infos)
    # The local extra field may make a member longer still, never shorter: this under-estimates,
    # so an overlap found here is certain.
    return any(end > next_start for (_, end), (next_start, _) in itertools.pairwise(spans))


def inspect_zip(source: bytes | str | os.PathLike[str] | IO[bytes]) -> ZipReport:
    """Read an archive's central directory, never a member's data, and report what it declares.

    `source` is the whole archive: bytes, a path, or a seekable binary file (the caller spools an
    upload to a temporary file). Declared sizes are what an extracting tool will believe, so they are
    what we judge; an archive lying about them fails its CRC check on extraction.
    """
    if isinstance(source, bytes | bytearray):
        source = io.BytesIO(source)
    try:
        with zipfile.ZipFile(source) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        return ZipReport(error=f"not a readable zip archive: {exc}")
    return ZipReport(members=tuple(_member(i) for i in infos), overlapping=_overlapping(infos))


def _names(names: tuple[str, ...], limit: int = 3) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_zip(report: ZipReport, limits: ZipLimits | None = None) -> list[str]:
    """The reasons to refuse this archive (G11: zip bomb, zip-slip, encrypted → 422 or quarantine).

    Empty means none of these checks objects; it is no verdict on the members' content, which the
    anti-virus scan judges (P10).
    """
    limits = limits or ZipLimits()
    if report.error is not None:
        return [report.error]
    reasons: list[str] = []
    if report.member_count > limits.max_members:
        reasons.append(f"{report.member_count} members, over the limit of {limits.max_members}")
    if report.total_uncompressed > limits.max_total_uncompressed:
        reasons.append(f"{report.total_uncompressed} bytes once extracted, over the limit of "
                       f"{limits.max_total_uncompressed}")
    inflating = tuple(m.name for m in report.members
                      if m.size >= limits.ratio_floor and m.ratio > limits.max_ratio)
    if inflating:
        reasons.append(f"compression ratio over {limits.max_ratio:g}:1 (zip bomb): {_names(inflating)}")
    if report.overlapping:
        reasons.append("members share compressed data (zip bomb)")
    if report.traversal:
        reasons.append(f"member paths leave the extraction folder (zip-slip): {_names(report.traversal)}")
    if report.symlinks:
        reasons.append(f"symbolic links: {_names(report.symlinks)}")
    if report.encrypted and not limits.allow_encrypted:
        reasons.append(f"encrypted members cannot be scanned: {_names(report.encrypted)}")
    if report.nested and not limits.allow_nested:
        reasons.append(f"archives inside the archive: {_names(report.nested)}")
    return reasons


# ------------------------------------------------------------------------------------------ content

SNIFF_BYTES = 8192
UNKNOWN_MEDIA_TYPE = "application/octet-stream"

# What a browser would run or render with script if it ever displayed the file: judged on the name
# too, because a file saved to disk is opened by its extension.
_ACTIVE_EXTENSIONS = frozenset({
    "html", "htm", "xhtml", "xht", "shtml", "mht", "mhtml", "svg", "svgz", "xml", "xsl", "xslt",
    "js", "mjs", "hta", "swf",
})
# WHATWG MIME Sniffing §7.1 "identifying a resource with an unknown MIME type": the tags after which a
# browser decides a resource is HTML, each followed by a space or '>'. Plus SVG, which runs script.
_HTML_TAGS = (
    "!doctype html", "html", "head", "script", "iframe", "h1", "div", "font", "table", "a", "style",
    "title", "b", "body", "br", "p", "!--", "svg",
)
_HTML_START = re.compile(r"<(?:" + "|".join(re.escape(t) for t in _HTML_TAGS) + r")[\s>/]", re.IGNORECASE)
# XML is active when it is (or styles itself into) a document a browser scripts.
_SCRIPTED_XML = re.compile(
    r"<svg[\s>/]|<html[\s>/]|<script[\s>/]|http://www\.w3\.org/1999/xhtml|<\?xml-stylesheet|"
    r"<x:script|<[a-z0-9_-]+:script[\s>]",
    re.IGNORECASE,
)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def sniff(head: bytes) -> str:
    """The media type the first bytes show (`filetype`'s signatures), or application/octet-stream."""
    kind = filetype.guess(head[:SNIFF_BYTES]) if head else None
    return kind.mime if kind is not None else UNKNOWN_MEDIA_TYPE


def _leading_text(head: bytes) -> str:
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return head[len(bom):SNIFF_BYTES].decode(encoding, errors="ignore")
    return head[:SNIFF_BYTES].decode("latin-1")  # byte-for-byte: every tag we look for is ASCII


def is_active_content(head: bytes, declared_name: str = "") -> bool:
    """Whether a browser could execute this file: HTML, SVG, scripted XML, by content or by name.

    The caller refuses it or serves it only as an attachment (`download_headers` always does). The
    content rule looks past a BOM and leading whitespace, as browsers do.
    """
    extension = declared_name.rpartition(".")[2].lower() if "." in declared_name else ""
    if unicodedata.normalize("NFKC", extension).strip(". ") in _ACTIVE_EXTENSIONS:
        return True
    text = _leading_text(head).lstrip(" \t\r\n\f\x00")
    if _HTML_START.match(text):
        return True
    return text[:5].lower() == "<?xml" and _SCRIPTED_XML.search(text) is not None


# ------------------------------------------------------------------------------------------ downloads

# Types a browser renders as a document with script, or that carry script: served as opaque bytes.
_ACTIVE_MEDIA_TYPES = frozenset({
    "text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml", "text/xsl",
    "application/xslt+xml", "text/javascript", "application/javascript", "application/ecmascript",
    "text/ecmascript", "application/x-javascript", "multipart/x-mixed-replace", "application/x-shockwave-flash",
    "message/rfc822", "multipart/related", "application/vnd.ms-htmlhelp", "application/hta",
})
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"  # noqa: S105 (RFC 9110 token, not a secret)
_MEDIA_TYPE = re.compile(rf"({_TOKEN})/({_TOKEN})")
_CHARSET = re.compile(rf";\s*charset=\"?({_TOKEN})\"?\s*(?:;|$)", re.IGNORECASE)


def served_media_type(media_type: str) -> str:
    """The Content-Type to serve: anything active or malformed becomes application/octet-stream."""
    essence, _, parameters = media_type.partition(";")
    match = _MEDIA_TYPE.fullmatch(essence.strip())
    if match is None:
        return UNKNOWN_MEDIA_TYPE
    essence = essence.strip().lower()
    if essence in _ACTIVE_MEDIA_TYPES or essence.endswith(("+xml", "/html")) or "script" in essence:
        return UNKNOWN_MEDIA_TYPE
    charset = _CHARSET.search(";" + parameters) if essence.startswith("text/") else None
    return f"{essence}; charset={charset.group(1).lower()}" if charset else essence


def download_headers(filename: str, media_type: str) -> dict[str, str]:
    """Headers for serving an uploaded file: always an attachment, never sniffed, never scripted.

    The name goes through `safe_filename` and RFC 6266/8187 encoding; the type through
    `served_media_type`. `Cache-Control` keeps offer documents out of shared caches.
    """
    return {
        "Content-Type": served_media_type(media_type),
        "Content-Disposition": content_disposition(safe_filename(filename)),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store",
    }
