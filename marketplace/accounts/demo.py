"""Demo data: realistic French organisations of every kind, with valid identifiers, and their people.

Used by `marketplace seed` and `marketplace dev --demo`. Idempotent: it does nothing when the demo
platform operator exists already. Goes through the accounts services, so the same rules and audit apply.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts import schemas
from marketplace.accounts.memberships import MembershipService
from marketplace.accounts.models import Organisation, User
from marketplace.accounts.organisations import OrganisationService
from marketplace.accounts.principal import SYSTEM_ACTOR, Principal
from marketplace.accounts.roles import FUNDER_WRITERS, OrganisationKind, Role
from marketplace.lib.clock import Clock
from marketplace.settings import Settings

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - printed to the developer on purpose

# key: (kind, name, SIRET, FINESS EJ) — every identifier passes its checksum (domain.md §2).
DEMO_ORGANISATIONS: dict[str, tuple[OrganisationKind, str, str, str | None]] = {
    "platform": (OrganisationKind.PLATFORM, "Opérateur de la plateforme SAD", "73282932000074", None),
    "resah": (OrganisationKind.BUYER, "Centrale d'achat du numérique en santé", "55208131766522", None),
    "tilleuls": (OrganisationKind.HOLDER, "Association Les Tilleuls", "77567227200017", "750712184"),
    "bellevue": (OrganisationKind.HOLDER, "Fondation Bellevue Antilles", "78467169500087", "970100400"),
    "logisante": (OrganisationKind.VENDOR, "LogiSanté Médico-Social SAS", "44306184100047", None),
    "dossiersoin": (OrganisationKind.VENDOR, "Dossier de Soins Numérique SARL", "38012986648005", None),
    "ars_idf": (OrganisationKind.FUNDER, "Agence régionale de santé Île-de-France", "13000548100010", None),
}
# A funder's region (FU1): the ARS of the demo holder's facilities (Paris, region 11), to which N5 routes its need.
DEMO_REGIONS = {"ars_idf": "11"}
DEMO_FACILITIES = {
    "tilleuls": [("EHPAD Les Tilleuls", "750000010"), ("SSIAD Les Tilleuls", "750000028")],
    "bellevue": [("IME Bellevue", "970100418")],
}
DEMO_PEOPLE: dict[str, tuple[str, str, list[Role]]] = {
    "admin@plateforme-sad.example": ("platform", "Camille Laurent", [Role.PLATFORM_ADMIN]),
    "acheteur@centrale-achat.example": ("resah", "Julien Moreau", [Role.BUYER_ADMIN, Role.BUYER_OPENER]),
    "evaluatrice@centrale-achat.example": ("resah", "Sophie Bernard", [Role.BUYER_EVALUATOR]),
    "direction@les-tilleuls.example": ("tilleuls", "Nathalie Petit",
                                       [Role.HOLDER_ADMIN, Role.HOLDER_PROJECT_LEAD]),
    "cadre@les-tilleuls.example": ("tilleuls", "Thomas Roux", [Role.HOLDER_MEMBER]),
    # The holder's buying side when it buys in intermediation (HC2): an opener and an evaluator of its own.
    "ouverture@les-tilleuls.example": ("tilleuls", "Karim Benali", [Role.HOLDER_OPENER]),
    "evaluation@les-tilleuls.example": ("tilleuls", "Claire Dubois", [Role.HOLDER_EVALUATOR]),
    "direction@bellevue.example": ("bellevue", "Marie-Josée Célestine", [Role.HOLDER_ADMIN]),
    "commercial@logisante.example": ("logisante", "Antoine Girard", [Role.VENDOR_ADMIN, Role.VENDOR_BID_MANAGER]),
    "contact@dossier-soins.example": ("dossiersoin", "Léa Fontaine", [Role.VENDOR_ADMIN]),
    "instruction@ars-idf.example": ("ars_idf", "Hélène Martin", list(FUNDER_WRITERS)),
}


@dataclass(frozen=True, slots=True)
class DemoSummary:
    created: bool
    logins: list[tuple[str, str]]  # (e-mail, organisation name)


_SYSTEM = Principal(user_id=None, api_key_id=None, email=None,
                    roles_by_organisation={uuid.UUID(int=0): frozenset({Role.PLATFORM_ADMIN})})


async def seed_demo(session: AsyncSession, clock: Clock, settings: Settings) -> DemoSummary:
    organisations = OrganisationService(session, clock, settings)
    memberships = MembershipService(session, clock, settings)
    logins = [(email, DEMO_ORGANISATIONS[org][1]) for email, (org, _, _) in DEMO_PEOPLE.items()]
    if await session.scalar(select(Organisation.id).where(Organisation.siret == DEMO_ORGANISATIONS["platform"][2])):
        return DemoSummary(created=False, logins=logins)
    ids: dict[str, uuid.UUID] = {}
    for key, (kind, name, siret, finess) in DEMO_ORGANISATIONS.items():
        created = await organisations.create_organisation(
            _SYSTEM, schemas.OrganisationCreate(kind=kind, name=name, siret=siret, finess_ej=finess,
                                               region=DEMO_REGIONS.get(key)))
        ids[key] = created.id
    for key, facilities in DEMO_FACILITIES.items():
        for name, finess in facilities:
            await organisations.add_facility(_SYSTEM, ids[key], schemas.FacilityCreate(name=name, finess_et=finess))
    for email, (org_key, full_name, roles) in DEMO_PEOPLE.items():
        user = await memberships.create_user(email, full_name, DEMO_PASSWORD)
        organisation = await session.get(Organisation, ids[org_key])
        assert organisation is not None
        await memberships.add_membership(SYSTEM_ACTOR, user, organisation, roles)
    return DemoSummary(created=True, logins=logins)


async def create_platform_admin(session: AsyncSession, clock: Clock, settings: Settings, *, email: str,
                                full_name: str, password: str, operator_name: str, operator_siret: str) -> User:
    """The first administrator: creates the platform operator organisation if there is none yet."""
    organisations = OrganisationService(session, clock, settings)
    memberships = MembershipService(session, clock, settings)
    operator = await session.scalar(select(Organisation).where(Organisation.kind == OrganisationKind.PLATFORM))
    if operator is None:
        created = await organisations.create_organisation(_SYSTEM, schemas.OrganisationCreate(
            kind=OrganisationKind.PLATFORM, name=operator_name, siret=operator_siret))
        operator = await session.get(Organisation, created.id)
        assert operator is not None
    user = await session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        user = await memberships.create_user(email, full_name, password)
    await memberships.add_membership(SYSTEM_ACTOR, user, operator, [Role.PLATFORM_ADMIN])
    return user
