"""Sessions: login (throttled per account), the rotation of refresh tokens, logout, and who is calling.

The tokens themselves are issued and checked in auth.py; here are the use cases. Audited (P8).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update

from marketplace.accounts import schemas
from marketplace.accounts.auth import REFRESH_TOKEN_TTL, hasher, issue_access_token, new_secret, sha256_hex
from marketplace.accounts.base import ServiceBase
from marketplace.accounts.errors import InvalidCredentials, LoginThrottled
from marketplace.accounts.models import LoginThrottle, Organisation, RefreshToken, User
from marketplace.accounts.principal import ANONYMOUS_ACTOR, Principal

# Verified against when the e-mail is unknown, so both paths cost one argon2 verification.
_DUMMY_HASH = hasher.hash("not-a-real-password")

LOGIN_MAX_FAILURES = 10
LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_LOCK = timedelta(minutes=15)


class SessionService(ServiceBase):
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
        return await self.token_pair(user.id)

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

    async def token_pair(self, user_id: uuid.UUID, family_id: uuid.UUID | None = None) -> schemas.TokenPair:
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
        return await self.token_pair(user.id, stored.family_id)

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
