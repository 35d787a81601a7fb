"""The contract after the award (machine (e), D18, FU7).

The buyer's admin creates the contract from the live award: PENDING, with its amount and the award's
earliest signature date. Each side signs once, by its admin, with the signed document (a PDF streamed to
object storage; the row keeps key, size and SHA-256); no signature before the earliest date (D18). When
both sides have signed the contract is SIGNED, then ACTIVE once notified to the awardee; every move is
recorded in `contract_transition` and the audit log.

The contract carries its own payment terms (FU7: what the buyer pays the vendor, and when, as free text and/or
a schedule of instalments adding up to the amount), given at its creation and shown with it. They are not the
funder's grant: the 40/40/20 tranches (N14, FU5) pay the holder and live with the need (funding/).
Modifications (avenants) are rows appended: the signed amount stays as it was and the current amount is the
last modification's.

The contract ends two ways, each by the buyer's admin with reasons, the awardee told: before both
signatures it is abandoned (PENDING --abandon--> CANCELLED; the specific contract stays awarded, and the
buyer then declares it sans suite, awards/cancellation.py, since one contract only is made per specific
contract); once active it is terminated (ACTIVE --completed|terminated_early--> TERMINATED). The reasons go on
the transition row and in the audit log.

Each signature is checked offline before it is kept (G16, `marketplace.lib.esign`): a PAdES-signed PDF, a
CAdES signature enveloping the document, or an enveloped XAdES signature, each check reported (integrity,
signing time, validity and revocation at that time, chain to the trusted list, certificate category). An
unsupported format is refused (415), an invalid signature too (422), and so is a valid one whose certificate
isn't qualified while `MARKETPLACE_ESIGN_REQUIRE_QUALIFIED` holds (the default: the arrêté of 22 March 2019,
art. 5, asks public contracts for an advanced signature based on a qualified certificate). A refusal names the
failing check and is audited in a transaction of its own; an accepted signature keeps its report, shown with
the contract.

The contract row is locked (`FOR UPDATE`) by every write, so two signatures or modifications at once queue
and the second sees the first; unique constraints back it at the database. The signature locks the specific
contract's row before the contract's, as the cancellation does, since the last signature writes both.

The package's private modules: `_lifecycle.py` (creation, ends, modifications), `_signing.py` (the
signatures), `_documents.py` (the stored documents served) over `_base.py`.
"""

from __future__ import annotations

from marketplace.awards.contracts._base import DOCUMENT_MAX_BYTES, DOCUMENT_TYPES, SIGNATURE_TYPES
from marketplace.awards.contracts._documents import Documents
from marketplace.awards.contracts._lifecycle import Lifecycle
from marketplace.awards.contracts._signing import Signing, signature_refusal

__all__ = ["DOCUMENT_MAX_BYTES", "DOCUMENT_TYPES", "SIGNATURE_TYPES", "ContractService", "signature_refusal"]


class ContractService(Lifecycle, Signing, Documents):
    """The contract after the award, from its creation to its end."""
