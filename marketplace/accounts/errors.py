from __future__ import annotations

from typing import ClassVar

from marketplace.errors import Conflict, DomainError, RuleViolation


class InvalidCredentials(DomainError):
    """One answer for unknown e-mail, wrong password and deactivated account: nothing leaks."""

    status_code: ClassVar[int] = 401
    title: ClassVar[str] = "Invalid credentials"
    slug: ClassVar[str] = "invalid-credentials"

    def __init__(self) -> None:
        super().__init__("Invalid e-mail or password.")


class CredentialRefused(DomainError):
    """401: no credential where the route needs one, or one that is invalid, expired or revoked."""

    status_code: ClassVar[int] = 401
    title: ClassVar[str] = "Unauthorized"
    slug: ClassVar[str] = "unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class LoginThrottled(DomainError):
    status_code: ClassVar[int] = 429
    title: ClassVar[str] = "Too many attempts"
    slug: ClassVar[str] = "login-throttled"


class InvalidIdentifierError(RuleViolation):
    slug: ClassVar[str] = "invalid-identifier"


class RoleNotAllowed(RuleViolation):
    slug: ClassVar[str] = "role-not-allowed"


class AlreadyExists(Conflict):
    slug: ClassVar[str] = "already-exists"
