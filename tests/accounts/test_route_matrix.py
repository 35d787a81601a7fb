"""Role × route matrix: every route, called by every kind of principal, answers the expected status.

The routes come from the app itself (its OpenAPI document and its route declarations), the expected
answers from EXPECTATIONS below, which is checked in and reviewed like code. A route the table doesn't
cover fails `test_every_route_has_expectations` ("add an expectation for METHOD /path"), so a new
feature can't ship a route nobody has thought about.

Principals (people of `tests.world`):

- `anonymous`: no Authorization header.
- `holder_member`: a plain member (`holder:member`) of the target organisation.
- `vendor_member`: a plain member of a vendor, an outsider with no admin role anywhere.
- `buyer`: `buyer_admin`, an outsider that *does* hold an admin role (in the buyer), so it passes the
  role guard of admin routes and only the object check can stop it.
- `platform_admin`: sees and manages everything.
- `holder_admin` (routes with `{organisation_id}`, and `/needs…`, `/specific-contracts…`): the target
  organisation's own administrator (on a specific contract: its holder's, HC3).
- `other_org` (routes with `{organisation_id}`, and `/needs…`, `/specific-contracts…`): `other_holder_admin`, the
  administrator of another OG. Same kind and same roles as `holder_admin`, so every role guard lets it through and
  the answer says whether the object check hides the target organisation (404, never 403). The vendor-side
  outsiders are covered by `vendor_member` (stopped by roles) and `buyer` (stopped by the object check).

DPS routes (`/dps…`, `/register`, `/admission-requests…`) target objects of the `buyer` organisation and
of the `vendor`, so there `buyer` (`buyer_admin`) is the owner of the DPS, not an outsider, and four more
principals say who else gets through:

- `buyer_evaluator`: the evaluator of the DPS's buying organisation (may evaluate, not manage the DPS).
- `other_buyer`: `other_buyer_admin`, the administrator of another buying organisation. It passes every
  buyer role guard, so only the object check can stop it (404).
- `vendor_admin`: the applying vendor's admin and bid manager.
- `other_vendor`: `other_vendor_admin`, another vendor's admin: passes the vendor role guards, stopped by
  the object check (404) on the target request.

Target objects all belong to the `holder` organisation: `organisation_id` is the holder, `key_id` an API
key of the holder and `user_id` a spare member of the holder, both created through the API as the
holder's admin before the first call; `request_id` is a support request sent anonymously; `need_id` is a
draft expression of need of the holder (its admin's submit is the last call that changes it: edits after
it answer 409, still ALLOW). On the DPS
routes, `dps_id` is a DPS of the `buyer` with six categories, created and published (so public, in its
initial window) by `buyer_admin`, and `request_id` is the `vendor`'s admission request to one of its
categories, in draft with both required documents uploaded; `kind` is one of those documents.

Funding routes (`/funding-calls…`, and a need's `/filing` and `/funding…`) target a call of the `funder` (the ARS
Île-de-France) and a need of the `holder` filed to it and selected (written directly, with its decision, its three
tranches and a draft evidence of the first); three more principals say who gets through:

- `funder_admin`: the call's funder's administrator.
- `funder_instructor`: its instructor (decides and pays, does not run calls).
- `other_funder`: `other_funder_admin`, the administrator of another funder (ARS Bretagne): it passes every funder
  role guard, so only the object check can stop it (404, FU6).

SONS routes (`/sons…`) target the operator's dispositif, the `vendor`'s solution and its draft order for the `holder`
(its site in Paris) with an advance request; seven more principals say who gets through: `holder_admin` (the order's
OG's admin), `other_org` (another OG's admin), `vendor_admin` (the order's vendor's admin) and `other_vendor`
(another vendor's admin, stopped by the object check: 404), and the funders: `funder_admin` and `funder_instructor`
of the ARS Île-de-France read the order (its region), `other_funder` (ARS Bretagne) gets 404.

Outcomes: `401`, `403`, `404`, or ALLOW = any other status below 500 (200, 201, 204, but also 400, 409,
422: the guard and the object check let the call through; validation isn't under test here). A 405 or
any 5xx never matches.

State between calls: principals call in the order of CALL_ORDER, the ones allowed to change something
last; every state-changing call is idempotent for the status it answers (revoking a revoked key and
deactivating a deactivated member answer 204 again; re-adding the same facility answers 409, still
ALLOW; setting the roles a member already has changes nothing), and the destructive ones target
objects made for the matrix (the spare member, the matrix's API key), never a principal of the matrix.
Credentials sent in bodies are real, so public routes answer 200 to everyone: `/auth/login` uses the
holder member's password, `/auth/refresh` a refresh token chained from one call to the next, and
`/invitations/accept` a fresh invitation (sent as the holder's admin) for every call.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from litestar import Litestar, get
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from marketplace.app import asyncpg_dsn, create_app
from marketplace.lib.access import FRAMEWORK_PREFIXES, public, route_inventory
from marketplace.opendata.ocds import OcdsService
from marketplace.settings import Settings
from tests.vendors.api import VALID_UNTIL, admission_body, dps_body, initial_window_end, minimal_pdf
from tests.web.pages import Browser, csrf_token
from tests.web.pages import login as web_login
from tests.world import PASSWORD, PEOPLE, World, email_of

ALLOW = "ALLOW"
Outcome = str  # ALLOW, "401", "403" or "404"

CORE_PRINCIPALS = ("anonymous", "holder_member", "vendor_member", "buyer", "platform_admin")
OBJECT_PRINCIPALS = ("holder_admin", "other_org")
DPS_PRINCIPALS = ("buyer_evaluator", "other_buyer", "vendor_admin", "other_vendor")
DPS_PREFIXES = ("/dps", "/register", "/admission-requests")
NEED_PREFIXES = ("/needs", "/app/besoins",  # the needs review pages: the holder's admins pass their guard (HC2)
                 "/app/mes-besoins")  # the holders' self-service: another holder's need is a 404
# A specific contract is its holder's own too (HC3): the holder reads it, another holder doesn't learn it exists.
CONTRACT_PREFIXES = ("/specific-contracts",)
FUNDING_PRINCIPALS = ("funder_admin", "funder_instructor", "other_funder")
# The funder's back-office screens are funding routes too: the same principals say who gets through.
FUNDING_PREFIXES = ("/funding-calls", "/app/financements")
# A need's own funding routes: its holder and its call's funder (the matrix's funded need, not its draft).
# The holder's grant pages (web/holder_contracts.py) are a need's funding routes too.
FUNDING_OF_NEED = re.compile(r"^/(needs/\{need_id\}/(filing|funding)|app/mes-besoins/\{need_id\}/financement)")
# SONS routes (domain.md §5, §12): an order of the `vendor` for the `holder`, so both sides' admins and the other
# holder's and vendor's admins (stopped by the object check) say who gets through.
SONS_PRINCIPALS = ("holder_admin", "other_org", "vendor_admin", "other_vendor")
SONS_PREFIXES = ("/sons", "/app/sons", "/app/solutions")
# Who calls first: refused ones before the ones allowed to change state.
CALL_ORDER = ("anonymous", "holder_member", "vendor_member", "other_vendor", "other_buyer", "other_funder", "buyer",
              "other_org", "holder_admin", "buyer_evaluator", "vendor_admin", "funder_instructor", "funder_admin",
              "platform_admin")
# Principal → person of tests.world (None: anonymous).
PERSON: dict[str, str | None] = {
    "anonymous": None, "holder_member": "holder_member", "vendor_member": "vendor_member",
    "buyer": "buyer_admin", "platform_admin": "platform_admin", "holder_admin": "holder_admin",
    "other_org": "other_holder_admin", "buyer_evaluator": "buyer_evaluator", "other_buyer": "other_buyer_admin",
    "vendor_admin": "vendor_admin", "other_vendor": "other_vendor_admin",
    "funder_admin": "funder_admin", "funder_instructor": "funder_instructor", "other_funder": "other_funder_admin",
}
A, U, F, N = ALLOW, "401", "403", "404"  # short names, so the table below reads as a grid


def row(anonymous: Outcome, holder_member: Outcome, vendor_member: Outcome, buyer: Outcome,
        platform_admin: Outcome, holder_admin: Outcome | None = None,
        other_org: Outcome | None = None) -> dict[str, Outcome]:
    cells = {"anonymous": anonymous, "holder_member": holder_member, "vendor_member": vendor_member,
             "buyer": buyer, "platform_admin": platform_admin, "holder_admin": holder_admin,
             "other_org": other_org}
    return {principal: outcome for principal, outcome in cells.items() if outcome is not None}


def funding_row(anonymous: Outcome, holder_member: Outcome, vendor_member: Outcome, buyer: Outcome,
                platform_admin: Outcome, funder_admin: Outcome, funder_instructor: Outcome, other_funder: Outcome,
                holder_admin: Outcome | None = None, other_org: Outcome | None = None) -> dict[str, Outcome]:
    return {**row(anonymous, holder_member, vendor_member, buyer, platform_admin, holder_admin, other_org),
            "funder_admin": funder_admin, "funder_instructor": funder_instructor, "other_funder": other_funder}


def sons_row(anonymous: Outcome, holder_member: Outcome, vendor_member: Outcome, buyer: Outcome,
             platform_admin: Outcome, holder_admin: Outcome, other_org: Outcome, vendor_admin: Outcome,
             other_vendor: Outcome, funders: tuple[Outcome, Outcome, Outcome] | None = None) -> dict[str, Outcome]:
    """`funders`: funder_admin, funder_instructor, other_funder; by default the buyer's outcome (like a buyer, a
    funder holds no SONS role but for reading orders)."""
    funder_admin, funder_instructor, other_funder = funders or (buyer, buyer, buyer)
    return {**row(anonymous, holder_member, vendor_member, buyer, platform_admin, holder_admin, other_org),
            "vendor_admin": vendor_admin, "other_vendor": other_vendor, "funder_admin": funder_admin,
            "funder_instructor": funder_instructor, "other_funder": other_funder}


def dps_row(anonymous: Outcome, holder_member: Outcome, vendor_member: Outcome, buyer: Outcome,
            platform_admin: Outcome, buyer_evaluator: Outcome, other_buyer: Outcome, vendor_admin: Outcome,
            other_vendor: Outcome) -> dict[str, Outcome]:
    return {"anonymous": anonymous, "holder_member": holder_member, "vendor_member": vendor_member,
            "buyer": buyer, "platform_admin": platform_admin, "buyer_evaluator": buyer_evaluator,
            "other_buyer": other_buyer, "vendor_admin": vendor_admin, "other_vendor": other_vendor}


# Columns:                                                        anon h_mbr v_mbr buyer platf h_adm other
EXPECTATIONS: dict[str, dict[str, Outcome]] = {
    # Public.
    "GET /health":                                                    row(A, A, A, A, A),
    "POST /support/requests":                                         row(A, A, A, A, A),
    "GET /support/requests/{request_id}":                             row(A, A, A, A, A),
    "POST /auth/login":                                               row(A, A, A, A, A),
    "POST /auth/refresh":                                             row(A, A, A, A, A),
    "POST /invitations/accept":                                       row(A, A, A, A, A),
    # Published needs: public notices, searched by anyone.
    "GET /discovery/needs":                                           row(A, A, A, A, A),
    # Any authenticated caller.
    "POST /auth/logout":                                              row(U, A, A, A, A),
    "GET /auth/me":                                                   row(U, A, A, A, A),
    "GET /organisations":                                             row(U, A, A, A, A),
    # Platform only.
    "POST /organisations":                                            row(U, F, F, F, A),
    # Members of the organisation (and platform admins); outsiders don't learn it exists.
    "GET /organisations/{organisation_id}":                           row(U, A, N, N, A, A, N),
    # The same for a grappe, which lists its OGs' facilities: its own members only (tests/accounts/
    # test_facilities.py calls it on a grappe of 3 OGs, as the grappe's lead, other holders and a vendor).
    "GET /organisations/{organisation_id}/facilities":                row(U, A, N, N, A, A, N),
    # The OG's administrator: other kinds' admins are stopped by the role guard.
    "POST /organisations/{organisation_id}/facilities":               row(U, F, F, F, A, A, N),
    # The organisation's administrator: non-admins are refused by role, other organisations' admins
    # get 404.
    "POST /organisations/{organisation_id}/invitations":              row(U, F, F, N, A, A, N),
    "GET /organisations/{organisation_id}/members":                   row(U, F, F, N, A, A, N),
    "PATCH /organisations/{organisation_id}/members/{user_id}":       row(U, F, F, N, A, A, N),
    "POST /organisations/{organisation_id}/members/{user_id}/deactivate": row(U, F, F, N, A, A, N),
    "GET /organisations/{organisation_id}/api-keys":                  row(U, F, F, N, A, A, N),
    "POST /organisations/{organisation_id}/api-keys":                 row(U, F, F, N, A, A, N),
    "DELETE /organisations/{organisation_id}/api-keys/{key_id}":      row(U, F, F, N, A, A, N),
    # The audit log: organisations' admins read their own organisation's events (the buyer's admin passes and
    # reads the buyer's; the bundle without its object is a 400, ALLOW), platform admins every event; verifying
    # the whole chain is the platform's only.
    "GET /audit-events":                                              row(U, F, F, A, A),
    "GET /audit-events/bundle":                                       row(U, F, F, A, A),
    "GET /audit-events/verification":                                 row(U, F, F, F, A),
    # Expressions of need: the holder's admin or project lead files one (other_org files its own); members
    # of the holder read them; other holders don't learn the need exists; other kinds are stopped by role
    # (platform admins included: a need is the holder's until it is published).
    "POST /needs":                                                    row(U, F, F, F, F, A, A),
    "GET /needs":                                                     row(U, A, F, F, F, A, A),
    "GET /needs/{need_id}":                                           row(U, A, F, F, F, A, N),
    "PUT /needs/{need_id}":                                           row(U, F, F, F, F, A, N),
    "POST /needs/{need_id}/submit":                                   row(U, F, F, F, F, A, N),
    # Publishing a need on a DPS: a buyer's admin (the matrix's DPS is only pending, so the owner meets a
    # 409: still ALLOW); vendors and platform admins are stopped by the role guard. A holder's admin passes it (a
    # holder publishes its own need on a DPS conducted in intermediation, HC2) but the matrix's DPS is centralised:
    # the holder is refused (403 naming HC3), another holder doesn't see the need (404).
    "POST /needs/{need_id}/publish":                                  row(U, F, F, A, F, F, N),
    # A specific contract (one of the `buyer`, conducted centrally, for the holder's need, inserted for the matrix
    # with no invitation): its buying organisation, and its holder's members (HC3); a vendor's member passes the
    # role guard but was not invited, and another holder isn't its holder, so 404. On every write of its buying
    # side the holder's admin passes the role guard (it buys in intermediation, HC2) and is refused by the service
    # with a 403 naming HC3: the contract is its own, it knows it exists; another holder's admin gets 404.
    "GET /specific-contracts/{contract_id}":                          row(U, A, N, A, F, A, N),
    # Its questions (one of the `vendor`'s, inserted for the matrix, though the vendor isn't invited): the
    # buying organisation's admin sets when they close and answers; the list is the buyer's and the invited
    # vendors' (a vendor's member passes the role guard, not the object check); asking needs a vendor's
    # admin or bid manager, which no core principal is.
    "POST /specific-contracts/{contract_id}/questions-deadline":      row(U, F, F, A, F, F, N),
    "POST /specific-contracts/{contract_id}/questions":               row(U, F, F, F, F, F, F),
    "POST /specific-contracts/{contract_id}/questions/{question_id}/answer": row(U, F, F, A, F, F, N),
    "GET /specific-contracts/{contract_id}/questions":                row(U, A, N, A, F, A, N),
    # Amendments: the buying organisation's admin extends the deadline and publishes documents; the buyer
    # and the invited vendors read them (a vendor's member passes the role guard, not the object check).
    "POST /specific-contracts/{contract_id}/deadline":                row(U, F, F, A, F, F, N),
    "PUT /specific-contracts/{contract_id}/documents":                row(U, F, F, A, F, F, N),
    "GET /specific-contracts/{contract_id}/documents":                row(U, A, N, A, F, A, N),
    "GET /specific-contracts/{contract_id}/documents/{document_id}/download": row(U, A, N, A, F, A, N),
    "GET /specific-contracts/{contract_id}/amendments":               row(U, A, N, A, F, A, N),
    # Sealed offers. The matrix's contract is open (deadline in 11 days) and invites nobody; its offer (the
    # `vendor`'s draft, inserted for the matrix) is read by the vendor's members only; preparing one needs
    # a vendor's admin or bid manager, which no core principal is.
    "POST /specific-contracts/{contract_id}/offers":                  row(U, F, F, F, F, F, F),
    "GET /specific-contracts/{contract_id}/my-offers":                row(U, F, N, F, F, F, F),
    "GET /offers/{offer_id}":                                         row(U, F, A, F, F),
    "PUT /offers/{offer_id}/parts":                                   row(U, F, F, F, F),
    "PUT /offers/{offer_id}/attachments":                             row(U, F, F, F, F),
    "POST /offers/{offer_id}/submit":                                 row(U, F, F, F, F),
    "POST /offers/{offer_id}/uploads":                                row(U, F, F, F, F),
    "POST /offers/{offer_id}/uploads/{attachment_id}/complete":       row(U, F, F, F, F),
    "POST /offers/{offer_id}/withdraw":                               row(U, F, F, F, F),
    # A draft has no receipt: its own vendor's member gets 404, everyone else is stopped before.
    "GET /offers/{offer_id}/receipt":                                 row(U, F, N, F, F),
    "GET /offers/{offer_id}/receipt.pdf":                             row(U, F, N, F, F),
    "GET /receipts/public-key":                                       row(A, A, A, A, A),
    # The buyer's side, before the deadline: sealed (403 from the service, D13) for the buying
    # organisation itself; its opening record doesn't exist yet (404), for the holder's people neither (HC3).
    "GET /specific-contracts/{contract_id}/offers":                   row(U, F, F, F, F, F, N),
    "POST /specific-contracts/{contract_id}/opening":                 row(U, F, F, F, F, F, N),
    "GET /specific-contracts/{contract_id}/opening":                  row(U, N, F, N, F, N, N),
    "GET /offers/{offer_id}/unsealed-parts":                          row(U, F, F, F, F),
    "GET /offers/{offer_id}/attachments/{attachment_id}/content":     row(U, F, F, F, F),
    # Deposits (D14b–D14c). A vendor's member reads its own refused attempts only where its vendor is invited
    # (the matrix's contract invites nobody: 404); the buying organisation reads every attempt from the deadline
    # on (before it, 403 from the service, D13) and its late admissions; its admin is let through to admit late
    # and refused by the service before the deadline (409, D14c). The holder of this centralised contract is told
    # it is not its buying side (403, HC3); another holder finds nothing (404).
    "GET /specific-contracts/{contract_id}/my-deposit-attempts":      row(U, F, N, F, F, F, F),
    "GET /specific-contracts/{contract_id}/deposit-attempts":         row(U, F, F, F, F, F, N),
    "POST /specific-contracts/{contract_id}/late-admissions":         row(U, F, F, A, F, F, N),
    "GET /specific-contracts/{contract_id}/late-admissions":          row(U, F, F, A, F, F, N),
    # Evaluation and award. The matrix's contract is still open: the buying organisation's admin is let
    # through and refused by the machine (409, G8); the holder reads no ranking nor award before the opening
    # (404, HC3); the `vendor`'s offer is a draft, so its member has no result to read (404); no request for
    # reasons exists (the buyer's admin gets 404); asking needs a vendor's admin or bid manager, which no core
    # principal is.
    "POST /specific-contracts/{contract_id}/evaluation":              row(U, F, F, A, F, F, N),
    "POST /specific-contracts/{contract_id}/conflict-declarations":   row(U, F, F, A, F, F, N),
    "PUT /offers/{offer_id}/scores":                                  row(U, F, F, A, F),
    "POST /offers/{offer_id}/rejection":                              row(U, F, F, A, F),
    "GET /specific-contracts/{contract_id}/ranking":                  row(U, N, F, A, F, N, N),
    "POST /specific-contracts/{contract_id}/award":                   row(U, F, F, A, F, F, N),
    # No award on the matrix's open contract: the buying organisation's admin is let through and finds none.
    "GET /specific-contracts/{contract_id}/award":                    row(U, N, F, N, F, N, N),
    "GET /specific-contracts/{contract_id}/my-evaluation":            row(U, F, N, F, F, F, F),
    "POST /specific-contracts/{contract_id}/reasons-requests":        row(U, F, F, F, F, F, F),
    "POST /reasons-requests/{reasons_request_id}/answer":             row(U, F, F, N, F),
    # Clarifications. The matrix's thread (on the `vendor`'s draft offer, inserted for the matrix with a message
    # and a file) is read by the buying organisation and by the vendor's members; the buying side writes and is
    # refused by the machine (409, D13: the matrix's contract is not opened); the vendor's writers are its
    # admin and bid manager, which no core principal is. The buyer's close really closes it: last.
    "POST /offers/{offer_id}/clarifications":                        row(U, F, F, A, F),
    "GET /offers/{offer_id}/clarifications":                         row(U, F, A, A, F),
    "GET /clarifications/{thread_id}":                                row(U, F, A, A, F),
    "POST /clarifications/{thread_id}/messages":                      row(U, F, F, A, F),
    "PUT /clarifications/{thread_id}/attachments":                    row(U, F, F, A, F),
    "GET /clarifications/{thread_id}/attachments/{attachment_id}/download": row(U, F, A, A, F),
    "POST /clarifications/{thread_id}/close":                         row(U, F, F, A, F),
    # Abnormally low offers (D15). The matrix's offer is a draft on an open contract: the buying organisation's
    # admin passes the guard and the object check and is refused by the machine (409, G8); the offer has no
    # procedure, so reading it (the buyer, or the offer's own vendor's member) and deciding answer 404;
    # justifying needs the vendor's admin or bid manager, which no core principal is.
    "POST /offers/{offer_id}/abnormally-low":                         row(U, F, F, A, F),
    "GET /offers/{offer_id}/abnormally-low":                          row(U, F, N, N, F),
    "PUT /offers/{offer_id}/abnormally-low/justification/document":   row(U, F, F, F, F),
    "POST /offers/{offer_id}/abnormally-low/justification":           row(U, F, F, F, F),
    "GET /offers/{offer_id}/abnormally-low/justification/document":   row(U, F, N, N, F),
    "POST /offers/{offer_id}/abnormally-low/decision":                row(U, F, F, N, F),
    # Contracts. The matrix's specific contract has no award: its buying organisation's admin is refused by
    # the machine (409); no contract has the matrix's id, so whoever passes the guard gets 404.
    "POST /specific-contracts/{contract_id}/contract":                row(U, F, F, A, F, F, N),
    "GET /contracts/{contract_id}":                                   row(U, F, N, N, F),
    "GET /contracts/{contract_id}/signatures/{side}/document":        row(U, F, N, N, F),
    "POST /contracts/{contract_id}/signatures":                       row(U, F, F, N, F),
    "POST /contracts/{contract_id}/modifications":                    row(U, F, F, N, F),
    "POST /contracts/{contract_id}/cancellation":                     row(U, F, F, N, F),
    "POST /contracts/{contract_id}/termination":                      row(U, F, F, N, F),
    # A buying organisation's admins and openers register opener keys; members of the buying organisation
    # list its keys (the matrix's organisation is the holder: the buyer passes the guard, not the check). A holder
    # buying in intermediation has openers too (HC2): its admin lists its keys, another holder's admin can't.
    "POST /my/opener-keys":                                           row(U, F, F, A, F),
    "GET /organisations/{organisation_id}/opener-keys":               row(U, F, F, F, F, A, F),
    # A vendor's members list their own invitations.
    "GET /my/invitations":                                            row(U, F, A, F, F),
    # The inbox: anyone signed in reads and marks their own notifications. The matrix's notification is the
    # holder member's: anyone else, platform admins included, gets 404 (an inbox is personal).
    "GET /my/notifications":                                          row(U, A, A, A, A),
    "GET /my/notifications/unread-count":                             row(U, A, A, A, A),
    "POST /my/notifications/{notification_id}/read":                  row(U, A, N, N, N),
    "POST /my/notifications/read-all":                                row(U, A, A, A, A),
    # Failed deliveries, everyone's: the platform's operators only.
    "GET /notifications/failed":                                      row(U, F, F, F, A),
}
# SONS routes (domain.md §5, §12). The matrix's dispositif (the operator's, with a ceiling table), the `vendor`'s
# referenced solution and enrolment, and its draft order for the `holder` with an advance request (written directly:
# filing one needs a signed order). Columns:                  anon h_mbr v_mbr buyer platf h_adm other v_adm o_vnd
EXPECTATIONS |= {
    # The operator keeps the dispositifs (creating the matrix's again: 409, ALLOW); anyone signed in reads them.
    "POST /sons/dispositifs":                                     sons_row(U, F, F, F, A, F, F, F, F),
    "GET /sons/dispositifs":                                      sons_row(U, A, A, A, A, A, A, A, A),
    "GET /sons/dispositifs/{dispositif_id}":                      sons_row(U, A, A, A, A, A, A, A, A),
    "POST /sons/dispositifs/{dispositif_id}/calendars":           sons_row(U, F, F, F, A, F, F, F, F),
    # A vendor's writers list their solutions (another vendor lists its own); anyone signed in reads them; the
    # solution's vendor (or the operator) withdraws it, another vendor is refused (a solution is public: 403).
    "POST /sons/solutions":                                       sons_row(U, F, F, F, F, F, F, A, A),
    "GET /sons/solutions":                                        sons_row(U, A, A, A, A, A, A, A, A),
    "GET /sons/solutions/{solution_id}":                          sons_row(U, A, A, A, A, A, A, A, A),
    "POST /sons/solutions/{solution_id}/withdrawal":              sons_row(U, F, F, F, A, F, F, A, F),
    # The enrolment: a vendor's writers record it; its members read it (another vendor has none: 404; the operator
    # names the vendor, the matrix doesn't: 404).
    "POST /sons/enrolments":                                      sons_row(U, F, F, F, F, F, F, A, A),
    "GET /sons/enrolment":                                        sons_row(U, F, A, F, N, F, F, A, N),
    # Orders: the vendor drafts and files; its OG signs; both sides' members read; another OG or vendor gets 404;
    # the operator reads all and records what the ASP decides.
    "POST /sons/orders":                                          sons_row(U, F, F, F, F, F, F, A, A),
    "GET /sons/orders":                                           sons_row(U, A, A, F, A, A, A, A, A, (A, A, A)),
    # A vendor's admin or bid manager imports for its own vendor (another vendor's admin imports for its own).
    "POST /sons/order-imports":                                   sons_row(U, F, F, F, F, F, F, A, A),
    # Reports: each reader of orders reads its own (an empty report is still a 200).
    "GET /sons/reports/orders":                                   sons_row(U, A, A, F, A, A, A, A, A, (A, A, A)),
    # The exported ASP payment requests: read as their order is; their JSON Schema is public documentation.
    "GET /sons/schemas/payment-request.json":                     sons_row(A, A, A, A, A, A, A, A, A),
    "GET /sons/payment-requests":                                 sons_row(U, A, A, F, A, A, A, A, A, (A, A, A)),
    "GET /sons/payment-requests/{request_id}":                    sons_row(U, A, A, F, A, A, N, A, N, (A, A, N)),
    "POST /sons/orders/expiry":                                   sons_row(U, F, F, F, A, F, F, F, F),
    "GET /sons/orders/{order_id}":                                sons_row(U, A, A, F, A, A, N, A, N, (A, A, N)),
    "PUT /sons/orders/{order_id}/signature":                      sons_row(U, F, F, F, F, A, N, F, F),
    "POST /sons/orders/{order_id}/advance":                       sons_row(U, F, F, F, F, F, F, A, N),
    "POST /sons/orders/{order_id}/amendments":                    sons_row(U, F, F, F, F, F, F, A, N),
    "POST /sons/orders/{order_id}/deployment":                    sons_row(U, F, F, F, F, F, F, A, N),
    "PUT /sons/orders/{order_id}/acceptance":                     sons_row(U, F, F, F, F, A, N, F, F),
    "PUT /sons/orders/{order_id}/balance":                        sons_row(U, F, F, F, F, F, F, A, N),
    "POST /sons/orders/{order_id}/cancellation":                  sons_row(U, F, F, F, A, F, F, F, F),
    "POST /sons/asp-requests/{request_id}/statuses":              sons_row(U, F, F, F, A, F, F, F, F),
    # The ASP's status file: the operator's, like each status it records.
    "POST /sons/asp-status-imports":                              sons_row(U, F, F, F, A, F, F, F, F),
    "POST /sons/asp-requests/{request_id}/refile":                sons_row(U, F, F, F, F, F, F, A, N),
}
# DPS routes. Columns:                                         anon h_mbr v_mbr buyer platf b_eval o_buy v_adm o_vnd
EXPECTATIONS |= {
    # Public: the notices (a published DPS) and the register of admitted vendors.
    "GET /dps":                                                   dps_row(A, A, A, A, A, A, A, A, A),
    "GET /dps/{dps_id}":                                          dps_row(A, A, A, A, A, A, A, A, A),
    "GET /register":                                              dps_row(A, A, A, A, A, A, A, A, A),
    "GET /dps/{dps_id}/documents":                                dps_row(A, A, A, A, A, A, A, A, A),
    "GET /dps/{dps_id}/documents/{document_id}/download":         dps_row(A, A, A, A, A, A, A, A, A),
    # Publishing documents: the DPS's buying organisation's admin.
    "PUT /dps/{dps_id}/documents":                                dps_row(U, F, F, A, F, F, N, F, F),
    # A buying organisation's admin creates a DPS (for its own organisation: other_buyer creates its own).
    "POST /dps":                                                  dps_row(U, F, F, A, F, F, A, F, F),
    # Managing the DPS: its buying organisation's admin only; another buyer organisation's admin gets 404.
    "POST /dps/{dps_id}/publish":                                 dps_row(U, F, F, A, F, F, N, F, F),
    "POST /dps/{dps_id}/activate":                                dps_row(U, F, F, A, F, F, N, F, F),
    "POST /dps/{dps_id}/validity":                                dps_row(U, F, F, A, F, F, N, F, F),
    # How its contracts are conducted (HC1): its admin, while a draft (the matrix's is published: 409, ALLOW).
    "PUT /dps/{dps_id}/conduct-mode":                             dps_row(U, F, F, A, F, F, N, F, F),
    # The needs filed to the DPS (D2): its buyers; another buying organisation passes on a DPS usable by other
    # buyers (the matrix's is) and sees only the needs naming it.
    "GET /dps/{dps_id}/needs":                                    dps_row(U, F, F, A, F, A, A, F, F),
    # A sandbox's clock: its buying organisation's admin (the matrix's DPS is real: 409, still ALLOW).
    "POST /dps/{dps_id}/sandbox/fast-forward":                    dps_row(U, F, F, A, F, F, N, F, F),
    # Evaluating: admin or evaluator of the DPS's buying organisation; vendors stopped by the role guard.
    "GET /dps/{dps_id}/admission-queue":                          dps_row(U, F, F, A, F, A, N, F, F),
    "POST /admission-requests/{request_id}/request-documents":    dps_row(U, F, F, A, F, A, N, F, F),
    "POST /admission-requests/{request_id}/extend":               dps_row(U, F, F, A, F, A, N, F, F),
    "POST /admission-requests/{request_id}/admit":                dps_row(U, F, F, A, F, A, N, F, F),
    "POST /admission-requests/{request_id}/reject":               dps_row(U, F, F, A, F, A, N, F, F),
    # After admission (the matrix's request is a draft, so an allowed caller meets a 409: still ALLOW).
    "POST /admission-requests/{request_id}/suspend":              dps_row(U, F, F, A, F, A, N, F, F),
    "POST /admission-requests/{request_id}/reinstate":            dps_row(U, F, F, A, F, A, N, F, F),
    "POST /admission-requests/{request_id}/exclude":              dps_row(U, F, F, A, F, A, N, F, F),
    "POST /admission-requests/{request_id}/declaration-request":  dps_row(U, F, F, A, F, A, N, F, F),
    # Applying: a vendor's admin or bid manager (for its own organisation: other_vendor applies for itself).
    "POST /admission-requests":                                   dps_row(U, F, F, F, F, F, F, A, A),
    # The request: the vendor's members and the DPS's buyers; nobody else learns it exists (platform
    # admins included: admission files are between the vendor and the buyer).
    "GET /admission-requests/{request_id}":                       dps_row(U, N, A, A, N, A, N, A, N),
    # Its documents likewise: the buyers judge them (D6, D20), the vendor's people see what they sent.
    "GET /admission-requests/{request_id}/documents/{document_id}/download": dps_row(U, N, A, A, N, A, N, A, N),
    # Acting on the request as the applicant: the vendor's admin or bid manager; another vendor gets 404.
    "PUT /admission-requests/{request_id}/documents/{kind}":      dps_row(U, F, F, F, F, F, F, A, N),
    "POST /admission-requests/{request_id}/submit":               dps_row(U, F, F, F, F, F, F, A, N),
    "POST /admission-requests/{request_id}/withdraw":             dps_row(U, F, F, F, F, F, F, A, N),
    "PUT /admission-requests/{request_id}/self-declaration":      dps_row(U, F, F, F, F, F, F, A, N),
}
# Funding (domain.md §11.2). Columns:                        anon h_mbr v_mbr buyer platf f_adm f_ins o_fnd h_adm other
EXPECTATIONS |= {
    # Calls for projects: a funder's admin opens one for its own funder (other_funder opens its own); anyone signed
    # in reads them; only the call's admin versions it (another funder: 404).
    "POST /funding-calls":                                    funding_row(U, F, F, F, F, A, F, A),
    "GET /funding-calls":                                     funding_row(U, A, A, A, A, A, A, A),
    "GET /funding-calls/{call_id}":                           funding_row(U, A, A, A, A, A, A, A),
    "POST /funding-calls/{call_id}/versions":                 funding_row(U, F, F, F, F, A, F, N),
    # Its projects: its funder's members read them, its admin and instructor decide (the matrix's need is decided
    # already: 409, still ALLOW); another funder doesn't learn they exist (FU6).
    "GET /funding-calls/{call_id}/projects":                  funding_row(U, F, F, F, F, A, A, N),
    "GET /funding-calls/{call_id}/projects/{need_id}":        funding_row(U, F, F, F, F, A, A, N),
    "POST /funding-calls/{call_id}/projects/{need_id}/selection": funding_row(U, F, F, F, F, A, A, N),
    "POST /funding-calls/{call_id}/projects/{need_id}/rejection": funding_row(U, F, F, F, F, A, A, N),
    # A need's funding: its holder files it (filed already: 409, ALLOW), gives a tranche's evidence and requests
    # it (the matrix's first tranche is requested already: 409, ALLOW); its holder's members and its call's
    # funder's read; the funder's admin and instructor validate, refuse and pay it (the instructor validates, then
    # pays; what follows meets 409s, ALLOW).
    "POST /needs/{need_id}/filing":                           funding_row(U, F, F, F, F, F, F, F, A, N),
    "GET /needs/{need_id}/funding":                           funding_row(U, A, F, F, F, A, A, N, A, N),
    "GET /needs/{need_id}/funding/decision-document":         funding_row(U, A, F, F, F, A, A, N, A, N),
    "PUT /needs/{need_id}/funding/tranches/{position}/evidence": funding_row(U, F, F, F, F, F, F, F, A, N),
    "GET /needs/{need_id}/funding/tranches/{position}/evidence": funding_row(U, A, F, F, F, A, A, N, A, N),
    "POST /needs/{need_id}/funding/tranches/{position}/request": funding_row(U, F, F, F, F, F, F, F, A, N),
    "POST /needs/{need_id}/funding/tranches/{position}/validation": funding_row(U, F, F, F, F, A, A, N, F, F),
    "POST /needs/{need_id}/funding/tranches/{position}/refusal": funding_row(U, F, F, F, F, A, A, N, F, F),
    "POST /needs/{need_id}/funding/tranches/{position}/payment": funding_row(U, F, F, F, F, A, A, N, F, F),
}
# Ending the DPS: its buying organisation's admin. Last in the table on purpose: the owner's cancel really
# cancels the shared DPS (and closes the draft request), which every row above still needs open.
EXPECTATIONS |= {
    "POST /dps/{dps_id}/terminate":                               dps_row(U, F, F, A, F, F, N, F, F),
    "POST /dps/{dps_id}/cancel":                                  dps_row(U, F, F, A, F, F, N, F, F),
}
# Inviting the holder onto the committee (HC3): the buying organisation's admin (its call really invites it, so
# after every row the committee could change); the holder's admin passes the role guard and is refused (HC3).
EXPECTATIONS |= {
    "POST /specific-contracts/{contract_id}/committee":               row(U, F, F, A, F, F, N),
}
# Declaring the matrix's specific contract sans suite: its buying organisation's admin. Last for the same
# reason: the owner's call really cancels it, after which every route above would only meet 409s.
EXPECTATIONS |= {
    "POST /specific-contracts/{contract_id}/cancellation":            row(U, F, F, A, F, F, N),
}
# The back-office's pages (marketplace/web): called through the login form and a cookie session, with the CSRF
# token on unsafe methods (Scenario.page); a page's 401 is its redirect to the login form. The work queue is for any
# signed-in user (each list is scoped by the services); the login form and the stylesheet for anyone.
EXPECTATIONS |= {
    "GET /app/connexion":                                             row(A, A, A, A, A),
    "POST /app/connexion":                                            row(A, A, A, A, A),
    "GET /app/static/{file_path}":                                    row(A, A, A, A, A),
    "GET /app":                                                       row(U, A, A, A, A),
    "POST /app/deconnexion":                                          row(U, A, A, A, A),
}
# The back-office's admissions screens (marketplace/web/admissions.py): the API's admission-decision audience
# (DPS_WRITERS), called with the DPS principals (`_principals_for`). The list and export are scoped by the service
# (another buyer reads its own, empty, list: ALLOW); the file and the acts on the matrix's request hide it from
# another buying organisation (404). The request is a draft in its initial window: the acts meet 409, ALLOW.
EXPECTATIONS |= {
    "GET /app/admissions":                                        dps_row(U, F, F, A, F, A, A, F, F),
    "GET /app/admissions/export.csv":                             dps_row(U, F, F, A, F, A, A, F, F),
    "GET /app/admissions/{request_id}":                           dps_row(U, F, F, A, F, A, N, F, F),
    "GET /app/admissions/{request_id}/documents/{document_id}":   dps_row(U, F, F, A, F, A, N, F, F),
    "POST /app/admissions/{request_id}/admettre":                 dps_row(U, F, F, A, F, A, N, F, F),
    "POST /app/admissions/{request_id}/rejeter":                  dps_row(U, F, F, A, F, A, N, F, F),
    "POST /app/admissions/{request_id}/prolonger":                dps_row(U, F, F, A, F, A, N, F, F),
    "POST /app/admissions/{request_id}/pieces":                   dps_row(U, F, F, A, F, A, N, F, F),
    "POST /app/admissions/{request_id}/dume":                     dps_row(U, F, F, A, F, A, N, F, F),
}
# The back-office's specific contract screens: list, cockpit, opening (marketplace/web/contracts.py). The same role
# sets as the API routes they call (the cockpit as GET /specific-contracts/{id} less the vendors, who have no
# back-office); a POST carries only the CSRF token here, so a caller let through meets a 400 (ALLOW).
EXPECTATIONS |= {
    "GET /app/marches":                                               row(U, F, F, A, F),
    "GET /app/marches/export.csv":                                    row(U, F, F, A, F),
    "GET /app/marches/{contract_id}":                                 row(U, A, F, A, F),
    "POST /app/marches/{contract_id}/questions/{question_id}/reponse": row(U, F, F, A, F),
    "POST /app/marches/{contract_id}/delai":                          row(U, F, F, A, F),
    "POST /app/marches/{contract_id}/sans-suite":                     row(U, F, F, A, F),
    "POST /app/marches/{contract_id}/admissions-tardives":            row(U, F, F, A, F),
    # The ceremony as GET …/opening (its openers among the buying side): before the opening the holder's member
    # reads nothing of it (404); the buyer sees "not yet" (ALLOW). The act as POST …/opening (OPENERS).
    "GET /app/marches/{contract_id}/ouverture":                       row(U, N, F, A, F),
    "POST /app/marches/{contract_id}/ouverture":                      row(U, F, F, A, F),
}
# The back-office's evaluation and award screens (marketplace/web/evaluation.py). Each act as its API route's
# row (same role set, same service); the matrix's contract is not opened. The evaluation page is the opening
# record's first (404 before the opening, for everyone let through) and is for the committee only (the holder's
# plain member is refused by the role guard, where the ranking's guard lets it through to a 404). The award page is
# the buying side's (the holder of this centralised contract is told it is not, 403 HC3). These rows run after the
# holder was invited onto the committee (POST …/committee above): its admin declares and scores as a member (409,
# G8: not opened), where the API's rows, run before the invitation, see 403; clarifications and D15 requests stay
# the buying side's own (403, HC3). Another holder finds nothing (404). The buyer's own
# signature page finds no contract to sign (404, as POST /contracts/{id}/signatures on an unknown id).
EXPECTATIONS |= {
    "GET /app/marches/{contract_id}/evaluation":                      row(U, F, F, N, F, N, N),
    "POST /app/marches/{contract_id}/evaluation/demarrer":            row(U, F, F, A, F, F, N),
    "POST /app/marches/{contract_id}/evaluation/declaration":         row(U, F, F, A, F, A, N),
    "POST /app/marches/{contract_id}/evaluation/offres/{offer_id}/notes": row(U, F, F, A, F, A, N),
    "POST /app/marches/{contract_id}/evaluation/offres/{offer_id}/eclaircissements": row(U, F, F, A, F, F, N),
    "POST /app/marches/{contract_id}/evaluation/offres/{offer_id}/offre-anormalement-basse": row(U, F, F, A, F, F, N),
    "GET /app/marches/{contract_id}/attribution":                     row(U, F, F, A, F, F, N),
    "POST /app/marches/{contract_id}/attribution":                    row(U, F, F, A, F, F, N),
    "POST /app/marches/{contract_id}/contrat":                        row(U, F, F, A, F, F, N),
    "POST /app/marches/{contract_id}/contrat/signatures":             row(U, F, F, N, F, F, N),
}
# The back-office's funding screens (marketplace/web/funding.py): as the API's funding rows they stand for (the
# list as GET /funding-calls; a call's and a project's pages, downloads and acts as …/projects and the tranche acts,
# for the call's funder only). `need_id` is the matrix's funded need (segment `funding-calls`).
EXPECTATIONS |= {
    "GET /app/financements":                                      funding_row(U, A, A, A, A, A, A, A),
    "GET /app/financements/export":                               funding_row(U, A, A, A, A, A, A, A),
    "GET /app/financements/{call_id}":                            funding_row(U, F, F, F, F, A, A, N),
    "GET /app/financements/{call_id}/projets/{need_id}":          funding_row(U, F, F, F, F, A, A, N),
    "GET /app/financements/{call_id}/projets/{need_id}/decision": funding_row(U, F, F, F, F, A, A, N),
    "GET /app/financements/{call_id}/projets/{need_id}/tranches/{position}/preuve":
        funding_row(U, F, F, F, F, A, A, N),
    "POST /app/financements/{call_id}/projets/{need_id}/selection": funding_row(U, F, F, F, F, A, A, N),
    "POST /app/financements/{call_id}/projets/{need_id}/rejet":   funding_row(U, F, F, F, F, A, A, N),
    "POST /app/financements/{call_id}/projets/{need_id}/tranches/{position}/validation":
        funding_row(U, F, F, F, F, A, A, N),
    "POST /app/financements/{call_id}/projets/{need_id}/tranches/{position}/refus":
        funding_row(U, F, F, F, F, A, A, N),
    "POST /app/financements/{call_id}/projets/{need_id}/tranches/{position}/versement":
        funding_row(U, F, F, F, F, A, A, N),
}
# The back-office's needs review screens (marketplace/web/needs.py): the buying side's list (the buyer's and a
# holder's admins pass; whose needs they see is the list's scope, tests/web/test_needs.py); the matrix's need is
# the holder's draft, filed to no DPS, so nobody reviews it: whoever passes the role guard meets a 404.
EXPECTATIONS |= {
    "GET /app/besoins":                                               row(U, F, F, A, F, A, A),
    "GET /app/besoins/export.csv":                                    row(U, F, F, A, F, A, A),
    "GET /app/besoins/{need_id}":                                     row(U, F, F, N, F, N, N),
    "POST /app/besoins/{need_id}/publier":                            row(U, F, F, N, F, N, N),
}
# The back-office's vendors and referencing screens (marketplace/web/vendors.py): the API's admission-decision
# audience (DPS_WRITERS). The list is scoped to the caller's DPS (another buyer: its own, empty, list); a vendor's
# file and the sanctions on its admissions exist only for the buyers of a DPS it applied to (others: 404); the
# matrix's request is a draft, so the sanctions answer 409 (ALLOW) to its buyers.
EXPECTATIONS |= {
    "GET /app/editeurs":                                          dps_row(U, F, F, A, F, A, A, F, F),
    "GET /app/editeurs/export.csv":                               dps_row(U, F, F, A, F, A, A, F, F),
    "GET /app/editeurs/{organisation_id}":                        dps_row(U, F, F, A, F, A, N, F, F),
    "POST /app/editeurs/{organisation_id}/admissions/{request_id}/suspendre": dps_row(U, F, F, A, F, A, N, F, F),
    "POST /app/editeurs/{organisation_id}/admissions/{request_id}/retablir":  dps_row(U, F, F, A, F, A, N, F, F),
    "POST /app/editeurs/{organisation_id}/admissions/{request_id}/exclure":   dps_row(U, F, F, A, F, A, N, F, F),
}
# The back-office's SONS orders screens (marketplace/web/sons/): reads as GET /sons/orders, /sons/orders/{id},
# /sons/reports/orders and /sons/payment-requests (SONS_ORDER_READERS, the file 404 to another OG, vendor or region);
# the acts as the API's cancellation and ASP-status rows (SONS_OPERATORS). `order_id`/`request_id` are the matrix's
# order and its advance request (segment `sons`).
EXPECTATIONS |= {
    "GET /app/sons":                                              sons_row(U, A, A, F, A, A, A, A, A, (A, A, A)),
    "GET /app/sons/export.csv":                                   sons_row(U, A, A, F, A, A, A, A, A, (A, A, A)),
    "GET /app/sons/rapport.csv":                                  sons_row(U, A, A, F, A, A, A, A, A, (A, A, A)),
    "GET /app/sons/commandes/{order_id}":                         sons_row(U, A, A, F, A, A, N, A, N, (A, A, N)),
    "GET /app/sons/commandes/{order_id}/demandes-de-paiement.json": sons_row(U, A, A, F, A, A, N, A, N, (A, A, N)),
    "POST /app/sons/commandes/{order_id}/annulation":             sons_row(U, F, F, F, A, F, F, F, F),
    "POST /app/sons/demandes-asp/{request_id}/statuts":           sons_row(U, F, F, F, A, F, F, F, F),
}
# The back-office's users, organisations, roles and API keys screens (marketplace/web/accounts.py). The list, its
# export and one's own account: anyone signed in, as GET /organisations and GET /auth/me (the list is scoped by the
# service to what the caller administers: a plain member's is empty, ALLOW). The organisation's file and its acts:
# as the API's members and API-key routes (ADMINS; another organisation's admin gets 404). The matrix's key is
# revoked and its spare member deactivated by the API rows already: the page's acts answer as the API's, again.
EXPECTATIONS |= {
    "GET /app/organisations":                                         row(U, A, A, A, A),
    "GET /app/organisations/export.csv":                              row(U, A, A, A, A),
    "GET /app/compte":                                                row(U, A, A, A, A),
    "GET /app/organisations/{organisation_id}":                       row(U, F, F, N, A, A, N),
    "POST /app/organisations/{organisation_id}/invitations":          row(U, F, F, N, A, A, N),
    "POST /app/organisations/{organisation_id}/membres/{user_id}/roles": row(U, F, F, N, A, A, N),
    "POST /app/organisations/{organisation_id}/membres/{user_id}/desactivation": row(U, F, F, N, A, A, N),
    "POST /app/organisations/{organisation_id}/cles-api":             row(U, F, F, N, A, A, N),
    "POST /app/organisations/{organisation_id}/cles-api/{key_id}/revocation": row(U, F, F, N, A, A, N),
}
# The back-office's work queue's lists and charts (marketplace/web/controllers.py, queue.py).
EXPECTATIONS |= {
}
# The web's public pages (marketplace/web/public_pages.py): anyone, as the public API routes they mirror.
EXPECTATIONS |= {
    "GET /app/sad":                                                   row(A, A, A, A, A),
    "GET /app/sad/{dps_id}":                                          row(A, A, A, A, A),
    "GET /app/registre":                                              row(A, A, A, A, A),
    "GET /app/registre/export.csv":                                   row(A, A, A, A, A),
    "GET /app/consultations":                                         row(A, A, A, A, A),
    "GET /app/consultations/{contract_id}":                           row(A, A, A, A, A),
}
# The web's holders' self-service (marketplace/web/holder.py): as the API's /needs rows (the form's pages as the
# writes they lead to), filing as POST /needs/{id}/filing (the matrix's need is a draft: a 409 page, ALLOW).
EXPECTATIONS |= {
    "GET /app/mes-besoins":                                           row(U, A, F, F, F, A, A),
    "GET /app/mes-besoins/nouveau":                                   row(U, F, F, F, F, A, A),
    "POST /app/mes-besoins/nouveau":                                  row(U, F, F, F, F, A, A),
    "GET /app/mes-besoins/{need_id}":                                 row(U, A, F, F, F, A, N),
    "GET /app/mes-besoins/{need_id}/modifier":                        row(U, F, F, F, F, A, N),
    "POST /app/mes-besoins/{need_id}/modifier":                       row(U, F, F, F, F, A, N),
    "POST /app/mes-besoins/{need_id}/verifier":                       row(U, F, F, F, F, A, N),
    "POST /app/mes-besoins/{need_id}/soumettre":                      row(U, F, F, F, F, A, N),
    "POST /app/mes-besoins/{need_id}/depot":                          row(U, F, F, F, F, A, N),
}
# The web's vendors' applications and invitations (marketplace/web/applications.py): as the API's admission-request
# rows for the applying vendor (VENDOR_WRITERS acts, another vendor 404), read by the vendor's members only (the
# DPS's buyers read the request on /app/admissions: 403 here); the invitations as GET /my/invitations. The empty
# application form answers 422 (ALLOW); the matrix's request is submitted by the API's row first (409, ALLOW).
EXPECTATIONS |= {
    "GET /app/candidatures":                                      dps_row(U, F, A, F, F, F, F, A, A),
    "POST /app/candidatures":                                     dps_row(U, F, F, F, F, F, F, A, A),
    "GET /app/candidatures/{request_id}":                         dps_row(U, F, A, F, F, F, F, A, N),
    "GET /app/candidatures/{request_id}/documents/{document_id}": dps_row(U, F, A, F, F, F, F, A, N),
    "POST /app/candidatures/{request_id}/pieces/{kind}":          dps_row(U, F, F, F, F, F, F, A, N),
    "POST /app/candidatures/{request_id}/soumettre":              dps_row(U, F, F, F, F, F, F, A, N),
    "POST /app/candidatures/{request_id}/dume":                   dps_row(U, F, F, F, F, F, F, A, N),
    "GET /app/invitations":                                       row(U, F, A, F, F),
}
# The web's vendors' offer workspace (marketplace/web/offers.py): as the API's offer rows. The matrix's contract
# invites nobody, so the vendor's member reads no workspace (404, as GET …/my-offers); the acts need a vendor's
# admin or bid manager, which no core principal is; the buying side has no vendor's page (403).
EXPECTATIONS |= {
    "GET /app/offres/{contract_id}":                                  row(U, F, N, F, F),
    "POST /app/offres/{contract_id}/offre":                           row(U, F, F, F, F),
    "POST /app/offres/{contract_id}/questions":                       row(U, F, F, F, F),
    "POST /app/offres/offre/{offer_id}/parties":                      row(U, F, F, F, F),
    "POST /app/offres/offre/{offer_id}/pieces":                       row(U, F, F, F, F),
    "POST /app/offres/offre/{offer_id}/televersements":               row(U, F, F, F, F),
    "POST /app/offres/offre/{offer_id}/televersements/{attachment_id}/fin": row(U, F, F, F, F),
    "POST /app/offres/offre/{offer_id}/depot":                        row(U, F, F, F, F),
    "POST /app/offres/offre/{offer_id}/retrait":                      row(U, F, F, F, F),
    # A draft has no receipt: its own vendor's member gets 404, everyone else is stopped before.
    "GET /app/offres/offre/{offer_id}/accuse.pdf":                    row(U, F, N, F, F),
    "POST /app/offres/eclaircissements/{thread_id}/reponse":          row(U, F, F, F, F),
}
# The web's inbox (marketplace/web/inbox.py): as GET /my/notifications and its acts. The matrix's notification is
# the holder member's: anyone else marking it read gets 404 (an inbox is personal).
EXPECTATIONS |= {
    "GET /app/notifications":                                         row(U, A, A, A, A),
    "POST /app/notifications/{notification_id}/lue":                  row(U, A, N, N, N),
    "POST /app/notifications/lues":                                   row(U, A, A, A, A),
}
# The web's vendor pages after the opening (marketplace/web/results.py): as the API's rows they call. The matrix's
# contract invites nobody, so the vendor's member reads no page (404, as GET /specific-contracts/{id}) and no signed
# document (no contract of its own: 404); the acts need a vendor's admin or bid manager (the signature its admin),
# which no core principal is; the buying side has no vendor's page (403).
EXPECTATIONS |= {
    "GET /app/offres/{contract_id}/suite":                            row(U, F, N, F, F),
    "POST /app/offres/{contract_id}/suite/eclaircissements/{thread_id}": row(U, F, F, F, F),
    "POST /app/offres/offre/{offer_id}/justification/document":       row(U, F, F, F, F),
    "POST /app/offres/offre/{offer_id}/justification":                row(U, F, F, F, F),
    "POST /app/offres/{contract_id}/suite/motifs":                    row(U, F, F, F, F),
    "POST /app/offres/{contract_id}/suite/signature":                 row(U, F, F, F, F),
    "GET /app/offres/{contract_id}/suite/signature/document":         row(U, F, N, F, F),
}
# The web's holders' procedure, contract and grant tranches (marketplace/web/holder_contracts.py). The procedure as
# GET /needs/{id}, a page in any state of the need; the contract as GET /contracts/{id} (BUYER_WRITERS: the holder's
# admin; the buyer's admin passes the guard, and the need is not its own: 404), a signed document as
# …/signatures/{side}/document, the signature as POST /contracts/{id}/signatures. By then the buyer has published the
# matrix's need (POST /needs/{id}/publish: centralised, HC3), so the holder has no contract of its own to read a
# signed document of or to sign (HC4): 404, as through the API. The grant pages on the matrix's funded need, as its
# /funding rows (its first tranche is requested already: 409, ALLOW; an evidence form without its file: 422, ALLOW);
# the funders read their projects on their own pages (403 here).
EXPECTATIONS |= {
    "GET /app/mes-besoins/{need_id}/procedure":                       row(U, A, F, F, F, A, N),
    "GET /app/mes-besoins/{need_id}/contrat":                         row(U, F, F, N, F, A, N),
    "GET /app/mes-besoins/{need_id}/contrat/signatures/document":     row(U, F, F, N, F, N, N),
    "POST /app/mes-besoins/{need_id}/contrat/signature":              row(U, F, F, N, F, N, N),
    "GET /app/mes-besoins/{need_id}/financement":                     funding_row(U, A, F, F, F, F, F, F, A, N),
    "GET /app/mes-besoins/{need_id}/financement/decision":            funding_row(U, A, F, F, F, F, F, F, A, N),
    "GET /app/mes-besoins/{need_id}/financement/tranches/{position}/preuve":
        funding_row(U, A, F, F, F, F, F, F, A, N),
    "POST /app/mes-besoins/{need_id}/financement/tranches/{position}/preuve":
        funding_row(U, F, F, F, F, F, F, F, A, N),
    "POST /app/mes-besoins/{need_id}/financement/tranches/{position}/demande":
        funding_row(U, F, F, F, F, F, F, F, A, N),
}
# The web's vendors' SONS catalogue (marketplace/web/vendor_sons.py): read by the vendor's members (as GET
# /sons/enrolment; another vendor's admin reads its own vendor's space), acts as the API's VENDOR_WRITERS rows (the
# empty forms answer 400/422 pages, ALLOW); the withdrawal of another vendor's solution is the service's 403, one
# payment request of another vendor a 404, as GET /sons/payment-requests/{id} (segment `sons`).
EXPECTATIONS |= {
    "GET /app/solutions":                                         sons_row(U, F, A, F, F, F, F, A, A),
    "POST /app/solutions":                                        sons_row(U, F, F, F, F, F, F, A, A),
    "POST /app/solutions/{solution_id}/retrait":                  sons_row(U, F, F, F, F, F, F, A, F),
    "POST /app/solutions/inscription-asp":                        sons_row(U, F, F, F, F, F, F, A, A),
    "GET /app/solutions/commandes":                               sons_row(U, F, A, F, F, F, F, A, A),
    "POST /app/solutions/commandes":                              sons_row(U, F, F, F, F, F, F, A, A),
    "GET /app/solutions/import":                                  sons_row(U, F, A, F, F, F, F, A, A),
    "POST /app/solutions/import":                                 sons_row(U, F, F, F, F, F, F, A, A),
    "GET /app/solutions/import/modele.csv":                       sons_row(U, F, A, F, F, F, F, A, A),
    "GET /app/solutions/paiements":                               sons_row(U, F, A, F, F, F, F, A, A),
    "GET /app/solutions/paiements/demandes.json":                 sons_row(U, F, A, F, F, F, F, A, A),
    "GET /app/solutions/paiements/rapport.csv":                   sons_row(U, F, A, F, F, F, F, A, A),
    "GET /app/solutions/paiements/{request_id}/document.json":    sons_row(U, F, A, F, F, F, F, A, N),
}
# The web's SONS order acts for holders and vendors (marketplace/web/sons/, beside the back-office's): each as
# the API route whose service it calls (HOLDER_WRITERS signs the order and its VA, VENDOR_WRITERS files the advance,
# its amendments, the deployment, the balance and a refile; the other OG or vendor: 404 from the service). The
# matrix's order is a draft and the forms come without their file: the OG's admin gets a 422 page, the vendor's a
# 409 (ALLOW).
EXPECTATIONS |= {
    "POST /app/sons/commandes/{order_id}/signature":              sons_row(U, F, F, F, F, A, N, F, F),
    "POST /app/sons/commandes/{order_id}/va":                     sons_row(U, F, F, F, F, A, N, F, F),
    "POST /app/sons/commandes/{order_id}/avance":                 sons_row(U, F, F, F, F, F, F, A, N),
    "POST /app/sons/commandes/{order_id}/avenants":               sons_row(U, F, F, F, F, F, F, A, N),
    "POST /app/sons/commandes/{order_id}/deploiement":            sons_row(U, F, F, F, F, F, F, A, N),
    "POST /app/sons/commandes/{order_id}/solde":                  sons_row(U, F, F, F, F, F, F, A, N),
    "POST /app/sons/demandes-asp/{request_id}/nouveau-depot":     sons_row(U, F, F, F, F, F, F, A, N),
}
# The back-office's audit log screens (marketplace/web/audit.py): as the API's (an organisation's admin reads its
# own organisation's events; the evidence without its object is a 400 page, ALLOW); the chain is the platform's.
EXPECTATIONS |= {
    "GET /app/journal":                                               row(U, F, F, A, A),
    "GET /app/journal/export.csv":                                    row(U, F, F, A, A),
    "GET /app/journal/preuves":                                       row(U, F, F, A, A),
    "POST /app/journal/verification":                                 row(U, F, F, F, A),
}

# Open data (marketplace/opendata, domain.md §3, §4): public documents, anyone reads them, signed in or not.
EXPECTATIONS |= {
    "GET /ocds/releases":                                             row(A, A, A, A, A),
    "GET /ocds/records/{ocid}":                                       row(A, A, A, A, A),
    "GET /decp/marches":                                              row(A, A, A, A, A),
    # D19: a DPS's quarterly grouped award notices. The matrix's DPS has no notified contract, so no notice to read:
    # the list answers everyone (empty), and `quarter` is one no year has (2026-Q5, a 400 naming it: the guard let
    # the call through); the notices themselves are read in tests/opendata/test_d19.py.
    "GET /dps/{dps_id}/award-notices":                                dps_row(A, A, A, A, A, A, A, A, A),
    "GET /dps/{dps_id}/award-notices/{quarter}":                      dps_row(A, A, A, A, A, A, A, A, A),
    "GET /feed":                                                      row(A, A, A, A, A),
    # Webhooks on the feed: the organisation's administrator, as its API keys (another organisation's admin
    # passes the role guard and gets 404 from the object check).
    "POST /organisations/{organisation_id}/webhooks":                 row(U, F, F, N, A, A, N),
    "GET /organisations/{organisation_id}/webhooks":                  row(U, F, F, N, A, A, N),
    "DELETE /organisations/{organisation_id}/webhooks/{webhook_id}":  row(U, F, F, N, A, A, N),
    "GET /organisations/{organisation_id}/webhooks/{webhook_id}/deliveries": row(U, F, F, N, A, A, N),
    "POST /organisations/{organisation_id}/webhooks/{webhook_id}/replay": row(U, F, F, N, A, A, N),
}

# Pages of a specific contract checked like the API's object routes (the holder's admin, another holder's admin).
OBJECT_PAGES = tuple(f"/app/marches/{{contract_id}}/{page}" for page in ("evaluation", "attribution", "contrat"))
# A page's first segment under /app → the API segment whose path values it takes (`request_id` means two things).
PAGE_SEGMENTS = {"admissions": "admission-requests", "marches": "specific-contracts", "financements": "funding-calls",
                 "editeurs": "editeurs", "sons": "sons", "offres": "specific-contracts",
                 "candidatures": "admission-requests", "solutions": "sons"}

NEED_BODY = {"title": "Mise en conformité du DUI", "description": "Conformité Ségur.", "campaign": 2025,
             "projectType": 2, "requestedCall": "regional", "appliedOn": "2025-03-01",
             "facilities": [{"finessEt": "750000010"}]}
# Minimal plausible bodies (dynamic ones, carrying real credentials, are built by Scenario.body).
NEW_VENDOR_SIRET = "51234567900017"   # SIREN 512345679, Luhn-valid, not used by tests.world
NEW_FACILITY_FINESS = "750000028"     # Luhn-valid, not used by tests.world
UPLOAD_ROUTE = "PUT /admission-requests/{request_id}/documents/{kind}"
BODIES: dict[str, Any] = {
    "POST /support/requests": {"name": "Camille Martin", "email": "camille.martin@example.fr",
                               "subject": "Question", "message": "Bonjour, une question sur le SAD."},
    "POST /auth/login": {"email": email_of("holder_member"), "password": PASSWORD},
    "POST /auth/logout": {"refreshToken": "not-a-refresh-token-of-mine"},
    "POST /organisations": {"kind": "vendor", "name": "Nouvel éditeur SAS", "siret": NEW_VENDOR_SIRET},
    "POST /organisations/{organisation_id}/facilities": {"name": "SSIAD Les Tilleuls",
                                                         "finessEt": NEW_FACILITY_FINESS},
    "POST /organisations/{organisation_id}/invitations": {"email": "new.colleague@example.fr",
                                                          "roles": ["holder:member"]},
    "PATCH /organisations/{organisation_id}/members/{user_id}": {"roles": ["holder:member"]},
    "POST /needs": NEED_BODY,
    "PUT /needs/{need_id}": NEED_BODY,
    "POST /organisations/{organisation_id}/api-keys": {"name": "Matrix connector", "roles": ["holder:member"]},
    "POST /organisations/{organisation_id}/webhooks": {"url": "https://hooks.example.org/matrix"},
    "POST /organisations/{organisation_id}/webhooks/{webhook_id}/replay": {"from": 1, "to": 1},
    "POST /app/organisations/{organisation_id}/invitations": {"email": "page.colleague@example.fr",
                                                             "roles": "holder:member"},
    "POST /app/organisations/{organisation_id}/membres/{user_id}/roles": {"roles": "holder:member"},
    "POST /app/organisations/{organisation_id}/cles-api": {"name": "Matrix page key", "roles": "holder:member"},
    "POST /admission-requests/{request_id}/request-documents": {"message": "Merci de joindre un Kbis récent."},
    # The admissions screens' forms (urlencoded, beside the CSRF token).
    "POST /app/admissions/{request_id}/rejeter": {"reasons": "Capacités techniques insuffisantes."},
    "POST /app/admissions/{request_id}/prolonger": {"reasons": "Références à vérifier auprès des clients."},
    "POST /app/admissions/{request_id}/pieces": {"message": "Merci de joindre un Kbis récent."},
    "POST /app/admissions/{request_id}/dume": {"message": "Merci de mettre à jour votre DUME."},
    # The vendor's updated self-declaration (web/applications.py): a complete form, so only access decides.
    "POST /app/candidatures/{request_id}/dume": {"aucune_exclusion": "oui", "obligations_a_jour": "oui",
                                                 "representant": "Hortense Dumas"},
    "POST /app/editeurs/{organisation_id}/admissions/{request_id}/suspendre": {"reasons": "Attestation expirée."},
    "POST /app/editeurs/{organisation_id}/admissions/{request_id}/exclure": {"reasons": "Motif d'exclusion constaté."},
    "POST /app/besoins/{need_id}/publier": {"echeance": "2030-01-15T09:00", "critere": "Prix", "poids": "40"},
    "POST /admission-requests/{request_id}/extend": {"reasons": "Références à vérifier auprès des clients."},
    "POST /admission-requests/{request_id}/reject": {"reasons": "Capacités techniques insuffisantes."},
    "POST /dps/{dps_id}/cancel": {"reasons": "Besoin redéfini."},
    "POST /dps/{dps_id}/sandbox/fast-forward": {"days": 30},
    "POST /dps/{dps_id}/terminate": {"reasons": "Fin anticipée."},
    "POST /dps/{dps_id}/validity": {"validityEnd": (datetime.now(UTC) + timedelta(days=5 * 365)).isoformat(),
                                    "reasons": "Prolongation."},
    "POST /specific-contracts/{contract_id}/questions": {"question": "La reprise des données est-elle incluse ?"},
    "POST /specific-contracts/{contract_id}/conflict-declarations": {"hasConflict": False,
                                                                      "statement": "Aucun lien."},
    "PUT /offers/{offer_id}/scores": {"scores": [{"criterion": "Prix", "score": 50, "comment": "Moyen."}]},
    "POST /offers/{offer_id}/rejection": {"grounds": "irregular", "reasons": "Pièce manquante."},
    "POST /specific-contracts/{contract_id}/reasons-requests": {"request": "Pourquoi ?"},
    "POST /reasons-requests/{reasons_request_id}/answer": {"answer": "Parce que."},
    "POST /clarifications/{thread_id}/messages": {"body": "Une précision."},
    "POST /offers/{offer_id}/abnormally-low/justification": {"text": "Licence mutualisée."},
    "POST /offers/{offer_id}/abnormally-low/decision": {"accepted": False, "reasons": "Justification insuffisante."},
    "POST /specific-contracts/{contract_id}/cancellation": {"reasons": "Besoin redéfini."},
    "POST /specific-contracts/{contract_id}/committee": {"holderInvited": True},
    "PUT /dps/{dps_id}/conduct-mode": {"conductMode": "intermediation"},
    "POST /specific-contracts/{contract_id}/late-admissions": {
        "vendorOrganisationId": str(uuid.uuid4()), "reasons": "Dépôts bloqués.", "attemptIds": [str(uuid.uuid4())],
        "depositUntil": (datetime.now(UTC) + timedelta(days=30)).isoformat()},
    "POST /contracts/{contract_id}/cancellation": {"reasons": "L'attributaire renonce."},
    "POST /contracts/{contract_id}/termination": {"kind": "terminated_early", "reasons": "Résiliation."},
    "POST /funding-calls/{call_id}/projects/{need_id}/rejection": {"reasons": "Hors des priorités régionales."},
    "POST /needs/{need_id}/funding/tranches/{position}/request": {},
    "POST /needs/{need_id}/funding/tranches/{position}/refusal": {"reasons": "Procès-verbal illisible."},
    "POST /needs/{need_id}/funding/tranches/{position}/payment": {"paidOn": "2026-01-05", "amountCents": 400_000,
                                                                  "reference": "VIR-MATRIX"},
    "POST /sons/orders/{order_id}/amendments": {"amountCents": 0},
    "POST /sons/orders/{order_id}/cancellation": {"swornStatement": "Changement d'éditeur."},
    "POST /sons/asp-requests/{request_id}/statuses": {"status": "VALIDATED"},
    "POST /app/sons/commandes/{order_id}/annulation": {"sworn_statement": "Changement d'éditeur."},
    "POST /app/sons/demandes-asp/{request_id}/statuts": {"status": "VALIDATED"},
    "POST /app/sons/commandes/{order_id}/avenants": {"montant": "0"},

    "POST /specific-contracts/{contract_id}/questions/{question_id}/answer": {"answer": "Oui."},
    # The evaluation and award pages' forms, filled as their API routes' bodies.
    "POST /app/marches/{contract_id}/evaluation/declaration": {"conflit": "non", "declaration": "Aucun lien."},
    "POST /app/marches/{contract_id}/evaluation/offres/{offer_id}/notes": {"critere": "Prix", "note": "50",
                                                                            "commentaire": "Moyen."},
    "POST /app/marches/{contract_id}/evaluation/offres/{offer_id}/eclaircissements": {
        "sujet": "Précisions", "question": "Une question ?",
        "echeance": (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")},
    "POST /app/marches/{contract_id}/evaluation/offres/{offer_id}/offre-anormalement-basse": {
        "motifs": "Prix anormalement bas.",
        "echeance": (datetime.now(UTC) + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")},
    "POST /app/marches/{contract_id}/attribution": {"offre": str(uuid.uuid4()), "motifs": "Meilleure offre.",
                                                    "suspension": "non"},
    "POST /app/marches/{contract_id}/contrat": {"montant": "10 000,01"},
    "POST /admission-requests/{request_id}/suspend": {"reasons": "Attestation d'assurance expirée."},
    "POST /admission-requests/{request_id}/exclude": {"reasons": "Motif d'exclusion constaté."},
    "POST /admission-requests/{request_id}/declaration-request": {"message": "Merci de mettre à jour votre DUME."},
    "PUT /admission-requests/{request_id}/self-declaration": {
        "noExclusionGrounds": True, "taxAndSocialObligationsMet": True, "legalRepresentative": "Léa Fontaine"},
}

_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "trace"}  # HEAD and OPTIONS are the framework's
_TOKEN_IN_MAIL = re.compile(r"code d'invitation : (\S+)")


def _template(path: str) -> str:
    """`/organisations/{organisation_id:uuid}` → `/organisations/{organisation_id}`, as in OpenAPI."""
    return re.sub(r"\{(\w+):[^}]+\}", r"{\1}", path)


def app_routes(app: Litestar) -> set[str]:
    """`METHOD /path` of every route: the OpenAPI document's operations, plus any declared route it hides."""
    routes = {f"{method.upper()} {path}" for path, item in app.openapi_schema.to_schema()["paths"].items()
              for method in item if method in _HTTP_METHODS}
    routes |= {f"{method} {_template(path)}" for method, path, _ in route_inventory(app)
               if method.lower() in _HTTP_METHODS and not path.startswith(FRAMEWORK_PREFIXES)}
    return routes


def compare_with_expectations(app: Litestar, expectations: Mapping[str, object] = EXPECTATIONS,
                              ) -> tuple[list[str], list[str]]:
    """(routes without an expectation, expectations without a route)."""
    routes = app_routes(app)
    return sorted(routes - expectations.keys()), sorted(expectations.keys() - routes)


def _principals_for(route: str) -> tuple[str, ...]:
    path = route.split(" ", 1)[1]
    if path.startswith(FUNDING_PREFIXES):
        return CORE_PRINCIPALS + FUNDING_PRINCIPALS
    if path.startswith(SONS_PREFIXES):
        return CORE_PRINCIPALS + SONS_PRINCIPALS + FUNDING_PRINCIPALS
    if FUNDING_OF_NEED.match(path):
        return CORE_PRINCIPALS + OBJECT_PRINCIPALS + FUNDING_PRINCIPALS
    if path.startswith((*DPS_PREFIXES, "/app/admissions", "/app/editeurs", "/app/candidatures")):
        return CORE_PRINCIPALS + DPS_PRINCIPALS
    object_route = "{organisation_id}" in route or path.startswith(NEED_PREFIXES + CONTRACT_PREFIXES + OBJECT_PAGES)
    return CORE_PRINCIPALS + (OBJECT_PRINCIPALS if object_route else ())


def outcome_of(status: int) -> Outcome:
    if status in (401, 403, 404):
        return str(status)
    if status == 405 or status >= 500:
        return f"unexpected {status}"
    return ALLOW


# -- the objects the matrix targets ------------------------------------------------------------------


@dataclass
class Scenario:
    client: AsyncTestClient[Litestar]
    world: World
    db: asyncpg.Connection
    path_values: dict[str, str] = field(default_factory=dict)
    # Values for routes under one first path segment, over `path_values` (`request_id` means two things).
    segment_values: dict[str, dict[str, str]] = field(default_factory=dict)
    refresh_token: str = ""
    funded_need_id: str = ""
    dps_body: dict[str, Any] = field(default_factory=dict)
    admission_body: dict[str, Any] = field(default_factory=dict)
    sons_order_body: dict[str, Any] = field(default_factory=dict)
    # One signed-in browser per principal and its CSRF token, reused by every page call: the login form is rate
    # limited per address (LoginController), and logging in again for each of dozens of page routes would hit it.
    browsers: dict[str, tuple[Browser, str]] = field(default_factory=dict)

    def headers(self, principal: str) -> dict[str, str]:
        person = PERSON[principal]
        return self.world[person].headers if person else {}

    @staticmethod
    def _ok(response: httpx.Response, what: str) -> dict[str, Any]:
        assert response.status_code < 300, f"setup: {what} answered {response.status_code}: {response.text}"
        return response.json() if response.content else {}

    async def invitation_code(self, email: str) -> str:
        """Invite `email` into the holder as its admin; the code is read from the notification mail."""
        holder = self.world.organisations["holder"]
        invitation = self._ok(await self.client.post(
            f"/organisations/{holder}/invitations", headers=self.world["holder_admin"].headers,
            json={"email": email, "roles": ["holder:member"]}), "invitation")
        body = await self.db.fetchval("SELECT body FROM notification WHERE kind = 'accounts.invitation' "
                                      "AND about_id = $1", uuid.UUID(invitation["id"]))
        match = _TOKEN_IN_MAIL.search(body or "")
        assert match, f"setup: no invitation code in {body!r}"
        return match.group(1)

    async def setup(self) -> None:
        holder = self.world.organisations["holder"]
        admin = self.world["holder_admin"].headers
        key = self._ok(await self.client.post(f"/organisations/{holder}/api-keys", headers=admin,
                                                    json={"name": "Key the matrix revokes",
                                                          "roles": ["holder:member"]}), "API key")
        webhook = self._ok(await self.client.post(f"/organisations/{holder}/webhooks", headers=admin,
                                                  json={"url": "https://hooks.example.org/kept"}), "webhook")
        request = self._ok(await self.client.post("/support/requests",
                                                        json=BODIES["POST /support/requests"]), "support")
        # A member of the holder the matrix may modify and deactivate (not a principal of the matrix).
        code = await self.invitation_code("spare.member@example.fr")
        spare = self._ok(await self.client.post("/invitations/accept", json={
            "token": code, "fullName": "Spare Member", "password": PASSWORD}), "spare member")
        me = self._ok(await self.client.get(
            "/auth/me", headers={"Authorization": f"Bearer {spare['accessToken']}"}), "spare /auth/me")
        self.refresh_token = spare["refreshToken"]
        need = self._ok(await self.client.post("/needs", headers=admin, json=NEED_BODY), "need")
        # A notification in the holder member's inbox: an invitation to the holder sent to their address.
        await self.invitation_code(self.world["holder_member"].email)
        inbox = self._ok(await self.client.get("/my/notifications", headers=self.headers("holder_member")), "inbox")
        self.path_values = {"organisation_id": str(holder), "key_id": key["id"], "webhook_id": webhook["id"],
                            "user_id": me["id"],
                            "request_id": request["id"], "need_id": need["id"],
                            "notification_id": inbox["items"][0]["id"]}
        await self.setup_dps()
        await self.setup_open_data()

    async def setup_dps(self) -> None:
        """A published DPS of the `buyer`, and the `vendor`'s draft request with its documents uploaded."""
        self.dps_body = dps_body(datetime.now(UTC))
        buyer, vendor = self.world["buyer_admin"].headers, self.world["vendor_admin"].headers
        dps = self._ok(await self.client.post("/dps", headers=buyer, json=self.dps_body), "DPS")
        self._ok(await self.client.post(f"/dps/{dps['id']}/publish", headers=buyer, json={
            "initialWindowEnd": initial_window_end(datetime.now(UTC)).isoformat()}), "publish")
        category = dps["categories"][0]
        self.admission_body = admission_body(category["id"])
        admission = self._ok(await self.client.post("/admission-requests", headers=vendor,
                                                    json=self.admission_body), "admission request")
        uploaded = [self._ok(await self.upload(admission["id"], rule["kind"], vendor), f"upload {rule['kind']}")
                    for rule in category["requiredDocuments"]]
        document = await self.client.put(
            f"/dps/{dps['id']}/documents", params={"title": "Règlement", "filename": "rc.pdf"},
            content=minimal_pdf("matrix notice"), headers={**buyer, "content-type": "application/pdf"})
        self._ok(document, "publish a DPS document")
        self.path_values |= {"dps_id": dps["id"], "kind": category["requiredDocuments"][0]["kind"],
                             "document_id": document.json()["id"], "quarter": "2026-Q5"}
        self.segment_values["admission-requests"] = {"request_id": admission["id"],
                                                     "document_id": uploaded[0]["id"]}
        # The vendors screens: `organisation_id` is the applying vendor (the holder would be no vendor of the DPS).
        self.segment_values["editeurs"] = {"organisation_id": str(self.world.organisations["vendor"]),
                                           "request_id": admission["id"]}
        # A specific contract of the `buyer` on that DPS, written directly (publishing needs an active DPS).
        now = datetime.now(UTC)
        contract_id = await self.db.fetchval(
            "INSERT INTO specific_contract (id, need_id, dps_id, category_id, buyer_organisation_id, conduct_mode, "
            "dps_organisation_id, holder_organisation_id, status, invited_at, tender_deadline, award_criteria, "
            "created_by, created_at, updated_at) VALUES (gen_random_uuid(), $1, $2, $3, $4, 'centralised', $4, $7, "
            "'open', $5, $6, '[]', 'matrix', $5, $5) RETURNING id",
            uuid.UUID(self.path_values["need_id"]), uuid.UUID(dps["id"]), uuid.UUID(category["id"]),
            self.world.organisations["buyer"], now, now + timedelta(days=11), self.world.organisations["holder"])
        self.path_values["contract_id"] = str(contract_id)
        # Its search document, as publication writes it (tenders/search.py): the public pages show it to anyone.
        await self.db.execute(
            "INSERT INTO need_search (need_id, specific_contract_id, holder_organisation_id, category_id, sector, "
            "delivery_mode, status, departements, cpv_codes, published_at, tender_deadline, document) "
            "VALUES ($1, $2, $3, $4, $5, $6, 'open', '{75}', '{48000000}', $7, $8, "
            "to_tsvector('french_unaccent', 'Mise en conformité du DUI'))",
            uuid.UUID(self.path_values["need_id"]), contract_id, self.world.organisations["holder"],
            uuid.UUID(category["id"]), category["sector"], category["deliveryMode"], now, now + timedelta(days=11))
        question_id = await self.db.fetchval(
            "INSERT INTO contract_question (id, specific_contract_id, vendor_organisation_id, asked_by, question, "
            "asked_at, published, created_at, updated_at) "
            "VALUES (gen_random_uuid(), $1, $2, 'matrix', 'Une question ?', $3, false, $3, $3) RETURNING id",
            contract_id, self.world.organisations["vendor"], now)
        self.path_values["question_id"] = str(question_id)
        offer_id = await self.db.fetchval(
            "INSERT INTO offer (id, specific_contract_id, vendor_organisation_id, version, status, created_by, "
            "wrapped_dek, created_at, updated_at) VALUES (gen_random_uuid(), $1, $2, 1, 'draft', 'matrix', "
            "'\\x00', $3, $3) RETURNING id", contract_id, self.world.organisations["vendor"], now)
        attachment_id = await self.db.fetchval(
            "INSERT INTO offer_attachment (id, offer_id, object_key, sealed_name, content_type, size, sha256, "
            "wrapped_dek, received_started_at, received_at, scan_status, integrity, created_at, updated_at) "
            "VALUES (gen_random_uuid(), $1, 'offers/matrix', '\\x00', 'application/pdf', 1, $2, '\\x00', $3, $3, "
            "'pending', 'unchecked', $3, $3) RETURNING id", offer_id, "0" * 64, now)
        self.path_values |= {"offer_id": str(offer_id), "attachment_id": str(attachment_id),
                             # No request for reasons exists before an award: any id is one the buyer can't see.
                             "reasons_request_id": str(uuid.uuid4())}
        thread_id = await self.db.fetchval(
            "INSERT INTO clarification_thread (id, specific_contract_id, offer_id, buyer_organisation_id, "
            "vendor_organisation_id, subject, status, answer_due_at, opened_by, opened_at, created_at, updated_at) "
            "VALUES (gen_random_uuid(), $1, $2, $3, $4, 'Précisions', 'open', $5, 'matrix', $6, $6, $6) RETURNING id",
            contract_id, offer_id, self.world.organisations["buyer"], self.world.organisations["vendor"],
            now + timedelta(days=3), now)
        message_id = await self.db.fetchval(
            "INSERT INTO clarification_message (id, thread_id, side, body, posted_by, posted_at, created_at, "
            "updated_at) VALUES (gen_random_uuid(), $1, 'vendor', NULL, 'matrix', $2, $2, $2) RETURNING id",
            thread_id, now)
        clarification_file = await self.db.fetchval(
            "INSERT INTO clarification_attachment (id, message_id, thread_id, object_key, filename, content_type, "
            "size, sha256, created_at, updated_at) VALUES (gen_random_uuid(), $1, $2, 'clarifications/matrix', "
            "'precisions.pdf', 'application/pdf', 1, $3, $4, $4) RETURNING id", message_id, thread_id, "0" * 64, now)
        self.segment_values["clarifications"] = {"thread_id": str(thread_id), "attachment_id": str(clarification_file)}
        # The vendors' offer workspace answers a thread under /app/offres (web/offers.py).
        self.path_values["thread_id"] = str(thread_id)
        contract_document = self._ok(await self.contract_document(buyer), "a contract document")
        self.segment_values["specific-contracts"] = {"document_id": contract_document["id"]}
        self.segment_values["contracts"] = {"side": "buyer"}
        await self.setup_funding()
        await self.setup_sons()

    async def setup_sons(self) -> None:
        """The operator's dispositif (its ceiling table written directly, as the import command writes it), the
        `vendor`'s referenced solution and enrolment (through the API), its draft order for the `holder` (through the
        API) and an advance request of it (written directly: filing one needs a signed order)."""
        now = datetime.now(UTC)
        days = {"referencingOpensAt": -400, "referencingClosesAt": 400, "proofFileDeadline": 300,
                "orderDeadline": 30, "advanceDeadline": 60, "deploymentDeadline": 200, "balanceDeadline": 300}
        calendar = {name: (now + timedelta(days=d)).isoformat() for name, d in days.items()} | {
            "afVersion": "AF-MATRIX", "advanceRatioBp": 3000, "preReferencingDays": 120}
        platform, vendor = self.world["platform_admin"].headers, self.world["vendor_admin"].headers
        dispositif = self._ok(await self.client.post("/sons/dispositifs", headers=platform, json={
            "code": "MS1-DUI-PA-PH-DOM", "wave": 1, "label": "Matrice", "legalBasis": "Arrêté du 2 février 2022",
            "acceptanceKind": "VA", "calendar": calendar}), "SONS dispositif")
        table_id = await self.db.fetchval(
            "INSERT INTO sons_ceiling_table (id, dispositif_id, version, source, sha256, imported_at, created_at, "
            "updated_at) VALUES (gen_random_uuid(), $1, 'matrix', 'matrix', $2, $3, $3, $3) RETURNING id",
            uuid.UUID(dispositif["id"]), "0" * 64, now)
        await self.db.execute(
            "INSERT INTO sons_ceiling (id, table_id, tranche, label, ceiling_ht_cents, vat_rate_bp, created_at, "
            "updated_at) VALUES (gen_random_uuid(), $1, 'T1', 'Matrice', 1500000, 2000, $2, $2)", table_id, now)
        solution = self._ok(await self.client.post("/sons/solutions", headers=vendor, json={
            "dispositifId": dispositif["id"], "name": "DUI matrice", "version": "1.0",
            "installationScenarios": ["on-premise"], "referencingNumber": "ANS-MATRIX",
            "referencedOn": (now - timedelta(days=30)).date().isoformat()}), "SONS solution")
        self._ok(await self.client.post("/sons/enrolments", headers=vendor, json={
            "iban": "FR7630006000011234567890189", "vatStatus": "liable", "enrolmentReference": "ASP-MATRIX",
            "referencingNumber": "ANS-MATRIX"}), "SONS enrolment")
        self.sons_order_body = {
            "orderRef": "BDC-MATRIX", "holderOrganisationId": str(self.world.organisations["holder"]),
            "solutionId": solution["id"], "installationScenario": "on-premise", "tranche": "T1",
            "amountHtCents": 1_000_000, "vatRateBp": 2000, "amountTtcCents": 1_200_000,
            "sites": [{"finessEt": "750000010"}]}
        order = self._ok(await self.client.post("/sons/orders", headers=vendor, json=self.sons_order_body),
                         "SONS order")
        request_id = await self.db.fetchval(
            "INSERT INTO sons_asp_request (id, order_id, kind, position, amount_cents, status, filed_by, filed_at, "
            "created_at, updated_at) VALUES (gen_random_uuid(), $1, 'advance', 0, 360000, 'REQUESTED', 'matrix', $2, "
            "$2, $2) RETURNING id", uuid.UUID(order["id"]), now)
        self.segment_values["sons"] = {"dispositif_id": dispositif["id"], "solution_id": solution["id"],
                                       "order_id": order["id"], "request_id": str(request_id)}

    async def setup_funding(self) -> None:
        """A call of the `funder` (through the API), and a need of the `holder` filed to it and selected, with its
        decision, its three tranches and the first one requested with its evidence (written directly: a submitted
        need needs the programme rules met, which the matrix's draft is not)."""
        call = self._ok(await self.client.post("/funding-calls", headers=self.world["funder_admin"].headers,
                                               json=self.call_body()), "funding call")
        now = datetime.now(UTC)
        need_id = await self.db.fetchval(
            "INSERT INTO need SELECT (jsonb_populate_record(NULL::need, to_jsonb(n) || jsonb_build_object("
            "'id', gen_random_uuid(), 'status', 'submitted', 'call_id', CAST($2 AS uuid), 'funding_status', "
            "'selected', 'funding_filed_at', CAST($3 AS timestamptz)))).* FROM need n WHERE n.id = $1 RETURNING id",
            uuid.UUID(self.path_values["need_id"]), uuid.UUID(call["id"]), now)
        decision_id = await self.db.fetchval(
            "INSERT INTO funding_decision (id, need_id, call_id, outcome, amount_cents, decided_on, reference, "
            "object_key, document_filename, document_size, document_sha256, decided_by, decided_at, created_at, "
            "updated_at) VALUES (gen_random_uuid(), $1, $2, 'selected', 1000000, $3, 'DEC-MATRIX', "
            "'funding/matrix-decision', 'decision.pdf', 1, $4, 'matrix', $5, $5, $5) RETURNING id",
            need_id, uuid.UUID(call["id"]), now.date(), "0" * 64, now)
        tranche_ids = [await self.db.fetchval(
            "INSERT INTO grant_tranche (id, decision_id, need_id, position, kind, percent, amount_cents, status, "
            "created_at, updated_at) VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6, 'pending', $7, $7) "
            "RETURNING id", decision_id, need_id, position, kind, percent, cents, now)
            for position, kind, percent, cents in ((1, "start", 40, 400_000), (2, "acceptance_testing", 40, 400_000),
                                                   (3, "usage_verified", 20, 200_000))]
        await self.db.execute(
            "INSERT INTO tranche_request (id, tranche_id, status, object_key, filename, content_type, size, sha256, "
            "uploaded_by, uploaded_at, requested_by, requested_at, created_at, updated_at) VALUES (gen_random_uuid(), "
            "$1, 'requested', 'funding/matrix-evidence', 'reunion-de-lancement.pdf', 'application/pdf', 1, $2, "
            "'matrix', $3, 'matrix', $3, $3, $3)", tranche_ids[0], "0" * 64, now)
        await self.db.execute("UPDATE grant_tranche SET status = 'requested' WHERE id = $1", tranche_ids[0])
        self.path_values |= {"call_id": call["id"], "position": "1"}
        self.funded_need_id = str(need_id)
        self.segment_values["funding-calls"] = {"need_id": self.funded_need_id}

    async def setup_open_data(self) -> None:
        """The OCDS releases of the published DPS, stored as the worker's job does (marketplace/opendata/jobs.py): its
        ocid is the record the matrix reads."""
        state = self.client.app.state
        engine = create_async_engine(state.settings.database_url)
        try:
            async with async_sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
                service = OcdsService(session, state.clock, state.settings)
                await service.sync()
                releases = await service.releases(limit=1)
        finally:
            await engine.dispose()
        assert releases, "setup: no OCDS release of the published DPS"
        self.segment_values["ocds"] = {"ocid": releases[0].ocid}

    def call_body(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {"title": "Appel à projets de la matrice", "reference": "AAP-MATRIX", "campaign": 2025,
                "opensAt": (now - timedelta(days=1)).isoformat(), "closesAt": (now + timedelta(days=60)).isoformat(),
                "envelopeCents": 10**10}

    async def contract_document(self, headers: dict[str, str]) -> httpx.Response:
        return await self.client.put(
            f"/specific-contracts/{self.path_values['contract_id']}/documents",
            params={"title": "Cahier des charges", "filename": "cctp.pdf", "reason": "Publication"},
            content=minimal_pdf("matrix cctp"), headers={**headers, "content-type": "application/pdf"})

    async def upload(self, request_id: str, kind: str, headers: dict[str, str]) -> httpx.Response:
        return await self.client.put(f"/admission-requests/{request_id}/documents/{kind}",
                                     params={"filename": f"{kind}.pdf", "validUntil": VALID_UNTIL},
                                     content=minimal_pdf(f"matrix {kind}"),
                                     headers={**headers, "content-type": "application/pdf"})

    def url(self, route: str) -> str:
        _, template = route.split(" ", 1)
        segment = template.split("/")[1]
        if segment == "app" and template.count("/") > 1:  # a page: its values are those of the API's objects
            segment = PAGE_SEGMENTS.get(template.split("/")[2], segment)
        values = {**self.path_values, **self.segment_values.get(segment, {})}
        if FUNDING_OF_NEED.match(template):
            values["need_id"] = self.funded_need_id
        unknown = set(re.findall(r"\{(\w+)\}", template)) - values.keys()
        assert not unknown, f"{route}: give Scenario.setup a value for path parameter(s) {sorted(unknown)}"
        return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)

    async def page(self, route: str, principal: str) -> httpx.Response:
        """Pages authenticate by their cookie session, never by a bearer token: the principal logs in through the
        form first, in a browser of its own, and sends the CSRF token on unsafe methods. A page answers a caller
        who isn't signed in with a redirect to the login form: that is its 401."""
        method, path = route.split(" ", 1)
        # The login and logout routes change the session itself: a browser of their own.
        reuse = route not in ("POST /app/connexion", "POST /app/deconnexion")
        if reuse and principal in self.browsers:
            web, token = self.browsers[principal]
        else:
            web = Browser(self.client)
            person = PERSON[principal]
            if person:
                signed_in = await web_login(web, email_of(person))
                assert signed_in.status_code == 303, f"setup: {person} could not log in: {signed_in.text[:200]}"
            token = csrf_token((await web.get("/app/connexion")).text)
            if reuse:
                self.browsers[principal] = (web, token)
        data = {"_csrf_token": token, **BODIES.get(route, {})}  # a page's form fields, so only access decides
        if route == "POST /app/connexion":
            data |= {"email": email_of("holder_member"), "password": PASSWORD}
        path = "/app/static/css/app.css" if "{file_path}" in path else self.url(route)
        response = await web.request(method, path,
                                     data=data if method == "POST" else None)
        location = response.headers.get("location", "")
        if response.status_code == 303 and location.split("?")[0] == "/app/connexion" \
                and "fin=deconnexion" not in location:
            return httpx.Response(401, text=f"redirected to {location}", request=response.request)
        return response

    async def call(self, route: str, principal: str) -> httpx.Response:
        method = route.split(" ", 1)[0]
        if route.split(" ", 1)[1].startswith("/app"):
            return await self.page(route, principal)
        if route == UPLOAD_ROUTE:
            # A raw PDF body, as a real upload (JSON would be refused as the wrong type, still ALLOW).
            request_id = self.segment_values["admission-requests"]["request_id"]
            return await self.upload(request_id, self.path_values["kind"], self.headers(principal))
        if route == "PUT /dps/{dps_id}/documents":
            # A real document (so the query and type checks pass and only access decides).
            return await self.client.put(self.url(route), params={"title": "Règlement", "filename": "rc.pdf"},
                                         content=minimal_pdf("matrix rc"),
                                         headers={**self.headers(principal), "content-type": "application/pdf"})
        if route == "PUT /specific-contracts/{contract_id}/documents":
            return await self.contract_document(self.headers(principal))
        if route == "PUT /clarifications/{thread_id}/attachments":
            return await self.client.put(self.url(route), content=minimal_pdf("matrix clarification"), headers={
                **self.headers(principal), "content-type": "application/pdf", "x-filename": "precisions.pdf"})
        if route == "POST /funding-calls/{call_id}/projects/{need_id}/selection":
            return await self.client.post(self.url(route), content=minimal_pdf("matrix decision"), params={
                "amountCents": 100, "decidedOn": datetime.now(UTC).date().isoformat(), "reference": "DEC-2"},
                headers={**self.headers(principal), "content-type": "application/pdf"})
        if route == "PUT /needs/{need_id}/funding/tranches/{position}/evidence":
            return await self.client.put(self.url(route), content=minimal_pdf("matrix evidence"), headers={
                **self.headers(principal), "content-type": "application/pdf", "x-filename": "lancement.pdf"})
        if route in ("PUT /sons/orders/{order_id}/signature", "PUT /sons/orders/{order_id}/acceptance"):
            # Its required query, so that only access decides (the PDF is not signed: 415 naming G16, ALLOW).
            return await self.client.put(self.url(route), content=minimal_pdf("matrix order"),
                                         params={"signatoryName": "Matrice", "method": "eidas"},
                                         headers={**self.headers(principal), "content-type": "application/pdf"})
        if route == "PUT /offers/{offer_id}/attachments":
            return await self.client.put(self.url(route), content=minimal_pdf("matrix offer"), headers={
                **self.headers(principal), "content-type": "application/pdf", "x-filename": "offre.pdf"})
        # A download answers with a redirect to object storage: the redirect itself is the outcome.
        return await self.client.request(method, self.url(route), headers=self.headers(principal),
                                         json=await self.body(route), follow_redirects=False)

    async def body(self, route: str) -> Any:
        if route == "POST /auth/refresh":
            return {"refreshToken": self.refresh_token}
        if route == "POST /invitations/accept":
            # An existing account (created by the first acceptance) joining again: a fresh code each time.
            return {"token": await self.invitation_code("invitee@example.fr"), "fullName": "Invitee",
                    "password": PASSWORD}
        if route == "POST /dps":
            return self.dps_body
        if route == "POST /sons/orders":
            return self.sons_order_body | {"orderRef": f"BDC-{uuid.uuid4().hex[:8]}"}
        if route == "POST /admission-requests":
            return self.admission_body
        if route == "POST /needs/{need_id}/publish":
            return {"dpsId": self.path_values["dps_id"],
                    "tenderDeadline": (datetime.now(UTC) + timedelta(days=11)).isoformat(),
                    "awardCriteria": [{"name": "Prix", "weight": 40}, {"name": "Valeur technique", "weight": 60}]}
        if route == "POST /specific-contracts/{contract_id}/questions-deadline":
            return {"closesAt": (datetime.now(UTC) + timedelta(days=5)).isoformat()}
        if route == "POST /my/opener-keys":
            return {"organisationId": str(self.world.organisations["buyer"]),
                    "passphrase": "une phrase de passe du tableau"}
        if route == "POST /specific-contracts/{contract_id}/opening":
            return {"openers": [{"openerKeyId": str(uuid.uuid4()), "passphrase": "une phrase de passe du tableau"}]}
        if route == "POST /specific-contracts/{contract_id}/award":
            return {"offerId": self.path_values["offer_id"], "reasons": "Meilleure offre."}
        if route == "POST /offers/{offer_id}/abnormally-low":
            return {"reasons": "Prix anormalement bas.",
                    "justificationDueAt": (datetime.now(UTC) + timedelta(days=5)).isoformat()}
        if route == "POST /specific-contracts/{contract_id}/contract":
            return {"amountCents": 1_000_001}
        if route == "POST /contracts/{contract_id}/modifications":
            return {"reason": "Avenant", "amountCents": 1_200_000}
        if route == "POST /offers/{offer_id}/uploads":
            return {"filename": "offre.pdf", "size": 10, "sha256": "0" * 64}
        if route == "POST /offers/{offer_id}/uploads/{attachment_id}/complete":
            return {"key": "a2V5"}
        if route == "PUT /offers/{offer_id}/parts":
            return {"priceSchedule": [{"item": "Licence", "quantity": 1, "unitPriceCents": 100}],
                    "answers": [{"criterion": "Prix", "answer": "Ferme"}]}
        if route == "POST /offers/{offer_id}/clarifications":
            return {"subject": "Précisions", "body": "Une question ?",
                    "answerDueAt": (datetime.now(UTC) + timedelta(days=3)).isoformat()}
        if route == "POST /specific-contracts/{contract_id}/deadline":
            return {"tenderDeadline": (datetime.now(UTC) + timedelta(days=20)).isoformat(), "reason": "Report"}
        if route == "POST /funding-calls":
            return self.call_body()
        if route == "POST /funding-calls/{call_id}/versions":
            body = self.call_body()
            return {"opensAt": body["opensAt"], "closesAt": body["closesAt"], "envelopeCents": body["envelopeCents"],
                    "reason": "Report de la clôture."}
        if route == "POST /needs/{need_id}/filing":
            return {"callId": self.path_values["call_id"]}
        if route == "POST /dps/{dps_id}/publish":
            return {"initialWindowEnd": initial_window_end(datetime.now(UTC)).isoformat()}
        return BODIES.get(route)

    def after(self, route: str, response: httpx.Response) -> None:
        if route == "POST /auth/refresh" and response.status_code == 200:
            self.refresh_token = response.json()["refreshToken"]  # the one sent is spent


# -- tests ---------------------------------------------------------------------------------------------


def test_every_route_has_expectations(app: Litestar) -> None:
    missing, stale = compare_with_expectations(app)
    problems = [f"add an expectation for {route}" for route in missing]
    problems += [f"remove the expectation for {route}: the app has no such route" for route in stale]
    assert not problems, "EXPECTATIONS is out of date:\n  " + "\n  ".join(problems)
    wrong_shape = [f"{route}: principals {sorted(cells)}, expected {sorted(_principals_for(route))}"
                   for route, cells in EXPECTATIONS.items() if set(cells) != set(_principals_for(route))]
    assert not wrong_shape, "\n".join(wrong_shape)
    bad = {outcome for cells in EXPECTATIONS.values() for outcome in cells.values()} - {A, U, F, N}
    assert not bad, f"unknown outcomes {bad}"


def test_a_route_without_expectation_is_reported(settings: Settings) -> None:
    @get("/matrix-probe", opt=public("A route no expectation covers."))
    async def probe() -> str:
        return "new"

    app = create_app(settings, run_relay=False)
    assert compare_with_expectations(app) == ([], [])
    app.register(probe)
    assert compare_with_expectations(app) == (["GET /matrix-probe"], [])
    # And the other way round: an expectation for a route that is gone.
    gone = {**EXPECTATIONS, "GET /matrix-gone": row(A, A, A, A, A)}
    assert compare_with_expectations(app, gone) == (["GET /matrix-probe"], ["GET /matrix-gone"])


def test_declarations_agree_with_the_matrix(app: Litestar) -> None:
    """The table can't contradict `opt["access"]`: public → anonymous ALLOW; authenticated → anonymous
    401; a principal holding none of the required roles (in any organisation) → 403."""
    roles_of = {principal: {role.value for role in PEOPLE[person][1]}
                for principal, person in PERSON.items() if person}
    contradictions = []
    for method, path, access in route_inventory(app):
        route = f"{method} {_template(path)}"
        if route not in EXPECTATIONS or access is None:
            continue  # reported by test_every_route_has_expectations / test_route_inventory
        cells = EXPECTATIONS[route]
        anonymous = ALLOW if access.audience == "public" else U
        if cells["anonymous"] != anonymous:
            contradictions.append(f"{route} is {access.audience}: anonymous must be {anonymous}, "
                                  f"the table says {cells['anonymous']}")
        for principal, outcome in cells.items():
            held = roles_of.get(principal)
            if access.roles and held is not None and not held & set(access.roles) and outcome != F:
                contradictions.append(f"{route} requires {', '.join(access.roles)}: {principal} holds none, "
                                      f"so 403, the table says {outcome}")
    assert not contradictions, "\n".join(contradictions)


async def test_role_route_matrix(client: AsyncTestClient[Litestar], world: World, settings: Settings) -> None:
    db = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        scenario = Scenario(client, world, db)
        await scenario.setup()
        mismatches: list[tuple[str, str, str, str, str]] = []
        for route, cells in EXPECTATIONS.items():
            for principal in (p for p in CALL_ORDER if p in cells):
                response = await scenario.call(route, principal)
                scenario.after(route, response)
                got = outcome_of(response.status_code)
                if got != cells[principal]:
                    mismatches.append((route, principal, cells[principal], f"{got} ({response.status_code})",
                                       response.text[:160].replace("\n", " ")))
    finally:
        await db.close()
    if mismatches:
        table = [("route", "principal", "expected", "got", "body"), *mismatches]
        widths = [max(len(line[i]) for line in table) for i in range(4)]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(line[:4], widths, strict=True)) + "  " + line[4]
                 for line in table]
        raise AssertionError(f"{len(mismatches)} cell(s) of the role × route matrix differ:\n" + "\n".join(lines))
