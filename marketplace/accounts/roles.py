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
HOLDER_MEMBERS = (Role.HOLDER_ADMIN, Role.HOLDER_PROJECT_LEAD, Role.HOLDER_MEMBER)
HOLDER_WRITERS = (Role.HOLDER_ADMIN, Role.HOLDER_PROJECT_LEAD)  # file needs, receive the award notices
VENDOR_MEMBERS = (Role.VENDOR_ADMIN, Role.VENDOR_BID_MANAGER, Role.VENDOR_MEMBER)
VENDOR_WRITERS = (Role.VENDOR_ADMIN, Role.VENDOR_BID_MANAGER)  # apply, ask, bid, answer; the ones told of calls
BUYER_WRITERS = (Role.BUYER_ADMIN, Role.BUYER_EVALUATOR)  # run DPS and procedures: read, evaluate, ask
OPENERS = (Role.BUYER_OPENER, Role.BUYER_ADMIN)  # hold opener keys, take part in an opening (D13, G2)
BUYING_SIDE = (*BUYER_WRITERS, Role.BUYER_OPENER)  # every member of the buying organisation
FUNDER_MEMBERS = (Role.FUNDER_ADMIN, Role.FUNDER_INSTRUCTOR, Role.FUNDER_MEMBER)  # read the funder's calls (FU6)
FUNDER_WRITERS = (Role.FUNDER_ADMIN, Role.FUNDER_INSTRUCTOR)  # instruct: decide, validate tranches, record payments
ADMINS = (Role.HOLDER_ADMIN, Role.VENDOR_ADMIN, Role.BUYER_ADMIN, Role.PLATFORM_ADMIN, Role.FUNDER_ADMIN)
SIGNATORIES = (Role.BUYER_ADMIN, Role.VENDOR_ADMIN)  # sign a contract, each for its own side (D18)
HOLDER_ADMINISTRATION = (Role.HOLDER_ADMIN, Role.PLATFORM_ADMIN)  # an OG's own records: its admin or the operator
