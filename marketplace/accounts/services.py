"""Use cases of accounts: organisations and facilities, login, members and invitations, API keys.

Every state change lands in the audit log in the same transaction (P8). Object-level rule: an
organisation a principal does not belong to answers 404 (NotFound), never 403, so existence doesn't leak.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from advanced_alchemy.types.password_hash.argon2 import Argon2Hasher
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts import schemas
from marketplace.accounts.auth import (
    REFRESH_TOKEN_TTL,
    issue_access_token,
    new_api_key,
    new_secret,
    sha256_hex,
)
from marketplace.accounts.errors import (
    AlreadyExists,
    InvalidCredentials,
    InvalidIdentifierError,
    LoginThrottled,
    RoleNotAllowed,
)
from marketplace.accounts.models import (
    ApiKey,
    Facility,
    GrappeMember,
    Invitation,
    LoginThrottle,
    Membership,
    Organisation,
    RefreshToken,
    User,
)
from marketplace.accounts.principal import ANONYMOUS_ACTOR, Principal
from marketplace.accounts.roles import ADMIN_ROLE, OrganisationKind, Role, roles_for
from marketplace.errors import Forbidden, NotFound, RuleViolation
from marketplace.lib import audit
from marketplace.lib.clock import Clock
from marketplace.lib.identifiers import (
    InvalidIdentifier,
    siren_of,
    validate_finess,
    validate_siren,
    validate_siret,
)
from marketplace.notifications.mail import deliverable_address
from marketplace.notifications.services import NotificationService
from marketplace.settings import Settings

hasher = Argon2Hasher()
# Verified against when the e-mail is unknown, so both paths cost one argon2 verification.
_DUMMY_HASH = hasher.hash("not-a-real-password")

LOGIN_MAX_FAILURES = 10
LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_LOCK = timedelta(minutes=15)
INVITATION_TTL = timedelta(days=7)


def _identifier(field: str, check: object, value: str) -> str:
    try:
        return check(value)  # type: ignore[operator, no-any-return]
    except InvalidIdentifier as exc:
        raise InvalidIdentifierError(f"{field}: {exc.reason}", field=field, rule="domain.md §2") from exc


def _check_roles(kind: OrganisationKind, roles: list[Role], field: str = "roles") -> list[str]:
    allowed = roles_for(kind)
    wrong = [r.value for r in roles if r not in allowed]
    if wrong:
        raise RoleNotAllowed(f"{field}: {', '.join(wrong)} cannot be held in a {kind.value} organisation "
                             f"(allowed: {', '.join(sorted(r.value for r in allowed))})", field=field)
    return sorted({r.value for r in roles})


class AccountsService:
    def __init__(self, session: AsyncSession, clock: Clock, settings: Settings) -> None:
        self.session = session
        self.clock = clock
        self.settings = settings

    async def _audit(self, action: str, actor: str, *, organisation_id: uuid.UUID | None = None,
                     target_type: str | None = None, target_id: object = None, **details: object) -> None:
        await audit.record(self.session, self.clock, action, actor=actor, organisation_id=organisation_id,
                           target_type=target_type, target_id=str(target_id) if target_id else None,
                           details=details)

    # -- organisations -------------------------------------------------------------------------

    async def _visible_organisation(self, principal: Principal, organisation_id: uuid.UUID) -> Organisation:
        organisation = await self.session.get(Organisation, organisation_id)
        if organisation is None or not (principal.member_of(organisation_id) or principal.is_platform_admin):
            raise NotFound("No organisation has this id.")
        return organisation

    async def _administered(self, principal: Principal, organisation_id: uuid.UUID) -> Organisation:
        organisation = await self._visible_organisation(principal, organisation_id)
        if not (principal.has_role_in(organisation_id, ADMIN_ROLE[organisation.kind]) or principal.is_platform_admin):
            raise Forbidden("Only an administrator of this organisation may do this.")
        return organisation

    async def _to_schema(self, organisation: Organisation) -> schemas.Organisation:
        members = list((await self.session.scalars(
            select(GrappeMember.organisation_id).where(GrappeMember.grappe_id == organisation.id)
            .order_by(GrappeMember.created_at)
        )).all())
        return schemas.Organisation(
            id=organisation.id, kind=organisation.kind, name=organisation.name, siren=organisation.siren,
            siret=organisation.siret, finess_ej=organisation.finess_ej, is_grappe=organisation.is_grappe,
            lead_organisation_id=organisation.lead_organisation_id, grappe_member_ids=members)

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
        organisation = Organisation(kind=data.kind, name=data.name.strip(), siren=siren, siret=siret,
                                    finess_ej=finess, is_grappe=data.is_grappe,
                                    lead_organisation_id=data.lead_organisation_id)
        self.session.add(organisation)
        await self.session.flush()
        for member_id in dict.fromkeys(data.grappe_member_ids):
            self.session.add(GrappeMember(grappe_id=organisation.id, organisation_id=member_id))
        await self.session.flush()
        await self._audit("organisation.created", principal.label, organisation_id=organisation.id,
                          target_type="organisation", target_id=organisation.id, kind=data.kind.value,
                          name=organisation.name, siret=siret, finess_ej=finess)
        return await self._to_schema(organisation)

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
        return await self._to_schema(await self._visible_organisation(principal, organisation_id))

    async def list_organisations(self, principal: Principal) -> list[schemas.Organisation]:
        query = select(Organisation).order_by(Organisation.name)
        if not principal.is_platform_admin:
            query = query.where(Organisation.id.in_(list(principal.roles_by_organisation)))
        return [await self._to_schema(o) for o in (await self.session.scalars(query)).all()]

    async def add_facility(self, principal: Principal, organisation_id: uuid.UUID,
                           data: schemas.FacilityCreate) -> schemas.Facility:
        organisation = await self._administered(principal, organisation_id)
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
                                finess_et=finess, category_code=facility.category_code)

    async def list_facilities(self, principal: Principal, organisation_id: uuid.UUID) -> list[schemas.Facility]:
        await self._visible_organisation(principal, organisation_id)
        rows = (await self.session.scalars(
            select(Facility).where(Facility.organisation_id == organisation_id).order_by(Facility.name))).all()
        return [schemas.Facility(id=f.id, organisation_id=f.organisation_id, name=f.name, finess_et=f.finess_et,
                                 category_code=f.category_code) for f in rows]

    # -- authentication ------------------------------------------------------------------------

    async def login(self, email: str, password: str) -> schemas.TokenPair:
        email = email.strip().lower()
        now = self.clock.now()
        key = sha256_hex(email)
        throttle = await self.session.scalar(
            select(LoginThrottle).where(LoginThrottle.email_sha256 == key).with_for_update())
        if throttle is not None and throttle.locked_until is not None and throttle.locked_until > now:
            await self._audit("auth.login_throttled", ANONYMOUS_ACTOR, email_sha256=key)
            retry = int((throttle.locked_until - now).total_seconds()) + 1
            raise LoginThrottled(f"Too many failed attempts; try again in {retry} s.", retryAfter=retry,
                                 headers={"Retry-After": str(retry)})
        user = await self.session.scalar(select(User).where(User.email == email))
        valid = hasher.verify(password, user.password_hash if user and user.password_hash else _DUMMY_HASH)
        if not (user is not None and user.password_hash and valid and user.is_active):
            await self._count_failure(throttle, key, now)
            await self._audit("auth.login_failed", ANONYMOUS_ACTOR, email_sha256=key)
            raise InvalidCredentials
        if throttle is not None:
            await self.session.delete(throttle)
        await self._audit("auth.login_succeeded", f"user:{user.id}", target_type="user", target_id=user.id)
        return await self._token_pair(user.id)

    async def _count_failure(self, throttle: LoginThrottle | None, key: str, now: datetime) -> None:
        if throttle is None:
            throttle = LoginThrottle(email_sha256=key, failures=0, window_started_at=now)
            self.session.add(throttle)
        elif throttle.window_started_at + LOGIN_WINDOW < now:
            throttle.failures, throttle.window_started_at, throttle.locked_until = 0, now, None
        throttle.failures += 1
        if throttle.failures >= LOGIN_MAX_FAILURES:
            throttle.locked_until = now + LOGIN_LOCK
        await self.session.flush()

    async def _token_pair(self, user_id: uuid.UUID, family_id: uuid.UUID | None = None) -> schemas.TokenPair:
        """A new pair; without `family_id` it opens a new family (a login), else it continues one."""
        family_id = family_id or uuid.uuid4()
        access, expires_in = issue_access_token(user_id, self.settings.secret_key, family_id)
        refresh = new_secret()
        self.session.add(RefreshToken(user_id=user_id, family_id=family_id, token_sha256=sha256_hex(refresh),
                                      expires_at=self.clock.now() + REFRESH_TOKEN_TTL))
        await self.session.flush()
        return schemas.TokenPair(access_token=access, refresh_token=refresh, expires_in=expires_in)

    async def refresh(self, token: str) -> schemas.TokenPair:
        """Rotate: the refresh token is spent, a new pair of the same family is issued.

        A spent token presented again means two parties held it, the legitimate client and a thief, and we
        can't tell which one is calling: the whole family is revoked, so whoever rotated first loses the
        session too and both must log in again (RFC 6819 §5.2.2.3). The 401 commits (app.py), so the
        revocation and its audit event stand although the request is refused.
        """
        now = self.clock.now()
        stored = await self.session.scalar(
            select(RefreshToken).where(RefreshToken.token_sha256 == sha256_hex(token)).with_for_update())
        if stored is not None and stored.revoked_at is not None:
            await self._revoke_family(stored, now)
            raise InvalidCredentials
        user = await self.session.get(User, stored.user_id) if stored else None
        if stored is None or stored.expires_at <= now or user is None or not user.is_active:
            raise InvalidCredentials
        stored.revoked_at = now
        return await self._token_pair(user.id, stored.family_id)

    async def _revoke_family(self, replayed: RefreshToken, now: datetime) -> None:
        revoked = await self.session.execute(update(RefreshToken).where(
            RefreshToken.family_id == replayed.family_id, RefreshToken.revoked_at.is_(None)
        ).values(revoked_at=now))
        # A security event: the token was copied. The caller may be the thief, so the actor is anonymous.
        await self._audit("auth.refresh_token_reused", ANONYMOUS_ACTOR, target_type="user",
                          target_id=replayed.user_id, family=str(replayed.family_id),
                          spent_at=replayed.revoked_at.isoformat() if replayed.revoked_at else None,
                          tokens_revoked=revoked.rowcount, security=True)  # type: ignore[attr-defined]

    async def logout(self, principal: Principal, refresh_token: str) -> None:
        stored = await self.session.scalar(
            select(RefreshToken).where(RefreshToken.token_sha256 == sha256_hex(refresh_token),
                                       RefreshToken.user_id == principal.user_id))
        if stored is not None:
            # The whole session ends: its refresh tokens and, through them, its access tokens.
            await self.session.execute(update(RefreshToken).where(
                RefreshToken.family_id == stored.family_id, RefreshToken.revoked_at.is_(None)
            ).values(revoked_at=self.clock.now()))
        await self._audit("auth.logout", principal.label, target_type="user", target_id=principal.user_id)

    async def me(self, principal: Principal) -> schemas.Me:
        user = await self.session.get(User, principal.user_id) if principal.user_id else None
        organisations = {o.id: o for o in (await self.session.scalars(
            select(Organisation).where(Organisation.id.in_(list(principal.roles_by_organisation))))).all()}
        memberships = [
            schemas.MembershipView(organisation_id=org_id, organisation_name=organisations[org_id].name,
                                   kind=organisations[org_id].kind, roles=sorted(roles))
            for org_id, roles in principal.roles_by_organisation.items() if org_id in organisations]
        return schemas.Me(id=user.id if user and principal.api_key_id is None else None,
                          email=principal.email, full_name=user.full_name if user else None,
                          api_key_id=principal.api_key_id, memberships=memberships)

    # -- users, members, invitations -----------------------------------------------------------

    async def create_user(self, email: str, full_name: str, password: str) -> User:
        # Every account is written to (invitations, D8 invitations, decisions): its address must be reachable.
        email = deliverable_address(email, self.settings, field="email")
        if await self.session.scalar(select(func.count()).where(User.email == email)):
            raise AlreadyExists("email: an account with this address exists already", field="email")
        user = User(email=email, full_name=full_name.strip(), password_hash=hasher.hash(password))
        self.session.add(user)
        await self.session.flush()
        return user

    async def add_membership(self, actor: str, user: User, organisation: Organisation, roles: list[Role]) -> None:
        values = _check_roles(organisation.kind, roles)
        existing = await self.session.scalar(select(Membership).where(
            Membership.user_id == user.id, Membership.organisation_id == organisation.id))
        if existing is not None:
            old = list(existing.roles)
            existing.roles = sorted(set(existing.roles) | set(values))
            new = existing.roles
        else:
            old, new = [], values
            self.session.add(Membership(user_id=user.id, organisation_id=organisation.id, roles=values))
        await self.session.flush()
        await self._audit("member.roles_changed", actor, organisation_id=organisation.id, target_type="user",
                          target_id=user.id, old=old, new=new)

    async def invite(self, principal: Principal, organisation_id: uuid.UUID,
                     data: schemas.InvitationCreate) -> schemas.Invitation:
        organisation = await self._administered(principal, organisation_id)
        roles = _check_roles(organisation.kind, data.roles)
        email = deliverable_address(data.email, self.settings, field="email")  # the code travels by mail
        token = new_secret()
        invitation = Invitation(organisation_id=organisation_id, email=email, roles=roles,
                                token_sha256=sha256_hex(token), invited_by_id=principal.user_id,
                                expires_at=self.clock.now() + INVITATION_TTL)
        self.session.add(invitation)
        await self.session.flush()
        await NotificationService(self.session, self.clock).notify(
            recipient_email=invitation.email, kind="accounts.invitation", about=invitation.id,
            subject=f"Invitation à rejoindre {organisation.name} sur la plateforme SAD",
            body=(f"Bonjour,\n\nVous êtes invité(e) à rejoindre {organisation.name} "
                  f"(rôles : {', '.join(roles)}).\nVotre code d'invitation : {token}\n"
                  f"Il expire dans {INVITATION_TTL.days} jours.\n"),
        )
        await self._audit("member.invited", principal.label, organisation_id=organisation_id,
                          target_type="invitation", target_id=invitation.id, roles=roles,
                          email_sha256=sha256_hex(invitation.email))
        return schemas.Invitation(id=invitation.id, organisation_id=organisation_id, email=invitation.email,
                                  roles=[Role(r) for r in roles], expires_at=invitation.expires_at)

    async def accept_invitation(self, data: schemas.InvitationAccept) -> schemas.TokenPair:
        now = self.clock.now()
        invitation = await self.session.scalar(
            select(Invitation).where(Invitation.token_sha256 == sha256_hex(data.token)).with_for_update())
        if invitation is None or invitation.accepted_at is not None or invitation.expires_at <= now:
            raise NotFound("This invitation is unknown, used or expired.")
        user = await self.session.scalar(select(User).where(User.email == invitation.email))
        if user is None:
            if data.password is None:
                raise RuleViolation("password: choose a password to create your account", field="password")
            user = await self.create_user(invitation.email, data.full_name, data.password)
        elif not (user.is_active and user.password_hash and data.password
                  and hasher.verify(data.password, user.password_hash)):
            # The code alone must not open an existing account: its owner proves it with the password.
            raise InvalidCredentials
        organisation = await self.session.get(Organisation, invitation.organisation_id)
        assert organisation is not None
        await self.add_membership(f"user:{user.id}", user, organisation, [Role(r) for r in invitation.roles])
        invitation.accepted_at = now
        await self._audit("member.joined", f"user:{user.id}", organisation_id=organisation.id,
                          target_type="invitation", target_id=invitation.id)
        return await self._token_pair(user.id)

    async def members(self, principal: Principal, organisation_id: uuid.UUID) -> list[schemas.Member]:
        await self._administered(principal, organisation_id)
        rows = (await self.session.execute(
            select(User, Membership.roles).join(Membership, Membership.user_id == User.id)
            .where(Membership.organisation_id == organisation_id).order_by(User.email))).all()
        return [schemas.Member(user_id=u.id, email=u.email, full_name=u.full_name, roles=[Role(r) for r in roles],
                               is_active=u.is_active) for u, roles in rows]

    async def set_roles(self, principal: Principal, organisation_id: uuid.UUID, user_id: uuid.UUID,
                        data: schemas.MemberUpdate) -> schemas.Member:
        organisation = await self._administered(principal, organisation_id)
        membership = await self.session.scalar(select(Membership).where(
            Membership.organisation_id == organisation_id, Membership.user_id == user_id).with_for_update())
        if membership is None:
            raise NotFound("This user is not a member of the organisation.")
        roles = _check_roles(organisation.kind, data.roles)
        old = list(membership.roles)
        membership.roles = roles
        await self.session.flush()
        await self._audit("member.roles_changed", principal.label, organisation_id=organisation_id,
                          target_type="user", target_id=user_id, old=old, new=roles)
        user = await self.session.get(User, user_id)
        assert user is not None
        return schemas.Member(user_id=user.id, email=user.email, full_name=user.full_name,
                              roles=[Role(r) for r in roles], is_active=user.is_active)

    async def deactivate(self, principal: Principal, organisation_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """Takes effect on the user's next request: every request re-reads the account.

        An organisation's admin removes the person from their organisation; the account itself is closed
        when no membership remains (an admin of one organisation can't lock someone out of another).
        A platform admin closes the account outright.
        """
        await self._administered(principal, organisation_id)
        membership = await self.session.scalar(select(Membership).where(
            Membership.organisation_id == organisation_id, Membership.user_id == user_id).with_for_update())
        user = await self.session.get(User, user_id, with_for_update=True)
        if user is None or membership is None:
            raise NotFound("This user is not a member of the organisation.")
        if user.id == principal.user_id:
            raise RuleViolation("userId: you cannot deactivate your own account", field="userId")
        now = self.clock.now()
        others = await self.session.scalar(select(func.count()).where(
            Membership.user_id == user_id, Membership.organisation_id != organisation_id))
        if others and not principal.is_platform_admin:
            await self.session.delete(membership)
            await self._audit("member.removed", principal.label, organisation_id=organisation_id,
                              target_type="user", target_id=user.id, roles=list(membership.roles))
            return
        if user.is_active:
            user.is_active = False
            user.deactivated_at = now
            await self.session.execute(update(RefreshToken).where(
                RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None)).values(revoked_at=now))
            await self._audit("user.deactivated", principal.label, organisation_id=organisation_id,
                              target_type="user", target_id=user.id)

    # -- API keys ------------------------------------------------------------------------------

    @staticmethod
    def _key_schema(key: ApiKey) -> schemas.ApiKey:
        return schemas.ApiKey(id=key.id, organisation_id=key.organisation_id, name=key.name, prefix=key.prefix,
                              roles=[Role(r) for r in key.roles], created_at=key.created_at,
                              revoked_at=key.revoked_at, last_used_at=key.last_used_at)

    async def create_api_key(self, principal: Principal, organisation_id: uuid.UUID,
                             data: schemas.ApiKeyCreate) -> schemas.ApiKeyCreated:
        organisation = await self._administered(principal, organisation_id)
        roles = _check_roles(organisation.kind, data.roles)
        if Role.PLATFORM_ADMIN.value in roles:
            raise RoleNotAllowed("roles: platform administration is never delegated to an API key", field="roles")
        full, prefix, digest = new_api_key()
        key = ApiKey(organisation_id=organisation_id, created_by_id=principal.user_id, name=data.name.strip(),
                     prefix=prefix, secret_sha256=digest, roles=roles)
        self.session.add(key)
        await self.session.flush()
        await self._audit("api_key.created", principal.label, organisation_id=organisation_id,
                          target_type="api_key", target_id=key.id, prefix=prefix, roles=roles)
        base = self._key_schema(key)
        return schemas.ApiKeyCreated(**{f: getattr(base, f) for f in base.__struct_fields__}, key=full)

    async def list_api_keys(self, principal: Principal, organisation_id: uuid.UUID) -> list[schemas.ApiKey]:
        await self._administered(principal, organisation_id)
        keys = (await self.session.scalars(select(ApiKey).where(ApiKey.organisation_id == organisation_id)
                                           .order_by(ApiKey.created_at))).all()
        return [self._key_schema(k) for k in keys]

    async def revoke_api_key(self, principal: Principal, organisation_id: uuid.UUID, key_id: uuid.UUID) -> None:
        await self._administered(principal, organisation_id)
        key = await self.session.get(ApiKey, key_id, with_for_update=True)
        if key is None or key.organisation_id != organisation_id:
            raise NotFound("No API key has this id.")
        if key.revoked_at is None:
            key.revoked_at = self.clock.now()
            await self._audit("api_key.revoked", principal.label, organisation_id=organisation_id,
                              target_type="api_key", target_id=key.id, prefix=key.prefix)
