"""Organisations (holders and their grappes, vendors, buyers, funders, the platform) and a holder's facilities (ESMS).

domain.md §2: every identifier is checked (SIRET, SIREN, FINESS); a grappe groups existing OGs. Audited (P8).
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, func, or_, select

from marketplace.accounts import schemas
from marketplace.accounts.access import administered_organisation, visible_organisation
from marketplace.accounts.base import ServiceBase
from marketplace.accounts.errors import AlreadyExists, InvalidIdentifierError
from marketplace.accounts.models import Facility, GrappeMember, Membership, Organisation, User
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import ADMIN_ROLE, OrganisationKind
from marketplace.errors import RuleViolation
from marketplace.lib.geography import REGIONS
from marketplace.lib.identifiers import InvalidIdentifier, siren_of, validate_finess, validate_siren, validate_siret

ADMINISTERED_MAX = 10_000  # the back-office's export of the whole filter


def _identifier(field: str, check: object, value: str) -> str:
    try:
        return check(value)  # type: ignore[operator, no-any-return]
    except InvalidIdentifier as exc:
        raise InvalidIdentifierError(f"{field}: {exc.reason}", field=field, rule="domain.md §2") from exc


class OrganisationService(ServiceBase):
    async def _to_schema(self, organisation: Organisation) -> schemas.Organisation:
        members = list((await self.session.scalars(
            select(GrappeMember.organisation_id).where(GrappeMember.grappe_id == organisation.id)
            .order_by(GrappeMember.created_at)
        )).all())
        return schemas.Organisation(
            id=organisation.id, kind=organisation.kind, name=organisation.name, siren=organisation.siren,
            siret=organisation.siret, finess_ej=organisation.finess_ej, is_grappe=organisation.is_grappe,
            lead_organisation_id=organisation.lead_organisation_id, grappe_member_ids=members,
            region=organisation.region,
            national=organisation.kind == OrganisationKind.FUNDER and organisation.region is None)

    async def create_organisation(self, principal: Principal,
                                  data: schemas.OrganisationCreate) -> schemas.Organisation:
        siret = _identifier("siret", validate_siret, data.siret) if data.siret else None
        siren = _identifier("siren", validate_siren, data.siren) if data.siren else None
        if siret and siren and siren_of(siret) != siren:
            raise InvalidIdentifierError("siren: it is not the SIREN of the SIRET given (its first 9 digits)",
                                         field="siren", rule="domain.md §2.2")
        siren = siren or (siren_of(siret) if siret else None)
        finess = _identifier("finessEj", validate_finess, data.finess_ej) if data.finess_ej else None
        is_holder = data.kind == OrganisationKind.HOLDER
        if not is_holder and (finess or data.is_grappe):
            raise RuleViolation("finessEj / isGrappe: only a project holder has a FINESS EJ or is a grappe",
                                field="finessEj")
        if data.kind in (OrganisationKind.VENDOR, OrganisationKind.BUYER) and not siret:
            raise RuleViolation(f"siret: a {data.kind.value} is identified by its SIRET", field="siret")
        if data.is_grappe:
            await self._check_grappe(data)
        elif is_holder and not (siret and finess):
            raise RuleViolation("siret / finessEj: a managing organisation (OG) is identified by its SIRET and "
                                "its FINESS EJ", field="finessEj" if siret else "siret")
        elif data.grappe_member_ids or data.lead_organisation_id:
            raise RuleViolation("grappeMemberIds: only a grappe has members", field="grappeMemberIds")
        await self._unique(Organisation.siret, siret, "siret")
        await self._unique(Organisation.finess_ej, finess, "finessEj")
        region = await self._funder_region(data)
        organisation = Organisation(kind=data.kind, name=data.name.strip(), siren=siren, siret=siret,
                                    finess_ej=finess, is_grappe=data.is_grappe,
                                    lead_organisation_id=data.lead_organisation_id, region=region)
        self.session.add(organisation)
        await self.session.flush()
        for member_id in dict.fromkeys(data.grappe_member_ids):
            self.session.add(GrappeMember(grappe_id=organisation.id, organisation_id=member_id))
        await self.session.flush()
        await self._audit("organisation.created", principal.label, organisation_id=organisation.id,
                          target_type="organisation", target_id=organisation.id, kind=data.kind.value,
                          name=organisation.name, siret=siret, finess_ej=finess, region=region,
                          national=data.kind == OrganisationKind.FUNDER and region is None)
        return await self._to_schema(organisation)

    async def _funder_region(self, data: schemas.OrganisationCreate) -> str | None:
        """FU1: an ARS names its region (an INSEE region code), the national funder says it is national; one
        funder per region and one national (the database's unique indexes back it against a race)."""
        if data.kind != OrganisationKind.FUNDER:
            if data.region is not None or data.national:
                raise RuleViolation("region / national: only a funder has a region or is national", field="region",
                                    rule="FU1")
            return None
        if data.national == (data.region is not None):
            raise RuleViolation("region: a funder is an ARS of one region (its INSEE code) or the national funder "
                                "(national: true), one of the two", field="region", rule="FU1")
        if data.region is not None and data.region not in REGIONS:
            raise RuleViolation(f"region: {data.region} is not an INSEE region code (one of: "
                                f"{', '.join(sorted(REGIONS))})", field="region", rule="FU1")
        taken = await self.session.scalar(select(func.count()).select_from(Organisation).where(
            Organisation.kind == OrganisationKind.FUNDER,
            Organisation.region == data.region if data.region is not None else Organisation.region.is_(None)))
        if taken:
            where = f"region {data.region}" if data.region is not None else "the national calls"
            raise AlreadyExists(f"region: there is a funder for {where} already (FU1: one per region, one "
                                "national)", field="region", rule="FU1")
        return data.region

    async def _check_grappe(self, data: schemas.OrganisationCreate) -> None:
        members = list(dict.fromkeys(data.grappe_member_ids))
        if len(members) < 2:
            raise RuleViolation("grappeMemberIds: a grappe groups at least two OGs", field="grappeMemberIds")
        if data.lead_organisation_id not in members:
            raise RuleViolation("leadOrganisationId: the lead OG must be one of the grappe's OGs",
                                field="leadOrganisationId")
        found = (await self.session.scalars(
            select(Organisation.id).where(Organisation.id.in_(members), Organisation.kind == OrganisationKind.HOLDER,
                                          Organisation.is_grappe.is_(False))
        )).all()
        if len(found) != len(members):
            raise RuleViolation("grappeMemberIds: every member must be an existing OG (a holder, not a grappe)",
                                field="grappeMemberIds")

    async def _unique(self, column: object, value: str | None, field: str) -> None:
        if value and await self.session.scalar(select(func.count()).where(column == value)):  # type: ignore[arg-type]
            raise AlreadyExists(f"{field}: an organisation with this identifier exists already", field=field)

    async def get_organisation(self, principal: Principal, organisation_id: uuid.UUID) -> schemas.Organisation:
        return await self._to_schema(await visible_organisation(self.session, principal, organisation_id))

    async def list_organisations(self, principal: Principal) -> list[schemas.Organisation]:
        query = select(Organisation).order_by(Organisation.name)
        if not principal.is_platform_admin:
            query = query.where(Organisation.id.in_(list(principal.roles_by_organisation)))
        return [await self._to_schema(o) for o in (await self.session.scalars(query)).all()]

    async def administered(self, principal: Principal, *, kind: OrganisationKind | None = None, search: str = "",
                           limit: int = 50, offset: int = 0) -> schemas.OrganisationList:
        """The organisations the caller administers (a platform admin: every one), by name, with their active
        members' count; filtered by kind and by a fragment of the name or of an identifier (SIRET, SIREN,
        FINESS EJ). The back-office's list of the organisations whose members and API keys one manages."""
        active = (select(func.count()).select_from(Membership).join(User, User.id == Membership.user_id)
                  .where(Membership.organisation_id == Organisation.id, User.is_active)
                  .correlate(Organisation).scalar_subquery())
        where: list[ColumnElement[bool]] = []
        if not principal.is_platform_admin:
            where.append(Organisation.id.in_(principal.organisations_with(*ADMIN_ROLE.values())))
        if kind is not None:
            where.append(Organisation.kind == kind)
        if search.strip():
            text = search.strip()
            digits = text.replace(" ", "")
            where.append(or_(Organisation.name.icontains(text, autoescape=True),
                             *(column.startswith(digits, autoescape=True) for column in
                               (Organisation.siret, Organisation.siren, Organisation.finess_ej))))
        total = await self.session.scalar(select(func.count()).select_from(Organisation).where(*where)) or 0
        rows = (await self.session.execute(
            select(Organisation, active).where(*where).order_by(Organisation.name, Organisation.id)
            .limit(limit).offset(offset))).all()
        items = [schemas.OrganisationListItem(id=o.id, kind=o.kind, name=o.name, siren=o.siren, siret=o.siret,
                                              finess_ej=o.finess_ej, is_grappe=o.is_grappe, region=o.region,
                                              members=count) for o, count in rows]
        return schemas.OrganisationList(items=items, total=total, limit=limit, offset=offset)

    async def add_facility(self, principal: Principal, organisation_id: uuid.UUID,
                           data: schemas.FacilityCreate) -> schemas.Facility:
        organisation = await administered_organisation(self.session, principal, organisation_id)
        if organisation.kind != OrganisationKind.HOLDER or organisation.is_grappe:
            raise RuleViolation("organisationId: facilities (ESMS) belong to a managing organisation (OG)",
                                field="organisationId")
        finess = _identifier("finessEt", validate_finess, data.finess_et)
        if finess == organisation.finess_ej:
            raise RuleViolation("finessEt: this is the OG's FINESS EJ; a facility has its own FINESS ET",
                                field="finessEt", rule="domain.md §2.3")
        if await self.session.scalar(select(func.count()).where(Facility.finess_et == finess)):
            raise AlreadyExists("finessEt: a facility with this FINESS ET exists already", field="finessEt")
        facility = Facility(organisation_id=organisation_id, name=data.name.strip(), finess_et=finess,
                            category_code=data.category_code)
        self.session.add(facility)
        await self.session.flush()
        await self._audit("facility.added", principal.label, organisation_id=organisation_id,
                          target_type="facility", target_id=facility.id, finess_et=finess)
        return schemas.Facility(id=facility.id, organisation_id=organisation_id, name=facility.name,
                                finess_et=finess, category_code=facility.category_code,
                                organisation_name=organisation.name, finess_ej=organisation.finess_ej)

    async def list_facilities(self, principal: Principal, organisation_id: uuid.UUID) -> list[schemas.Facility]:
        """An OG's facilities; for a grappe, those of every one of its member OGs, each with its OG, so that the
        grappe's people pick the ESMS of a need among them (N18: each ESMS a FINESS ET of one of the holder's
        OGs). Readable by the organisation's own members (and platform admins): a grappe's members see its
        OGs' facilities through the grappe, never another OG's by its own id (404)."""
        organisation = await visible_organisation(self.session, principal, organisation_id)
        owners = select(GrappeMember.organisation_id).where(GrappeMember.grappe_id == organisation.id) \
            if organisation.is_grappe else select(Organisation.id).where(Organisation.id == organisation.id)
        rows = (await self.session.execute(
            select(Facility, Organisation.name, Organisation.finess_ej)
            .join(Organisation, Organisation.id == Facility.organisation_id)
            .where(Facility.organisation_id.in_(owners))
            .order_by(Organisation.name, Organisation.id, Facility.name, Facility.finess_et))).all()
        return [schemas.Facility(id=f.id, organisation_id=f.organisation_id, name=f.name, finess_et=f.finess_et,
                                 category_code=f.category_code, organisation_name=og_name, finess_ej=finess_ej)
                for f, og_name, finess_ej in rows]
