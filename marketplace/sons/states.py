"""The SONS machines (domain.md §5 read with §12, whose state machine replaces §5.5): an order (bon de commande)
from its draft to its payment, and each request made to the ASP (the advance, each amendment of it, the balance)
with the ASP's own statuses (SN5). Pure: the services check every move here before they make it.

Where the order's machine departs from §12's drawing, on purpose: an INCOMPLETE, VALIDATED or REJECTED balance has
a state of its own (BALANCE_INCOMPLETE, BALANCE_VALIDATED, BALANCE_REJECTED), as the advance has, rather than being
folded into BALANCE_REQUESTED; a REJECTED amendment is settled like a DECIDED_PAID one for the balance's SN5 guard
(the ASP refused it, nothing of it is pending any more).
"""

from __future__ import annotations

import enum


class AcceptanceKind(enum.StrEnum):
    """SN1, SN7: what the client signs once the solution is deployed, per dispositif."""

    VA = "VA"    # vérification d'aptitude
    MOM = "MOM"  # mise en ordre de marche


class SolutionStatus(enum.StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"


class VatStatus(enum.StrEnum):
    """§5.3 step 2: the vendor's VAT (non-)liability attestation given at its ASP enrolment."""

    LIABLE = "liable"
    NOT_LIABLE = "not_liable"


class MssCase(enum.StrEnum):
    """SN6: the "Déploiement MSS" indicator of an MS1/MS2 balance and its VA (what the cases mean was not found:
    the value is stored and compared)."""

    CAS_1 = "CAS_1"
    CAS_2 = "CAS_2"


class SignatureMethod(enum.StrEnum):
    """§5.3 step 3: how the client signed its order (or its VA): a CPx card, Pro Santé Connect, an RGS software
    certificate, or another signature of at least the eIDAS simple level; each checked as a contract's (G16)."""

    CPX_CARD = "cpx_card"
    PRO_SANTE_CONNECT = "pro_sante_connect"
    RGS_CERTIFICATE = "rgs_certificate"
    EIDAS = "eidas"


class RequestKind(enum.StrEnum):
    """SN5: the requests an order makes to the ASP."""

    ADVANCE = "advance"
    AMENDMENT = "amendment"
    BALANCE = "balance"


class AspStatus(enum.StrEnum):
    """SN5: each request's status at the ASP."""

    REQUESTED = "REQUESTED"
    INCOMPLETE = "INCOMPLETE"      # the JSON was taken, the attachments failed
    TO_MODIFY = "TO_MODIFY"        # "A modifier": fix and file again
    VALIDATED = "VALIDATED"        # "Validée"
    DECIDED_PAID = "DECIDED_PAID"  # "Décidée et payée"
    REJECTED = "REJECTED"


# SN5: status → the statuses a request may move to from it. REQUESTED again is a refile (after INCOMPLETE or
# TO_MODIFY). DECIDED_PAID and REJECTED are final: nothing is paid twice.
ASP_MOVES: dict[AspStatus, frozenset[AspStatus]] = {
    AspStatus.REQUESTED: frozenset({AspStatus.INCOMPLETE, AspStatus.TO_MODIFY, AspStatus.VALIDATED,
                                    AspStatus.REJECTED}),
    AspStatus.INCOMPLETE: frozenset({AspStatus.REQUESTED}),
    AspStatus.TO_MODIFY: frozenset({AspStatus.REQUESTED}),
    AspStatus.VALIDATED: frozenset({AspStatus.DECIDED_PAID}),
    AspStatus.DECIDED_PAID: frozenset(),
    AspStatus.REJECTED: frozenset(),
}
# §12: BALANCE_REQUESTED --"Décidée et payée"--> PAID, without a "Validée" in between.
_BALANCE_EXTRA = {AspStatus.REQUESTED: frozenset({AspStatus.DECIDED_PAID})}
SETTLED = frozenset({AspStatus.DECIDED_PAID, AspStatus.REJECTED})


def asp_allows(kind: RequestKind, current: AspStatus, target: AspStatus) -> bool:
    """SN5: whether a request of `kind` at `current` may move to `target`."""
    extra = _BALANCE_EXTRA.get(current, frozenset()) if kind is RequestKind.BALANCE else frozenset()
    return target in ASP_MOVES[current] | extra


class OrderStatus(enum.StrEnum):
    """§12's machine of an order (SN1–SN7)."""

    DRAFT = "draft"
    SIGNED = "signed"
    ADVANCE_REQUESTED = "advance_requested"
    ADVANCE_INCOMPLETE = "advance_incomplete"
    ADVANCE_TO_MODIFY = "advance_to_modify"
    ADVANCE_VALIDATED = "advance_validated"
    ADVANCE_PAID = "advance_paid"
    REJECTED = "rejected"
    DEPLOYED = "deployed"
    ACCEPTED = "accepted"
    BALANCE_REQUESTED = "balance_requested"
    BALANCE_INCOMPLETE = "balance_incomplete"
    BALANCE_TO_MODIFY = "balance_to_modify"
    BALANCE_VALIDATED = "balance_validated"
    BALANCE_REJECTED = "balance_rejected"
    PAID = "paid"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


# The order's state that each status of its advance or balance request puts it in (an amendment moves no order).
_ADVANCE_STATES = {AspStatus.REQUESTED: OrderStatus.ADVANCE_REQUESTED,
                   AspStatus.INCOMPLETE: OrderStatus.ADVANCE_INCOMPLETE,
                   AspStatus.TO_MODIFY: OrderStatus.ADVANCE_TO_MODIFY,
                   AspStatus.VALIDATED: OrderStatus.ADVANCE_VALIDATED,
                   AspStatus.DECIDED_PAID: OrderStatus.ADVANCE_PAID,
                   AspStatus.REJECTED: OrderStatus.REJECTED}
_BALANCE_STATES = {AspStatus.REQUESTED: OrderStatus.BALANCE_REQUESTED,
                   AspStatus.INCOMPLETE: OrderStatus.BALANCE_INCOMPLETE,
                   AspStatus.TO_MODIFY: OrderStatus.BALANCE_TO_MODIFY,
                   AspStatus.VALIDATED: OrderStatus.BALANCE_VALIDATED,
                   AspStatus.DECIDED_PAID: OrderStatus.PAID,
                   AspStatus.REJECTED: OrderStatus.BALANCE_REJECTED}


def order_state_for(kind: RequestKind, status: AspStatus) -> OrderStatus | None:
    """The order's state while its advance or balance request is at `status`; None for an amendment."""
    if kind is RequestKind.ADVANCE:
        return _ADVANCE_STATES[status]
    if kind is RequestKind.BALANCE:
        return _BALANCE_STATES[status]
    return None


# The order's own moves (those that are not an ASP status): action → (from, to).
ORDER_MOVES: dict[str, tuple[frozenset[OrderStatus], OrderStatus]] = {
    "sign": (frozenset({OrderStatus.DRAFT}), OrderStatus.SIGNED),
    "file_advance": (frozenset({OrderStatus.SIGNED}), OrderStatus.ADVANCE_REQUESTED),
    "deploy": (frozenset({OrderStatus.ADVANCE_PAID}), OrderStatus.DEPLOYED),
    "accept": (frozenset({OrderStatus.DEPLOYED}), OrderStatus.ACCEPTED),
    "file_balance": (frozenset({OrderStatus.ACCEPTED}), OrderStatus.BALANCE_REQUESTED),
    "expire": (frozenset({OrderStatus.DEPLOYED, OrderStatus.ACCEPTED}), OrderStatus.EXPIRED),
}
# An amendment of the advance is filed once the advance is paid and until the balance is filed (§12).
AMENDABLE = frozenset({OrderStatus.ADVANCE_PAID, OrderStatus.DEPLOYED, OrderStatus.ACCEPTED})
FINAL = frozenset({OrderStatus.PAID, OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED,
                   OrderStatus.BALANCE_REJECTED})
# §12: "any before PAID --cancel--> CANCELLED"; an order already ended (expired, rejected) has nothing to cancel.
CANCELLABLE = frozenset(OrderStatus) - FINAL
# SN4: an order that no longer holds its beneficiaries' one Ségur service: they may be ordered again.
RELEASES_BENEFICIARIES = frozenset({OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED})


def order_allows(action: str, status: OrderStatus) -> bool:
    return status in ORDER_MOVES[action][0]
