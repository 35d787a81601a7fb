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
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

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


# Who is calling, in one statement and one round trip per request (no transaction: the statements only read,
# or set a key's last use): the account, active, and its memberships as two parallel arrays (an array of
# arrays must be rectangular in PostgreSQL, role lists are not). Deactivation, a membership's change or a
# revoked family applies on the very next request, as before.
_USER_PRINCIPAL = text("""
SELECT u.id, u.email,
       ARRAY(SELECT m.organisation_id FROM membership m WHERE m.user_id = u.id ORDER BY m.organisation_id) AS orgs,
       ARRAY(SELECT array_to_string(m.roles, ',') FROM membership m WHERE m.user_id = u.id
             ORDER BY m.organisation_id) AS roles
  FROM user_account u
 WHERE u.id = :user AND u.is_active
   AND (CAST(:family AS uuid) IS NULL OR EXISTS (
        SELECT 1 FROM refresh_token r
         WHERE r.family_id = CAST(:family AS uuid) AND r.user_id = u.id AND r.revoked_at IS NULL))""")
_SESSION_PRINCIPAL = text("""
SELECT u.id, u.email,
       ARRAY(SELECT m.organisation_id FROM membership m WHERE m.user_id = u.id ORDER BY m.organisation_id) AS orgs,
       ARRAY(SELECT array_to_string(m.roles, ',') FROM membership m WHERE m.user_id = u.id
             ORDER BY m.organisation_id) AS roles
  FROM refresh_token r JOIN user_account u ON u.id = r.user_id
 WHERE r.token_sha256 = :sha AND r.revoked_at IS NULL AND r.expires_at > :now AND u.is_active""")
# The key's last use is stamped by the statement that reads it; a revoked key, or a known prefix with a wrong
# secret, matches nothing (the SHA-256 of a 256-bit secret: comparing it in SQL leaks nothing usable).
_KEY_PRINCIPAL = text("""
UPDATE api_key SET last_used_at = :now
 WHERE prefix = :prefix AND secret_sha256 = :sha AND revoked_at IS NULL
RETURNING id, created_by_id, organisation_id, roles""")


def _principal(row: Any) -> Principal | None:
    if row is None:
        return None
    return Principal(user_id=row.id, api_key_id=None, email=row.email, roles_by_organisation={
        org: frozenset(Role(r) for r in roles.split(",") if r) for org, roles in zip(row.orgs, row.roles,
                                                                                      strict=True)})


async def resolve_principal(engine: AsyncEngine, token: str, secret: str, now: datetime) -> Principal | None:
    """`engine`: the principal engine (AUTOCOMMIT, app.py), so each call is one statement and one round trip."""
    if token.startswith(API_KEY_PREFIX):
        async with engine.connect() as connection:
            key = (await connection.execute(_KEY_PRINCIPAL, {
                "prefix": token.split(".", 1)[0], "sha": sha256_hex(token), "now": now})).first()
        if key is None:
            return None
        return Principal(user_id=key.created_by_id, api_key_id=key.id, email=None,
                         roles_by_organisation={key.organisation_id: frozenset(Role(r) for r in key.roles)})
    try:
        decoded = Token.decode(token, secret, ALGORITHM)
        user_id = uuid.UUID(decoded.sub)
        family = decoded.extras.get("fam")
        family_id = uuid.UUID(family) if family is not None else None
    except (NotAuthorizedException, ValueError, TypeError, AttributeError):
        return None
    # A session lives while one of its refresh tokens is unspent: rotation spends one and adds the next in the
    # same transaction, so a family is dead only once logged out, deactivated or revoked for reuse. (The refresh
    # token's own expiry is not asked: the access token's 15 minutes, on the wall clock, end sooner.) Tokens
    # signed without a family (tests, tools) are checked against the account alone.
    async with engine.connect() as connection:
        return _principal((await connection.execute(_USER_PRINCIPAL, {"user": user_id, "family": family_id})).first())


async def resolve_session_principal(engine: AsyncEngine, refresh_token: str, now: datetime) -> Principal | None:
    """Who holds a back-office session (marketplace/web): the session, kept server-side, holds the refresh token
    its login opened (`SessionService.login`, never sent to the browser). The session lives while that token is
    unspent and unexpired, so a logout, a deactivation or a revoked family ends it on the next request, as they
    end the API's access tokens."""
    async with engine.connect() as connection:
        return _principal((await connection.execute(
            _SESSION_PRINCIPAL, {"sha": sha256_hex(refresh_token), "now": now})).first())


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
        principal = await resolve_principal(state.principal_engine, token.strip(), state.settings.secret_key,
                                            state.clock.now())
        if principal is None:
            # One message for every case: expired, forged, revoked, deactivated, unknown.
            raise NotAuthorizedException("The credential is invalid, expired or revoked.",
                                         headers={"WWW-Authenticate": "Bearer"})
        return AuthenticationResult(user=principal, auth=token)
