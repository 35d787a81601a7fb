"""Authentication: short-lived JWT access tokens with rotating refresh tokens, and API keys.

Both arrive as `Authorization: Bearer …`. Every request re-reads the user (or key) from the database, so
a deactivated user or a revoked key is refused on the very next request, whatever its token says.

An access token issued at login or refresh names its refresh-token family (`fam`): it is honoured only
while that family still holds an unspent refresh token. Logging out, deactivation and the replay of a spent
refresh token (RFC 6819 §5.2.2.3, SessionService.refresh) revoke the family, and with it every access
token issued from it, at once rather than when they expire.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from advanced_alchemy.types.password_hash.argon2 import Argon2Hasher
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.security.jwt import Token
from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.accounts.models import ApiKey, Membership, RefreshToken, User
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import Role

ALGORITHM = "HS256"
ACCESS_TOKEN_TTL = timedelta(minutes=15)
REFRESH_TOKEN_TTL = timedelta(days=30)
API_KEY_PREFIX = "mpk_"

hasher = Argon2Hasher()


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def issue_access_token(user_id: uuid.UUID, secret: str, family_id: uuid.UUID | None = None) -> tuple[str, int]:
    # JWT validity is checked by the JWT library against the wall clock, so it is stamped from it too.
    now = datetime.now(UTC)  # nosemgrep: wall-clock-outside-clock  # see above: the JWT library's clock
    token = Token(sub=str(user_id), exp=now + ACCESS_TOKEN_TTL, iat=now, jti=uuid.uuid4().hex,
                  extras={"fam": str(family_id)} if family_id else {})
    return token.encode(secret, ALGORITHM), int(ACCESS_TOKEN_TTL.total_seconds())


def new_api_key() -> tuple[str, str, str]:
    """(full key shown once, its public prefix, the SHA-256 kept in the database)."""
    prefix = API_KEY_PREFIX + secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    full = f"{prefix}.{secret}"
    return full, prefix, sha256_hex(full)


async def _user_principal(session: AsyncSession, user_id: uuid.UUID) -> Principal | None:
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    rows = (await session.execute(
        select(Membership.organisation_id, Membership.roles).where(Membership.user_id == user_id)
    )).all()
    return Principal(user_id=user.id, api_key_id=None, email=user.email,
                     roles_by_organisation={org: frozenset(Role(r) for r in roles) for org, roles in rows})


async def _api_key_principal(session: AsyncSession, key: str, now: datetime) -> Principal | None:
    prefix = key.split(".", 1)[0]
    api_key = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if api_key is None or api_key.revoked_at is not None:
        return None
    if not secrets.compare_digest(api_key.secret_sha256, sha256_hex(key)):
        return None
    await session.execute(update(ApiKey).where(ApiKey.id == api_key.id).values(last_used_at=now))
    return Principal(user_id=api_key.created_by_id, api_key_id=api_key.id, email=None,
                     roles_by_organisation={api_key.organisation_id: frozenset(Role(r) for r in api_key.roles)})


async def resolve_principal(session_maker: async_sessionmaker[AsyncSession], token: str, secret: str,
                            now: datetime) -> Principal | None:
    async with session_maker() as session, session.begin():
        if token.startswith(API_KEY_PREFIX):
            return await _api_key_principal(session, token, now)
        try:
            decoded = Token.decode(token, secret, ALGORITHM)
            user_id = uuid.UUID(decoded.sub)
            family = decoded.extras.get("fam")
            family_id = uuid.UUID(family) if family is not None else None
        except (NotAuthorizedException, ValueError, TypeError, AttributeError):
            return None
        if family_id is not None and not await _family_alive(session, family_id, user_id):
            return None
        return await _user_principal(session, user_id)


async def resolve_session_principal(session_maker: async_sessionmaker[AsyncSession], refresh_token: str,
                                    now: datetime) -> Principal | None:
    """Who holds a back-office session (marketplace/web): the session, kept server-side, holds the refresh token
    its login opened (`SessionService.login`, never sent to the browser). The session lives while that token is
    unspent and unexpired, so a logout, a deactivation or a revoked family ends it on the next request, as they
    end the API's access tokens."""
    async with session_maker() as session, session.begin():
        user_id = await session.scalar(select(RefreshToken.user_id).where(
            RefreshToken.token_sha256 == sha256_hex(refresh_token), RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > now))
        return await _user_principal(session, user_id) if user_id is not None else None


async def _family_alive(session: AsyncSession, family_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """A session lives while one of its refresh tokens is unspent: rotation spends one and adds the next
    in the same transaction, so a family is dead only once logged out, deactivated or revoked for reuse.
    (The refresh token's own expiry is not asked: the access token's 15 minutes, on the wall clock, end
    sooner.) Tokens signed without a family (tests, tools) are checked against the account alone."""
    return bool(await session.scalar(select(exists().where(
        RefreshToken.family_id == family_id, RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)))))


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    """Anonymous requests pass through with no user (guards decide); a bad credential is a 401."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        header = connection.headers.get("authorization")
        if not header:
            return AuthenticationResult(user=None, auth=None)
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException("Use `Authorization: Bearer <token or API key>`.")
        state = connection.app.state
        principal = await resolve_principal(state.auth_session_maker, token.strip(), state.settings.secret_key,
                                            state.clock.now())
        if principal is None:
            # One message for every case: expired, forged, revoked, deactivated, unknown.
            raise NotAuthorizedException("The credential is invalid, expired or revoked.",
                                         headers={"WWW-Authenticate": "Bearer"})
        return AuthenticationResult(user=principal, auth=token)
