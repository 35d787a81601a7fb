"""Organisation kinds and the roles a member may hold in each (pure data, no I/O)."""

from __future__ import annotations

import enum


class OrganisationKind(enum.StrEnum):
    HOLDER = "holder"      # porteur de projet: an OG, or a grappe of OGs
    VENDOR = "vendor"      # éditeur de logiciel
    BUYER = "buyer"        # centrale d'achat, or a holder's purchasing service
    PLATFORM = "platform"  # the platform operator


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

    @property
    def kind(self) -> OrganisationKind:
        return OrganisationKind(self.value.split(":", 1)[0])


ADMIN_ROLE = {kind: Role(f"{kind.value}:admin") for kind in OrganisationKind}


def roles_for(kind: OrganisationKind) -> frozenset[Role]:
    return frozenset(role for role in Role if role.kind == kind)
