"""People: accounts, their memberships and roles in organisations, invitations, deactivation. Audited (P8)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select, update

from marketplace.accounts import schemas
from marketplace.accounts.access import administered_organisation
from marketplace.accounts.auth import hasher, new_secret, sha256_hex
from marketplace.accounts.base import ServiceBase, check_roles
from marketplace.accounts.errors import AlreadyExists, InvalidCredentials
from marketplace.accounts.models import Invitation, Membership, Organisation, RefreshToken, User
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import Role
from marketplace.accounts.sessions import SessionService
from marketplace.errors import NotFound, RuleViolation
from marketplace.notifications.mail import deliverable_address
from marketplace.notifications.notify import NotificationService

INVITATION_TTL = timedelta(days=7)


class MembershipService(ServiceBase):
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
        values = check_roles(organisation.kind, roles)
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
        organisation = await administered_organisation(self.session, principal, organisation_id)
        roles = check_roles(organisation.kind, data.roles)
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
        return await SessionService(self.session, self.clock, self.settings).token_pair(user.id)

    async def members(self, principal: Principal, organisation_id: uuid.UUID) -> list[schemas.Member]:
        await administered_organisation(self.session, principal, organisation_id)
        rows = (await self.session.execute(
            select(User, Membership.roles).join(Membership, Membership.user_id == User.id)
            .where(Membership.organisation_id == organisation_id).order_by(User.email))).all()
        return [schemas.Member(user_id=u.id, email=u.email, full_name=u.full_name, roles=[Role(r) for r in roles],
                               is_active=u.is_active) for u, roles in rows]

    async def pending_invitations(self, principal: Principal,
                                  organisation_id: uuid.UUID) -> list[schemas.Invitation]:
        """Invitations sent and neither accepted nor expired, oldest first: what the organisation's admin
        still waits for (the code itself is only ever in the invitee's mail)."""
        await administered_organisation(self.session, principal, organisation_id)
        invitations = (await self.session.scalars(select(Invitation).where(
            Invitation.organisation_id == organisation_id, Invitation.accepted_at.is_(None),
            Invitation.expires_at > self.clock.now()).order_by(Invitation.created_at))).all()
        return [schemas.Invitation(id=i.id, organisation_id=i.organisation_id, email=i.email,
                                   roles=[Role(r) for r in i.roles], expires_at=i.expires_at) for i in invitations]

    async def set_roles(self, principal: Principal, organisation_id: uuid.UUID, user_id: uuid.UUID,
                        data: schemas.MemberUpdate) -> schemas.Member:
        organisation = await administered_organisation(self.session, principal, organisation_id)
        membership = await self.session.scalar(select(Membership).where(
            Membership.organisation_id == organisation_id, Membership.user_id == user_id).with_for_update())
        if membership is None:
            raise NotFound("This user is not a member of the organisation.")
        roles = check_roles(organisation.kind, data.roles)
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
        await administered_organisation(self.session, principal, organisation_id)
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
