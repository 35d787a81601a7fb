"""What a mail may carry: header-safe subjects and deliverable addresses.

Subjects quote what users type (a need's title, a support request's subject). A header can't hold CR or
LF (the `email` package refuses it, and raw it would inject headers), so every run of line breaks, tabs
and other control or format characters becomes one space before a subject is stored or mailed. Non-ASCII
text itself is fine: the message is built with the `email` package's modern policy, which writes it as
RFC 2047 encoded words (or raw UTF-8 under SMTPUTF8).

Addresses, one policy everywhere an address enters (support requests, invitations, accounts): an address
is dot-atoms around one `@` (RFC 5322 §3.4.1, no quoted local parts, no comments, no control characters).
A non-ASCII address (`zoé@exemple.fr`, RFC 6531) can travel only through a server that offers SMTPUTF8;
the platform's relay says so through `MARKETPLACE_SMTP_UTF8`. With it on, such addresses are accepted and
mailed with SMTPUTF8; with it off (the default), they are refused at their entry with a 422 naming the
field, because the platform could never write to them. Deciding at the entry rather than at delivery
means nobody is left believing a mail went out. Should the relay stop offering SMTPUTF8 after all, the
delivery fails for good, visibly (`failed`, in the recipient's inbox and the operators' list), never
silently.
"""

from __future__ import annotations

import re
import unicodedata

from marketplace.notifications.errors import UndeliverableAddress
from marketplace.notifications.models import SUBJECT_MAX
from marketplace.settings import Settings

# RFC 5322 atext, plus any non-ASCII character (RFC 6532 §3.2); controls and spaces are refused before.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]+"
_LABEL = r"[A-Za-z0-9\u0080-\U0010ffff](?:[A-Za-z0-9\u0080-\U0010ffff\-]*[A-Za-z0-9\u0080-\U0010ffff])?"
_ADDRESS = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@{_LABEL}(?:\.{_LABEL})+")
_HEADER_BREAKS = re.compile(r"\s+")


def _unprintable(char: str) -> bool:
    # Cc control, Cf format (bidi overrides, zero-width), Cs surrogates, Co private use, Cn unassigned;
    # Zl/Zp line and paragraph separators, which some mail readers break lines on.
    return unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def header_text(value: str) -> str:
    """One line a header can carry: line breaks, tabs and other invisible characters become one space."""
    cleaned = "".join(" " if _unprintable(c) else c for c in value)
    return _HEADER_BREAKS.sub(" ", cleaned).strip()


def subject_line(subject: str) -> str:
    """A notification's subject as stored and mailed: one header-safe line, cut to the column's size."""
    subject = header_text(subject)
    # Subjects quote user text (a request's title); mail clients cut long ones anyway.
    return subject if len(subject) <= SUBJECT_MAX else subject[: SUBJECT_MAX - 1] + "…"


def needs_smtputf8(address: str) -> bool:
    return not address.isascii()


def deliverable_address(value: str, settings: Settings, *, field: str) -> str:
    """The address as stored (trimmed, lower-cased as accounts hold it), or a 422 naming `field`."""
    address = value.strip().lower()
    if any(_unprintable(c) or c.isspace() for c in address) or not _ADDRESS.fullmatch(address):
        raise UndeliverableAddress(
            f"{field}: not an address mail can be sent to (one @, letters, digits and !#$%&'*+/=?^_`{{|}}~.- "
            "around it, no spaces, quotes or control characters)", field=field, rule="RFC 5322 §3.4.1")
    if needs_smtputf8(address) and not settings.smtp_utf8:
        raise UndeliverableAddress(
            f"{field}: this address holds non-ASCII characters, which the platform's mail server can't carry "
            "(no SMTPUTF8, RFC 6531); give an address in ASCII characters", field=field, rule="RFC 6531")
    return address
