"""Vendors' self-service: the admission application with its documents and receipt, the invitations to specific
contracts.

Every page and act calls the service its API route calls (vendors/controllers.py, tenders/controllers.py): the
application is `AdmissionService.apply` (POST /admission-requests), a document `AdmissionDocumentService.
upload_document` (PUT /admission-requests/{id}/documents/{kind}: the same streaming, sniffing and the category's
size and type rules, here from a multipart form), the submission `AdmissionService.submit` (its receipt, D6), the
updated self-declaration `AdmissionService.update_declaration` (D11), the invitations `SpecificContractService.
my_invitations` (GET /my/invitations, each read on its contract's clock, HC5/HC6). The lists are the vendor's own
(`AdmissionService.for_vendor`, `file_for_vendor`): another vendor's request is a 404, a buyer's role a 403.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from marketplace.accounts.roles import VENDOR_MEMBERS, VENDOR_WRITERS
from marketplace.errors import RuleViolation
from marketplace.lib.access import requires
from marketplace.tenders.contracts import SpecificContractService
from marketplace.tenders.deps import provide_contract_service
from marketplace.vendors import schemas
from marketplace.vendors.admissions import AdmissionService
from marketplace.vendors.deps import provide_admission_document_service, provide_admission_service, provide_dps_service
from marketplace.vendors.documents import AdmissionDocumentService
from marketplace.vendors.dps import DpsService
from marketplace.vendors.states import DPS_ACCEPTS_REQUESTS, AdmissionStatus
from marketplace.web.admissions import STATUS_LABELS
from marketplace.web.contracts import STATUS_LABELS as CONTRACT_STATUS_LABELS
from marketplace.web.pages import BASE_DEPENDENCIES, Caller, Viewer, done
from marketplace.web.security import PREFIX

BASE = f"{PREFIX}/candidatures"
INVITATIONS = f"{PREFIX}/invitations"
_READERS = "The vendor's people (admin, bid manager, member): its own requests and invitations."
_WRITERS = "The applying vendor's admin or bid manager, as the API's admission routes."
# The largest document a category's rule may allow (schemas.DocumentRule.max_bytes), plus the form's other fields.
_UPLOAD_MAX = 200 * 1024 * 1024 + 1024 * 1024
_AT_FIELD = re.compile(r"at `\$\.([A-Za-z0-9_.\[\]]+)`")
# The states in which the vendor may change its self-declaration unasked (AdmissionService.update_declaration).
_DECLARATION_EDITABLE = (AdmissionStatus.DRAFT, AdmissionStatus.AWAITING_DOCUMENTS)
_DECLARATION_ASKABLE = (AdmissionStatus.ADMITTED, AdmissionStatus.SUSPENDED)
# Documents are received in these (AdmissionDocumentService.upload_document); the form is offered there only.
_DOCUMENTS_OPEN = (AdmissionStatus.DRAFT, AdmissionStatus.AWAITING_DOCUMENTS, AdmissionStatus.ADMITTED,
                   AdmissionStatus.SUSPENDED)
_SUBMITTABLE = (AdmissionStatus.DRAFT, AdmissionStatus.AWAITING_DOCUMENTS)

Admissions = NamedDependency[AdmissionService]
Documents = NamedDependency[AdmissionDocumentService]
Dps = NamedDependency[DpsService]
Contracts = NamedDependency[SpecificContractService]
Form = RequestEncodingType.URL_ENCODED


# Every field has a default, so that a form missing one reaches the service (after the object check) and the
# refusal names it, rather than a bare 400.
class DeclarationForm(msgspec.Struct):
    """The self-declaration (DUME essentials, schemas.SelfDeclaration) as form fields."""

    aucune_exclusion: str = ""
    obligations_a_jour: str = ""
    representant: Annotated[str, msgspec.Meta(max_length=300)] = ""
    chiffre_affaires: Annotated[str, msgspec.Meta(max_length=40)] = ""
    effectif: Annotated[str, msgspec.Meta(max_length=40)] = ""
    references: Annotated[str, msgspec.Meta(max_length=20_000)] = ""


class ApplicationForm(DeclarationForm):
    categorie: Annotated[str, msgspec.Meta(max_length=40)] = ""
    logiciel: Annotated[str, msgspec.Meta(max_length=300)] = ""
    version: Annotated[str, msgspec.Meta(max_length=100)] = ""
    referencement: Annotated[str, msgspec.Meta(max_length=100)] = ""
    dispositif: Annotated[str, msgspec.Meta(max_length=100)] = ""


class DocumentForm(msgspec.Struct):
    fichier: UploadFile | None = None
    valide_jusqu_au: Annotated[str, msgspec.Meta(max_length=20)] = ""


def _number(text: str) -> str | None:
    cleaned = re.sub(r"[\s\u00a0\u202f€]", "", text)
    return cleaned or None


def _declaration(form: DeclarationForm) -> dict[str, Any]:
    return {"noExclusionGrounds": form.aucune_exclusion == "oui",
            "taxAndSocialObligationsMet": form.obligations_a_jour == "oui",
            "legalRepresentative": form.representant.strip(),
            "annualTurnoverEur": _number(form.chiffre_affaires), "staffCount": _number(form.effectif),
            "references": [line.strip() for line in form.references.splitlines() if line.strip()]}


def _to_schema(schema: type[msgspec.Struct], values: dict[str, Any]) -> Any:
    """The API's own body, checked by the API's constraints; a value they refuse names its field (camelCase, as
    the API's problem body names it)."""
    try:
        return msgspec.convert(values, schema, strict=False)
    except msgspec.ValidationError as exc:
        found = _AT_FIELD.search(str(exc))
        field = found.group(1) if found else None
        raise RuleViolation(f"{field or 'formulaire'}: {exc}", field=field) from exc


def _valid_until(text: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise RuleViolation("validUntil: une date (AAAA-MM-JJ)", field="validUntil") from exc


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(1024 * 1024):
        yield chunk


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - an empty body


class ApplicationPagesController(Controller):
    path = BASE
    dependencies = {**BASE_DEPENDENCIES,
                    "admissions": Provide(provide_admission_service, sync_to_thread=False),
                    "admission_documents": Provide(provide_admission_document_service, sync_to_thread=False),
                    "dps_service": Provide(provide_dps_service, sync_to_thread=False)}

    @get("/", opt=requires(*VENDOR_MEMBERS, reason=_READERS), name="web.applications.list")
    async def index(self, principal: Caller, viewer: Viewer, admissions: Admissions, dps_service: Dps) -> Template:
        published = await dps_service.list_public(limit=200, offset=0)
        return Template("applications_list.html", context={
            "viewer": viewer, "title": "Candidatures", "items": await admissions.for_vendor(principal),
            "open_dps": [d for d in published.items if d.status in DPS_ACCEPTS_REQUESTS],
            "labels": STATUS_LABELS, "can_apply": bool(principal.organisations_with(*VENDOR_WRITERS))})

    @post("/", opt=requires(*VENDOR_WRITERS, reason=_WRITERS), status_code=303, name="web.applications.apply")
    async def apply(self, request: Request[Any, Any, Any], principal: Caller, admissions: Admissions,
                    data: Annotated[ApplicationForm, Body(media_type=Form)]) -> Redirect:
        """As POST /admission-requests: a draft, to which the documents are then added."""
        body = _to_schema(schemas.AdmissionCreate, {
            "categoryId": data.categorie or None, "selfDeclaration": _declaration(data),
            "referencedSoftware": {"software": data.logiciel.strip(), "version": data.version.strip(),
                                   "referencingId": data.referencement.strip(),
                                   "dispositif": data.dispositif.strip()}})
        created = await admissions.apply(principal, body)
        return done(request, f"{BASE}/{created.id}",
                    "La candidature est enregistrée en brouillon : déposez les pièces exigées, puis transmettez-la.")

    @get("/{request_id:uuid}", opt=requires(*VENDOR_MEMBERS, reason=_READERS), name="web.applications.show")
    async def show(self, request_id: FromPath[uuid.UUID], principal: Caller, viewer: Viewer,
                   admissions: Admissions) -> Template:
        file = await admissions.file_for_vendor(principal, request_id)
        status = file.request.status
        return Template("applications_detail.html", context={
            "viewer": viewer, "title": f"Candidature — {file.category_title}", "file": file,
            "labels": STATUS_LABELS, "base": f"{BASE}/{request_id}",
            "acts": {"documents": status in _DOCUMENTS_OPEN, "submit": status in _SUBMITTABLE,
                     "declaration": status in _DECLARATION_EDITABLE or (
                         status in _DECLARATION_ASKABLE and file.declaration_requested_at is not None)}})

    @get("/{request_id:uuid}/documents/{document_id:uuid}", opt=requires(*VENDOR_MEMBERS, reason=_READERS),
         name="web.applications.document", status_code=307)
    async def document(self, request_id: FromPath[uuid.UUID], document_id: FromPath[uuid.UUID], principal: Caller,
                       admission_documents: Documents) -> Redirect:
        # As GET /admission-requests/{id}/documents/{id}/download: a short-lived link, each one audited.
        return Redirect(await admission_documents.admission_document_url(principal, request_id, document_id),
                        status_code=307)

    @post("/{request_id:uuid}/pieces/{kind:str}", opt=requires(*VENDOR_WRITERS, reason=_WRITERS), status_code=303,
          name="web.applications.upload", request_max_body_size=_UPLOAD_MAX)
    async def upload(self, request: Request[Any, Any, Any], request_id: FromPath[uuid.UUID], kind: FromPath[str],
                     principal: Caller, admission_documents: Documents,
                     data: Annotated[DocumentForm, Body(media_type=RequestEncodingType.MULTI_PART)]) -> Redirect:
        """As PUT /admission-requests/{id}/documents/{kind}, the file sent as a form field. No file chosen is no
        declared type: the service refuses it by the document's rule (its accepted types), after its object check."""
        upload = data.fichier
        chosen = upload is not None and bool(upload.filename)
        document = await admission_documents.upload_document(
            principal, request_id, kind, filename=upload.filename if upload and chosen else "",
            declared_type=upload.content_type if upload and chosen else "", declared_size=None,
            body=_chunks(upload) if upload and chosen else _nothing(), valid_until=_valid_until(data.valide_jusqu_au))
        return done(request, f"{BASE}/{request_id}",
                    f"Pièce reçue : {document.filename} ({document.size} octets, SHA-256 {document.sha256}).")

    @post("/{request_id:uuid}/soumettre", opt=requires(*VENDOR_WRITERS, reason=_WRITERS), status_code=303,
          name="web.applications.submit")
    async def submit(self, request: Request[Any, Any, Any], request_id: FromPath[uuid.UUID], principal: Caller,
                     admissions: Admissions) -> Redirect:
        """As POST /admission-requests/{id}/submit: the receipt (received at, its hash) is on the request's page."""
        receipt = await admissions.submit(principal, request_id)
        return done(request, f"{BASE}/{request_id}#accuse",
                    f"Candidature transmise : accusé de réception du {receipt.received_at_paris}, "
                    f"empreinte {receipt.receipt_sha256}.")

    @post("/{request_id:uuid}/dume", opt=requires(*VENDOR_WRITERS, reason=_WRITERS), status_code=303,
          name="web.applications.declaration")
    async def declaration(self, request: Request[Any, Any, Any], request_id: FromPath[uuid.UUID], principal: Caller,
                          admissions: Admissions, data: Annotated[DeclarationForm, Body(media_type=Form)]) -> Redirect:
        """As PUT /admission-requests/{id}/self-declaration (D11: when the buyer asked for an update)."""
        await admissions.update_declaration(principal, request_id,
                                            _to_schema(schemas.SelfDeclaration, _declaration(data)))
        return done(request, f"{BASE}/{request_id}", "La déclaration sur l'honneur (DUME) est mise à jour.")


class InvitationPagesController(Controller):
    path = INVITATIONS
    dependencies = {**BASE_DEPENDENCIES, "contracts": Provide(provide_contract_service, sync_to_thread=False)}

    @get("/", opt=requires(*VENDOR_MEMBERS, reason="Members of a vendor: its invitations, as GET /my/invitations."),
         name="web.applications.invitations")
    async def index(self, principal: Caller, viewer: Viewer, contracts: Contracts) -> Template:
        return Template("applications_invitations.html", context={
            "viewer": viewer, "title": "Consultations et offres", "items": await contracts.my_invitations(principal),
            "labels": CONTRACT_STATUS_LABELS})


CONTROLLERS: list[type[Controller]] = [ApplicationPagesController, InvitationPagesController]
