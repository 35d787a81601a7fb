"""Header encodings: user metadata and download filenames are Unicode, HTTP headers are ASCII."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote

_META_PREFIX = "x-amz-meta-"
# Proxies drop header names with underscores, and S3 lowercases them anyway.
_META_KEY = re.compile(r"[a-z0-9][a-z0-9-]*")
# Printable ASCII stays readable; '%' is escaped so decoding is exact, spaces so that
# servers trimming header values can't alter them.
_META_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")
# RFC 8187 attr-char, minus what `quote` always keeps.
_ATTR_SAFE = "!#$&+^`|"
# Control and format characters (bidi overrides such as U+202E) make a name display
# differently from what it is ("invoice\u202efdp.exe"); path separators have no place in it.
# Lone surrogates can't be encoded at all.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def encode_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        name = key.lower()
        if not _META_KEY.fullmatch(name):
            raise ValueError(f"metadata key {key!r} must be letters, digits and dashes")
        out[_META_PREFIX + name] = quote(value, safe=_META_SAFE)
    return out


def decode_metadata(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {
        name.lower().removeprefix(_META_PREFIX): unquote(value)
        for name, value in headers
        if name.lower().startswith(_META_PREFIX)
    }


def safe_filename(filename: str) -> str:
    kept = "".join(
        "_" if ch in "/\\" else ch
        for ch in unicodedata.normalize("NFC", filename)
        if unicodedata.category(ch) not in _DROPPED_CATEGORIES
    )
    return " ".join(kept.split()) or "download"


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback and the exact name as RFC 6266 ``filename*``."""
    name = safe_filename(filename)
    # Old clients read only `filename`; '%' is replaced too because some of them percent-decode it.
    fallback = "".join(ch if " " <= ch <= "~" and ch not in '"\\%' else "_" for ch in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe=_ATTR_SAFE)}"
