"""What each sealed piece of an offer is bound to (P4, P9): the associated data of its parts and files, and the
contexts under which the vault seals an attachment's name and the receipt.
"""

from __future__ import annotations

import uuid

from marketplace.lib.sealing import associated_data


def offer_context(contract_id: uuid.UUID, offer_id: uuid.UUID) -> bytes:
    return associated_data(purpose="offer-parts", contract=contract_id, offer=offer_id)


def attachment_context(contract_id: uuid.UUID, offer_id: uuid.UUID, attachment_id: uuid.UUID, sha256: str,
                       size: int) -> bytes:
    # The recorded hash and size are bound into the wrapped key: editing either makes the key unusable (P9).
    return associated_data(purpose="offer-attachment", contract=contract_id, offer=offer_id,
                           attachment=attachment_id, sha256=sha256, size=size)


def name_context(attachment_id: uuid.UUID) -> str:
    return f"attachment-name:{attachment_id}"


def receipt_context(offer_id: uuid.UUID) -> str:
    return f"receipt:{offer_id}"
