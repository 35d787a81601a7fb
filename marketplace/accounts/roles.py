"""Organisation kinds and the roles a member may hold in each (pure data, no I/O)."""

from __future__ import annotations

import enum


class OrganisationKind(enum.StrEnum):
    HOLDER = "holder"      # porteur de projet: an OG, or a grappe of OGs
    VENDOR = "vendor"      # éditeur de logiciel
    BUYER = "buyer"        # centrale d'achat, or a holder's purchasing service
    PLATFORM = "platform"  # the platform operator
    FUNDER = "funder"      # financeur: an ARS (one per region) or the national funder (CNSA/DNS), FU1


class Role(enum.StrEnum):
    """`kind:role`. Every kind has an `admin` who manages its members and API keys."""

    HOLDER_ADMIN = "holder:admin"
    HOLDER_MEMBER = "holder:member"
    HOLDER_PROJECT_LEAD = "holder:project_lead"
    # A holder buys its own specific contract in intermediation (domain.md §11.1, HC2): it opens and evaluates
    # its offers through its own people, as a buying organisation's openers and evaluators do.
    HOLDER_OPENER = "holder:opener"
    HOLDER_EVALUATOR = "holder:evaluator"
    VENDOR_ADMIN = "vendor:admin"
    VENDOR_MEMBER = "vendor:member"
    VENDOR_BID_MANAGER = "vendor:bid_manager"
    BUYER_ADMIN = "buyer:admin"
    BUYER_EVALUATOR = "buyer:evaluator"
    BUYER_OPENER = "buyer:opener"
    PLATFORM_ADMIN = "platform:admin"
    FUNDER_ADMIN = "funder:admin"            # runs the funder's calls for projects
    FUNDER_INSTRUCTOR = "funder:instructor"  # instructs the projects filed: selects, rejects, validates, pays
    FUNDER_MEMBER = "funder:member"

    @property
    def kind(self) -> OrganisationKind:
        return OrganisationKind(self.value.split(":", 1)[0])


ADMIN_ROLE = {kind: Role(f"{kind.value}:admin") for kind in OrganisationKind}


def roles_for(kind: OrganisationKind) -> frozenset[Role]:
    return frozenset(role for role in Role if role.kind == kind)


# -- audiences: the one vocabulary every route declaration and object check uses ---------------------------
# Tuples, not sets: the order is the order the OpenAPI document lists them in ("Requires: …").
# `*_MEMBERS`: everyone of the organisation, who may read its objects; `*_WRITERS`: those who act for it.
HOLDER_MEMBERS = (Role.HOLDER_ADMIN, Role.HOLDER_PROJECT_LEAD, Role.HOLDER_EVALUATOR, Role.HOLDER_OPENER,
                  Role.HOLDER_MEMBER)
HOLDER_WRITERS = (Role.HOLDER_ADMIN, Role.HOLDER_PROJECT_LEAD)  # file needs, receive the award notices
# The holder's people who sit on the central purchasing body's evaluation committee when invited (HC3).
HOLDER_EVALUATORS = (Role.HOLDER_ADMIN, Role.HOLDER_EVALUATOR)
VENDOR_MEMBERS = (Role.VENDOR_ADMIN, Role.VENDOR_BID_MANAGER, Role.VENDOR_MEMBER)
VENDOR_WRITERS = (Role.VENDOR_ADMIN, Role.VENDOR_BID_MANAGER)  # apply, ask, bid, answer; the ones told of calls
# A DPS is run by its buying organisation only (the central purchasing body): its notice, its admissions, the
# needs filed to it; its admins and evaluators also follow the procedures of its DPS conducted in
# intermediation (HC2).
DPS_WRITERS = (Role.BUYER_ADMIN, Role.BUYER_EVALUATOR)

# The buying side of a specific contract is a buying organisation (centralised, HC3) or the holder itself
# (intermediation, HC2): each buyer role has its holder equivalent, and the audiences below admit both. A
# member of a holder only ever holds holder roles and a member of a buying organisation only buyer roles
# (accounts/base.py `check_roles`), so a union never lets one kind act as the other: the object check
# (tenders/access.py `buying_side`) reads the roles in the contract's own buying organisation.
HOLDER_EQUIVALENTS = {Role.BUYER_ADMIN: Role.HOLDER_ADMIN, Role.BUYER_EVALUATOR: Role.HOLDER_EVALUATOR,
                      Role.BUYER_OPENER: Role.HOLDER_OPENER}


def acting_for_the_buyer(*roles: Role) -> tuple[Role, ...]:
    """`roles` with the holder equivalent of each buyer role (HC2): who holds them in a specific contract's
    buying organisation, whichever kind it is, is of its buying side."""
    widened = [*roles, *(HOLDER_EQUIVALENTS[role] for role in roles if role in HOLDER_EQUIVALENTS)]
    return tuple(dict.fromkeys(widened))


BUYER_ADMINS = acting_for_the_buyer(Role.BUYER_ADMIN)  # administer a procedure: publish, award, sign (D16, D18)
BUYER_WRITERS = acting_for_the_buyer(*DPS_WRITERS)  # run procedures: read, evaluate, ask
OPENERS = acting_for_the_buyer(Role.BUYER_OPENER, Role.BUYER_ADMIN)  # hold opener keys, open (D13, G2)
BUYING_SIDE = acting_for_the_buyer(Role.BUYER_ADMIN, Role.BUYER_EVALUATOR, Role.BUYER_OPENER)  # every member
ADMINS = (Role.HOLDER_ADMIN, Role.VENDOR_ADMIN, Role.BUYER_ADMIN, Role.PLATFORM_ADMIN, Role.FUNDER_ADMIN)
FUNDER_MEMBERS = (Role.FUNDER_ADMIN, Role.FUNDER_INSTRUCTOR, Role.FUNDER_MEMBER)  # read the funder's calls (FU6)
FUNDER_WRITERS = (Role.FUNDER_ADMIN, Role.FUNDER_INSTRUCTOR)  # instruct: decide, validate tranches, record payments
SIGNATORIES = (*BUYER_ADMINS, Role.VENDOR_ADMIN)  # sign a contract, each for its own side (D18, HC4)
VENDOR_SIGNATORIES = (Role.VENDOR_ADMIN,)  # the awardee's side of SIGNATORIES: its admin signs (HC4)
HOLDER_ADMINISTRATION = (Role.HOLDER_ADMIN, Role.PLATFORM_ADMIN)  # an OG's own records: its admin or the operator
# SONS (domain.md §5, §12): the operator records what the ASP decides (statuses, cancellations, expiries) and keeps
# the dispositifs; an order is read by its vendor's and its OG's members, by the operator, and (read-only) by the
# members of the ARS of a region where one of its sites is (sons/access.py).
SONS_OPERATORS = (Role.PLATFORM_ADMIN,)
SONS_ORDER_READERS = (*VENDOR_MEMBERS, *HOLDER_MEMBERS, *FUNDER_MEMBERS, Role.PLATFORM_ADMIN)
