"""A small world of organisations and people for API tests, built through the real services.

`build_world(settings)` creates, in one transaction: the platform operator with an admin; a buyer (the
central purchasing body) with a buyer admin and an evaluator; two OGs (holders) with an admin and a
member each, and a facility each; two vendors with an admin and a member each; two funders, the ARS of
Île-de-France (region 11, where the `holder`'s facility is) and the ARS of Bretagne (region 53), with an
admin (and, for the first, an instructor). Each person gets an access token. Identifiers are real-format
and valid (SIRET Luhn, FINESS Luhn).
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from marketplace.accounts import schemas
from marketplace.accounts.auth import hasher, issue_access_token
from marketplace.accounts.memberships import MembershipService
from marketplace.accounts.models import Organisation, User
from marketplace.accounts.organisations import OrganisationService
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import OrganisationKind, Role
from marketplace.lib.clock import system_clock
from marketplace.settings import Settings

PASSWORD = "correct horse battery staple"

# (name, kind, SIRET, FINESS EJ) — SIRETs and FINESS numbers pass their checksums.
ORGANISATIONS = {
    "platform": ("Opérateur de la plateforme SAD", OrganisationKind.PLATFORM, "73282932000074", None),
    "buyer": ("Centrale d'achat du numérique médico-social", OrganisationKind.BUYER, "55208131766522", None),
    "holder": ("Association Les Tilleuls", OrganisationKind.HOLDER, "77567227200017", "750712184"),
    "other_holder": ("Fondation Bellevue", OrganisationKind.HOLDER, "78467169500087", "970100400"),
    "vendor": ("Logiciels Médico-Sociaux SAS", OrganisationKind.VENDOR, "44306184100047", None),
    "other_vendor": ("Éditions Santé Numérique", OrganisationKind.VENDOR, "38012986648005", None),
    "other_buyer": ("Groupement régional d'achat médico-social", OrganisationKind.BUYER, "51732048724724", None),
    "third_vendor": ("Atelier Logiciel Domicile SARL", OrganisationKind.VENDOR, "56496156307921", None),
    "funder": ("ARS Île-de-France", OrganisationKind.FUNDER, None, None),
    "other_funder": ("ARS Bretagne", OrganisationKind.FUNDER, None, None),
}
# FU1: a funder's region (INSEE code).
FUNDER_REGIONS = {"funder": "11", "other_funder": "53"}
FACILITIES = {"holder": ("EHPAD Les Tilleuls", "750000010"), "other_holder": ("IME Bellevue", "970100418")}


@dataclass
class Person:
    user_id: uuid.UUID
    email: str
    token: str
    organisation: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    organisations: dict[str, uuid.UUID] = field(default_factory=dict)
    facilities: dict[str, uuid.UUID] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    # Opener keys registered during the test (person → key id), see tests/tenders/test_publication.py.
    opener_keys: dict[str, str] = field(default_factory=dict)
    # Funding made during the test (tests/funding_api.py): calls opened (funder headers key, campaign → call id)
    # and the headers acting for funders the world doesn't have (another region's ARS, the national funder).
    funding_calls: dict[tuple[str, int], str] = field(default_factory=dict)
    funder_headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Person:
        return self.people[name]


# person name → (organisation, roles)
PEOPLE: dict[str, tuple[str, list[Role]]] = {
    "platform_admin": ("platform", [Role.PLATFORM_ADMIN]),
    "buyer_admin": ("buyer", [Role.BUYER_ADMIN]),
    "buyer_evaluator": ("buyer", [Role.BUYER_EVALUATOR]),
    "buyer_opener": ("buyer", [Role.BUYER_OPENER]),
    "holder_admin": ("holder", [Role.HOLDER_ADMIN, Role.HOLDER_PROJECT_LEAD]),
    "holder_member": ("holder", [Role.HOLDER_MEMBER]),
    # The holder's own openers and evaluators: it buys its specific contract in intermediation (HC2) and sits on
    # the central purchasing body's committee when invited (HC3).
    "holder_opener": ("holder", [Role.HOLDER_OPENER]),
    "holder_evaluator": ("holder", [Role.HOLDER_EVALUATOR]),
    "other_holder_admin": ("other_holder", [Role.HOLDER_ADMIN]),
    "other_holder_member": ("other_holder", [Role.HOLDER_MEMBER]),
    "vendor_admin": ("vendor", [Role.VENDOR_ADMIN, Role.VENDOR_BID_MANAGER]),
    "vendor_member": ("vendor", [Role.VENDOR_MEMBER]),
    "other_vendor_admin": ("other_vendor", [Role.VENDOR_ADMIN]),
    "other_vendor_member": ("other_vendor", [Role.VENDOR_MEMBER]),
    "other_buyer_admin": ("other_buyer", [Role.BUYER_ADMIN]),
    "third_vendor_admin": ("third_vendor", [Role.VENDOR_ADMIN, Role.VENDOR_BID_MANAGER]),
    "funder_admin": ("funder", [Role.FUNDER_ADMIN]),
    "funder_instructor": ("funder", [Role.FUNDER_INSTRUCTOR]),
    "other_funder_admin": ("other_funder", [Role.FUNDER_ADMIN]),
}


@functools.cache
def _shared_hash() -> str:
    return hasher.hash(PASSWORD)


def email_of(person: str) -> str:
    return f"{person.replace('_', '.')}@example.fr"


async def build_world(settings: Settings) -> World:
    engine = create_async_engine(settings.database_url)
    world = World()
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
            service = OrganisationService(session, system_clock, settings)
            memberships = MembershipService(session, system_clock, settings)
            bootstrap = Principal(user_id=None, api_key_id=None, email=None,
                                  roles_by_organisation={uuid.uuid4(): frozenset({Role.PLATFORM_ADMIN})})
            for key, (name, kind, siret, finess) in ORGANISATIONS.items():
                created = await service.create_organisation(bootstrap, schemas.OrganisationCreate(
                    kind=kind, name=name, siret=siret, finess_ej=finess, region=FUNDER_REGIONS.get(key)))
                world.organisations[key] = created.id
            for key, (name, finess) in FACILITIES.items():
                facility = await service.add_facility(bootstrap, world.organisations[key],
                                                      schemas.FacilityCreate(name=name, finess_et=finess))
                world.facilities[key] = facility.id
            for person, (org_key, roles) in PEOPLE.items():
                # One argon2 hash for everyone: hashing eleven times would cost seconds per test.
                user = User(email=email_of(person), full_name=person.replace("_", " ").title(),
                            password_hash=_shared_hash())
                session.add(user)
                await session.flush()
                organisation = await session.get(Organisation, world.organisations[org_key])
                assert organisation is not None
                await memberships.add_membership("system", user, organisation, roles)
                token, _ = issue_access_token(user.id, settings.secret_key)
                world.people[person] = Person(user.id, user.email, token, org_key)
    finally:
        await engine.dispose()
    return world
