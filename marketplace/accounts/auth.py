"""Authentication: short-lived JWT access tokens with rotating refresh tokens, and API keys.

Both arrive as `Authorization: Bearer …`. Every request re-reads the user (or key) from the database, so
a deactivated user or a revoked key is refused on the very next request, whatever its token says. On a route
declared `requires(..., caller_in_statement=True)` that read is the handler's, in the same statement as what it
answers (principal.py `Claim`); here only the token's signature is checked.

An access token issued at login or refresh names its refresh-token family (`fam`): it is honoured only
while that family still holds an unspent refresh token. Logging out, deactivation and the replay of a spent
refresh token (RFC 6819 §5.2.2.3, SessionService.refresh) revoke the family, and with it every access
token issued from it, at once rather than when they expire.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from advanced_alchemy.types.password_hash.argon2 import Argon2Hasher
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.security.jwt import Token
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from marketplace.accounts.errors import CredentialRefused
from marketplace.accounts.principal import Claim, Principal
from marketplace.accounts.roles import Role
from marketplace.lib.access import ACCESS_KEY, Access
from marketplace.lib.database import StatementPool

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
# revoked family applies on the very next request, as before. The two reads go to the driver itself
# (lib/database.py `StatementPool`, `$1`-style parameters): on every signed-in request, SQLAlchemy's execution
# cost more than the statement.
CALLER = """
SELECT u.id, u.email,
       ARRAY(SELECT m.organisation_id FROM membership m WHERE m.user_id = u.id ORDER BY m.organisation_id) AS orgs,
       ARRAY(SELECT array_to_string(m.roles, ',') FROM membership m WHERE m.user_id = u.id
             ORDER BY m.organisation_id) AS roles
  FROM user_account u
 WHERE u.id = $1 AND u.is_active
   AND ($2::uuid IS NULL OR EXISTS (
        SELECT 1 FROM refresh_token r
         WHERE r.family_id = $2::uuid AND r.user_id = u.id AND r.revoked_at IS NULL))"""
_SESSION_PRINCIPAL = """
SELECT u.id, u.email,
       ARRAY(SELECT m.organisation_id FROM membership m WHERE m.user_id = u.id ORDER BY m.organisation_id) AS orgs,
       ARRAY(SELECT array_to_string(m.roles, ',') FROM membership m WHERE m.user_id = u.id
             ORDER BY m.organisation_id) AS roles
  FROM refresh_token r JOIN user_account u ON u.id = r.user_id
 WHERE r.token_sha256 = $1 AND r.revoked_at IS NULL AND r.expires_at > $2 AND u.is_active"""
# The key's last use is stamped by the statement that reads it; a revoked key, or a known prefix with a wrong
# secret, matches nothing (the SHA-256 of a 256-bit secret: comparing it in SQL leaks nothing usable).
_KEY_PRINCIPAL = text("""
UPDATE api_key SET last_used_at = :now
 WHERE prefix = :prefix AND secret_sha256 = :sha AND revoked_at IS NULL
RETURNING id, created_by_id, organisation_id, roles""")


def principal_of(row: Sequence[Any]) -> Principal:
    """The principal from the four columns of `CALLER` (or of the session read), in their order."""
    user_id, email, orgs, roles = row[:4]
    return Principal(user_id=user_id, api_key_id=None, email=email, roles_by_organisation={
        org: frozenset(Role(r) for r in held.split(",") if r) for org, held in zip(orgs, roles, strict=True)})


def _principal(row: Any) -> Principal | None:
    return None if row is None else principal_of(row)


def invalid_credential() -> CredentialRefused:
    # One message for every case: expired, forged, revoked, deactivated, unknown.
    return CredentialRefused("The credential is invalid, expired or revoked.")


class VerifiedTokens:
    """Access tokens whose signature was verified, with what they name, kept per process (least recently used
    out first). Verifying an HS256 signature and decoding the claims costs more than the rest of
    authentication, and a client sends the same token for 15 minutes. The claims are a function of the token
    and the secret alone, so no two processes can disagree on them; expiry is checked on every use, on the wall
    clock as the JWT library checks it (valid while now < exp); and what the token may do is still read from
    the database on every request, so revocation and deactivation apply on the next one. Only tokens that
    passed are kept (not `functools.lru_cache`, which would also keep a refusal, and no refusal is remembered:
    a token refused for a moment's clock skew between machines passes on its next use)."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._claims: OrderedDict[tuple[str, str], tuple[uuid.UUID, uuid.UUID | None, float]] = OrderedDict()

    def get(self, token: str, secret: str) -> tuple[uuid.UUID, uuid.UUID | None] | None:
        """(user, refresh-token family) of a valid, unexpired token; None for any other."""
        key = (token, secret)
        kept = self._claims.get(key)
        if kept is None:
            try:
                decoded = Token.decode(token, secret, ALGORITHM)
                family = decoded.extras.get("fam")
                kept = (uuid.UUID(decoded.sub), uuid.UUID(family) if family is not None else None,
                        decoded.exp.timestamp())
            except (NotAuthorizedException, ValueError, TypeError, AttributeError):
                return None
            self._claims[key] = kept
            if len(self._claims) > self._size:
                self._claims.popitem(last=False)
        else:
            self._claims.move_to_end(key)
        user_id, family_id, expires = kept
        # The JWT library's own test (pyjwt: expired when exp <= now), on the clock it reads.
        if time.time() >= expires:  # nosemgrep: wall-clock-outside-clock  # the JWT library's clock
            del self._claims[key]
            return None
        return user_id, family_id


_verified = VerifiedTokens()

async def resolve_principal(engine: AsyncEngine, statements: StatementPool, token: str, secret: str,
                            now: datetime) -> Principal | None:
    """`engine`: the principal engine (AUTOCOMMIT, app.py), for an API key (whose read stamps its use);
    `statements` for a token. Each call is one statement and one round trip."""
    if token.startswith(API_KEY_PREFIX):
        async with engine.connect() as connection:
            key = (await connection.execute(_KEY_PRINCIPAL, {
                "prefix": token.split(".", 1)[0], "sha": sha256_hex(token), "now": now})).first()
        if key is None:
            return None
        return Principal(user_id=key.created_by_id, api_key_id=key.id, email=None,
                         roles_by_organisation={key.organisation_id: frozenset(Role(r) for r in key.roles)})
    claims = _verified.get(token, secret)
    if claims is None:
        return None
    user_id, family_id = claims
    # A session lives while one of its refresh tokens is unspent: rotation spends one and adds the next in the
    # same transaction, so a family is dead only once logged out, deactivated or revoked for reuse. (The refresh
    # token's own expiry is not asked: the access token's 15 minutes, on the wall clock, end sooner.) Tokens
    # signed without a family (tests, tools) are checked against the account alone.
    return _principal(await statements.fetchrow(CALLER, user_id, family_id))


async def resolve_session_principal(statements: StatementPool, refresh_token: str,
                                    now: datetime) -> Principal | None:
    """Who holds a back-office session (marketplace/web): the session, kept server-side, holds the refresh token
    its login opened (`SessionService.login`, never sent to the browser). The session lives while that token is
    unspent and unexpired, so a logout, a deactivation or a revoked family ends it on the next request, as they
    end the API's access tokens."""
    return _principal(await statements.fetchrow(_SESSION_PRINCIPAL, sha256_hex(refresh_token), now))


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
        token = token.strip()
        access = connection.route_handler.opt.get(ACCESS_KEY)
        if isinstance(access, Access) and access.caller_in_statement and not token.startswith(API_KEY_PREFIX):
            # The handler reads the caller with its answer (principal.py `Claim`): only the signature here.
            claims = _verified.get(token, state.settings.secret_key)
            if claims is None:
                raise invalid_credential()
            return AuthenticationResult(user=Claim(*claims), auth=token)
        principal = await resolve_principal(state.principal_engine, state.statements, token,
                                            state.settings.secret_key, state.clock.now())
        if principal is None:
            raise invalid_credential()
        return AuthenticationResult(user=principal, auth=token)
