"""How a sandbox says it is one (vendors/sandbox.py): the words on its receipts, mails and inbox entries."""

from __future__ import annotations

NOTICE = "BAC À SABLE / SANDBOX — sans valeur juridique"
SUBJECT_PREFIX = "[BAC À SABLE] "


def labelled(subject: str, body: str, sandbox: bool) -> tuple[str, str]:
    """A notification's subject and body, saying plainly when it is about a sandbox object."""
    if not sandbox:
        return subject, body
    return SUBJECT_PREFIX + subject, f"{NOTICE}\n(exercice sur une procédure fictive, en temps accéléré)\n\n{body}"
