"""What can go wrong when sealing or unsealing; each failure has its own type so callers can map it."""

from __future__ import annotations


class SealingError(Exception):
    """Base of every error this package raises on purpose (bad input raises `ValueError`)."""


class TamperDetected(SealingError):
    """Authentication failed: the bytes are not what was sealed under this key and context.

    A flipped byte, a truncated, extended or reordered stream, the wrong key, the wrong associated data
    and an altered stored record all look the same to an AEAD, so they share this one type (G5).
    """


class IntegrityError(SealingError):
    """The plaintext's SHA-256 or size differs from the one recorded at receipt (P9)."""


class WrongPassphrase(SealingError):
    """The passphrase does not unlock this opener key."""


class NotEnoughOpeners(SealingError):
    """Fewer than the threshold of openers presented a key that opens their share (P6)."""
