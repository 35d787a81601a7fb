"""Refusals as pages: the API answers problem+json, the back-office answers HTML in French.

An anonymous (or expired) visitor is sent to the login form, with the page it asked for to come back to; an
htmx request gets `HX-Redirect` instead, so the whole page changes rather than a fragment. Any other refusal
(403 from a role guard or a failed CSRF check, 404 from an object check, a domain rule) is the error page with
the same status code.

A domain refusal is written in English by its service: the page says first, in French, the rule it broke (its
statement, web/rule_labels.py) and the field at fault, then keeps the service's detail as a secondary line.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.response import Redirect, Template

from marketplace.accounts.errors import CredentialRefused
from marketplace.accounts.principal import Principal
from marketplace.errors import DomainError
from marketplace.web.pages import viewer_of
from marketplace.web.rule_labels import field_label, language_of, rule_label
from marketplace.web.security import PREFIX

_TITLES = {400: "Requête invalide", 403: "Accès refusé", 404: "Page introuvable", 405: "Méthode non permise",
           409: "Conflit", 410: "Plus disponible", 413: "Envoi trop volumineux", 422: "Données refusées",
           429: "Trop de requêtes"}
_CSRF_FAILED = "CSRF token verification failed"


def to_login(request: Request[Any, Any, Any], exc: NotAuthorizedException | CredentialRefused) -> Response[Any]:
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    query = {"suivant": back} if request.method == "GET" else {}
    if request.scope.get("session") is not None and request.cookies.get("marketplace_session"):
        query["fin"] = "expiree"  # a session cookie came but named no live session
    target = f"{PREFIX}/connexion" + (f"?{urlencode(query)}" if query else "")
    if request.headers.get("hx-request") == "true":
        return Response(content=b"", status_code=401, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303)


def error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    rule = field = reason = None
    if isinstance(exc, DomainError):
        status, detail = exc.status_code, exc.detail
        rule, field, reason = exc.extra.get("rule"), exc.extra.get("field"), exc.extra.get("reason")
    elif isinstance(exc, HTTPException):
        status, detail = exc.status_code, str(exc.detail)
    else:  # pragma: no cover - only the types registered below reach here
        raise exc
    if detail == _CSRF_FAILED:
        detail = ("Le formulaire a expiré ou ne vient pas de ce site (jeton CSRF absent ou invalide). "
                  "Rechargez la page et recommencez.")
    elif status == 404 and not rule:
        detail = "Cette page n'existe pas, ou vous n'y avez pas accès."
    elif status == 403 and not rule and not reason:
        detail = "Vos rôles ne permettent pas cette action."
    return Template("error.html", status_code=status, headers=getattr(exc, "headers", None) or {},
                    context={"status": status, "title": _TITLES.get(status, "Erreur"), "detail": detail,
                             "detail_lang": language_of(detail), "rule": rule, "rule_label": rule_label(rule),
                             "field": field, "field_label": field_label(field), "reason": reason,
                             "back": _back(request), **_signed_in(request)})


def _signed_in(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """A signed-in person keeps their header and navigation on the error page (base.html's `viewer`)."""
    principal = request.scope.get("user")
    return {"viewer": viewer_of(principal)} if isinstance(principal, Principal) and principal.email else {}


def _back(request: Request[Any, Any, Any]) -> str:
    """The back-office page the refused form was on (its Referer, same site only), else the work queue."""
    referer = request.headers.get("referer", "")
    origin = f"{request.url.scheme}://{request.url.netloc}"
    if referer.startswith(f"{origin}{PREFIX}/") and "\\" not in referer:
        return referer[len(origin):]
    return f"{PREFIX}/"


exception_handlers: dict[type[Exception] | int, Any] = {
    NotAuthorizedException: to_login,
    CredentialRefused: to_login,  # the guard's 401 (accounts/guards.py check_access), a DomainError
    HTTPException: error_page,
    ValidationException: error_page,  # the app's map names it: named here too, or the API's JSON answer wins
    DomainError: error_page,
}
