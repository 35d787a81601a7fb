"""The back-office's pages: as thin as the API's handlers, over the same services.

Login and logout are `SessionService.login` / `.logout`, as `POST /auth/login` and `/auth/logout`: the same
per-account throttle (LOGIN_MAX_FAILURES), the same audit events, and the same per-address rate limit.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, QueryParameter
from litestar.response import Redirect, Template

from marketplace.accounts.errors import InvalidCredentials, LoginThrottled
from marketplace.awards.abnormally_low import AbnormallyLowService
from marketplace.awards.deps import provide_abnormally_low_service, provide_reasons_service
from marketplace.awards.reasons import ReasonsService
from marketplace.funding.deps import provide_tranche_service
from marketplace.funding.tranches import TrancheService
from marketplace.lib.access import public, requires
from marketplace.lib.clock import Clock
from marketplace.lib.rate_limit import login_rate_limit
from marketplace.opendata.decp import DecpService
from marketplace.opendata.deps import provide_award_notices, provide_decp
from marketplace.opendata.notices import AwardNoticeService
from marketplace.sons.deps import provide_report_service
from marketplace.sons.reports import ReportService
from marketplace.tenders.contracts import SpecificContractService
from marketplace.tenders.deps import provide_contract_service
from marketplace.vendors.admissions import AdmissionService
from marketplace.vendors.deps import provide_admission_service, provide_dps_service
from marketplace.vendors.dps import DpsService
from marketplace.web.auth import open_session, session_token
from marketplace.web.pages import BASE_DEPENDENCIES, Caller, Sessions, Viewer
from marketplace.web.queue import Services, work_queue
from marketplace.web.security import PREFIX

HOME = f"{PREFIX}/"
LOGIN = f"{PREFIX}/connexion"


class LoginForm(msgspec.Struct):
    # The same bounds as the API's LoginRequest; `_csrf_token` is read (and checked) by the CSRF middleware.
    email: Annotated[str, msgspec.Meta(max_length=320)] = ""
    password: Annotated[str, msgspec.Meta(max_length=200)] = ""
    suivant: Annotated[str, msgspec.Meta(max_length=2000)] = ""


def safe_next(target: str | None) -> str:
    """Where to go after the login: a page of the back-office only (never another site: no open redirect)."""
    if target and (target == PREFIX or target.startswith(HOME)) and "\\" not in target:
        return target
    return HOME


class LoginController(Controller):
    path = PREFIX
    dependencies = BASE_DEPENDENCIES
    # Per client address, on top of the per-account throttle of SessionService.login: as AuthController.
    middleware = [login_rate_limit()]

    @get("/connexion", opt=public("The login form."), name="web.login")
    async def form(self, suivant: Annotated[str | None, QueryParameter(name="suivant")] = None,
                   fin: Annotated[str | None, QueryParameter(name="fin")] = None) -> Template:
        return Template("login.html", context={"suivant": safe_next(suivant), "ended": fin})

    @post("/connexion", opt=public("Throttled per account and per address, like POST /auth/login."),
          status_code=303)
    async def login(self, request: Request[Any, Any, Any], sessions: Sessions, clock: NamedDependency[Clock],
                    data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
                    ) -> Redirect | Template:
        try:
            pair = await sessions.login(data.email, data.password)
        except (InvalidCredentials, LoginThrottled) as exc:
            # Re-rendered with the refusal; 401 and 429 commit (app.py), so the throttle counts this failure.
            message = ("Adresse électronique ou mot de passe incorrect." if isinstance(exc, InvalidCredentials)
                       else f"Trop de tentatives : réessayez dans {exc.extra.get('retryAfter', 900)} secondes.")
            return Template("login.html", status_code=exc.status_code, headers=exc.headers or {},
                            context={"suivant": safe_next(data.suivant), "error": message, "email": data.email})
        open_session(request, pair.refresh_token, clock)
        return Redirect(safe_next(data.suivant), status_code=303)

    @post("/deconnexion", opt=requires(reason="Ends the caller's own session."), status_code=303)
    async def logout(self, request: Request[Any, Any, Any], sessions: Sessions, principal: Caller) -> Redirect:
        token = session_token(request)
        if token is not None:
            await sessions.logout(principal, token)  # revokes the family: the session is dead everywhere
        request.clear_session()
        return Redirect(f"{LOGIN}?fin=deconnexion", status_code=303)


class WorkQueueController(Controller):
    path = PREFIX
    dependencies = {**BASE_DEPENDENCIES,
                    "dps_service": Provide(provide_dps_service, sync_to_thread=False),
                    "admissions": Provide(provide_admission_service, sync_to_thread=False),
                    "contracts": Provide(provide_contract_service, sync_to_thread=False),
                    "procedures": Provide(provide_abnormally_low_service, sync_to_thread=False),
                    "reasons": Provide(provide_reasons_service, sync_to_thread=False),
                    "tranches": Provide(provide_tranche_service, sync_to_thread=False),
                    "sons_reports": Provide(provide_report_service, sync_to_thread=False),
                    "decp": Provide(provide_decp, sync_to_thread=False),
                    "award_notices": Provide(provide_award_notices, sync_to_thread=False)}

    @get("/", opt=requires(reason="Any signed-in user; each list shows only what the caller's roles and "
                                  "organisations reach (the services scope it)."), name="web.queue")
    async def queue(self, principal: Caller, viewer: Viewer,
                    dps_service: NamedDependency[DpsService], admissions: NamedDependency[AdmissionService],
                    contracts: NamedDependency[SpecificContractService],
                    procedures: NamedDependency[AbnormallyLowService], reasons: NamedDependency[ReasonsService],
                    tranches: NamedDependency[TrancheService],
                    sons_reports: NamedDependency[ReportService], decp: NamedDependency[DecpService],
                    award_notices: NamedDependency[AwardNoticeService]) -> Template:
        queue = await work_queue(principal, Services(dps_service, admissions, contracts, procedures, reasons,
                                                     tranches, sons_reports, decp, award_notices))
        return Template("queue.html", context={"viewer": viewer, "queue": queue, "title": "File de travail"})
