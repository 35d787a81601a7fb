"""Routes of sealed offers: openers' keys, offers and their receipts, the opening."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, Parameter, QueryParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from marketplace.accounts.deps import provide_principal
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import BUYING_SIDE, HOLDER_MEMBERS, OPENERS, VENDOR_MEMBERS, VENDOR_WRITERS
from marketplace.lib.access import public, requires
from marketplace.lib.http import DOWNLOAD_HEADERS, created, download
from marketplace.lib.openapi import raw_body
from marketplace.tenders import schemas
from marketplace.tenders.deps import provide_offer_service, provide_opener_service, provide_opening_service
from marketplace.tenders.offers import OfferService
from marketplace.tenders.openers import OpenerService
from marketplace.tenders.opening import OpeningService
from marketplace.tenders.vault import Vault
from marketplace.uploads import raw_upload

Caller = NamedDependency[Principal]


Offers = NamedDependency[OfferService]
Opening = NamedDependency[OpeningService]
Openers = NamedDependency[OpenerService]
AUTHOR = "The offer's vendor: its administrator or bid manager."
AUTHOR_READS = "The offer's vendor (any member)."
BUYER_AFTER = ("The contract's buying side (the holder in intermediation, HC2), and the holder's evaluators on the "
               "committee of a centralised contract (HC3), after the opening.")


class OfferController(Controller):
    """An invited vendor's offers: drafted, sealed as they arrive, submitted with a signed receipt (D13–D14)."""

    tags = ["Offers"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False),
                    "offers": Provide(provide_offer_service, sync_to_thread=False),
                    # The buyer's side of the same path (a path belongs to one controller).
                    "opening": Provide(provide_opening_service, sync_to_thread=False)}

    @post("/specific-contracts/{contract_id:uuid}/offers", status_code=HTTP_201_CREATED,
          opt=requires(*VENDOR_WRITERS, reason="An administrator or bid manager of an invited vendor."),
          summary="Start an offer (a new version replaces the submitted one once it is submitted in turn)")
    async def create(self, contract_id: FromPath[uuid.UUID], offers: Offers,
                     principal: Caller) -> Response[schemas.Offer]:
        offer = await offers.create(principal, contract_id)
        return created(offer, f"/offers/{offer.id}")

    @get("/specific-contracts/{contract_id:uuid}/offers",
         opt=requires(*BUYING_SIDE, reason="The buying side (the holder in intermediation, HC2; the holder's committee "
                                           "members too when centralised, HC3): nothing before the deadline, then "
                                           "the count, then the offers once opened."),
         summary="Received offers: sealed before the deadline; their number until the opening; then the list")
    async def received(self, contract_id: FromPath[uuid.UUID], opening: Opening,
                       principal: Caller) -> schemas.ReceivedOffers:
        return await opening.received(principal, contract_id)

    @get("/specific-contracts/{contract_id:uuid}/my-offers",
         opt=requires(*VENDOR_MEMBERS, reason="Members of an invited vendor: its own offers."),
         summary="Your vendor's offers on the contract, every version")
    async def mine(self, contract_id: FromPath[uuid.UUID], offers: Offers, principal: Caller) -> list[schemas.Offer]:
        return await offers.mine(principal, contract_id)

    @get("/offers/{offer_id:uuid}", opt=requires(*VENDOR_MEMBERS, reason=AUTHOR_READS),
         summary="Your offer: its status and what was received (never the content back: it is sealed)")
    async def show(self, offer_id: FromPath[uuid.UUID], offers: Offers, principal: Caller) -> schemas.Offer:
        return await offers.get(principal, offer_id)

    @put("/offers/{offer_id:uuid}/parts", opt=requires(*VENDOR_WRITERS, reason=AUTHOR),
         summary="Give the structured parts: price schedule and an answer per award criterion (sealed)")
    async def set_parts(self, offer_id: FromPath[uuid.UUID], data: JSONBody[schemas.OfferParts], offers: Offers,
                        principal: Caller) -> schemas.Offer:
        return await offers.set_parts(principal, offer_id, data)

    @put("/offers/{offer_id:uuid}/attachments", opt={**requires(*VENDOR_WRITERS, reason=AUTHOR), **raw_body(
            *schemas.DEFAULT_ATTACHMENT_TYPES, description="The file itself, as the raw body: one of the types the "
            "specific contract accepts (`attachmentTypes`; these unless its buyer chose others).")},
         request_max_body_size=None, status_code=HTTP_201_CREATED,
         summary="Stream a file (raw body): type checked on the content, hashed and sealed as it arrives")
    async def add_attachment(
            self, offer_id: FromPath[uuid.UUID], request: Request[Any, Any, Any], offers: Offers,
            principal: Caller,
            filename: Annotated[str, Parameter(
                header="X-Filename", min_length=1, max_length=schemas.FILENAME_MAX_LENGTH,
                description="The file's name, UTF-8 percent-encoded. A header, not a query parameter: URLs end "
                            "up in access logs, and an offer's file names are sealed like its content.")],
    ) -> schemas.AttachmentReceipt:
        return await offers.add_attachment(principal, offer_id, filename=filename, **raw_upload(request))

    @post("/offers/{offer_id:uuid}/uploads", status_code=HTTP_201_CREATED, opt=requires(*VENDOR_WRITERS, reason=AUTHOR),
          summary="Upload a file straight to object storage: a presigned PUT bound to its size and SHA-256, "
                  "encrypted by the storage server with the file's own key")
    async def request_upload(self, offer_id: FromPath[uuid.UUID], data: JSONBody[schemas.UploadRequest],
                             offers: Offers, principal: Caller) -> schemas.PresignedUpload:
        return await offers.request_upload(principal, offer_id, data)

    @post("/offers/{offer_id:uuid}/uploads/{attachment_id:uuid}/complete", status_code=HTTP_200_OK,
          opt=requires(*VENDOR_WRITERS, reason=AUTHOR),
          summary="Complete a presigned upload: the server checks the stored size, SHA-256 and encryption")
    async def complete_upload(self, offer_id: FromPath[uuid.UUID], attachment_id: FromPath[uuid.UUID],
                              data: JSONBody[schemas.UploadCompletion], offers: Offers,
                              principal: Caller) -> schemas.AttachmentReceipt:
        return await offers.complete_upload(principal, offer_id, attachment_id, data)

    @post("/offers/{offer_id:uuid}/submit", status_code=HTTP_200_OK, opt=requires(*VENDOR_WRITERS, reason=AUTHOR),
          summary="Submit before the deadline (D14, to the second): returns the signed receipt; idempotent")
    async def submit(
            self, offer_id: FromPath[uuid.UUID], offers: Offers, principal: Caller,
            idempotency_key: Annotated[str | None, Parameter(header="Idempotency-Key", min_length=1,
                                                             max_length=200)] = None,
    ) -> schemas.SignedReceipt:
        return await offers.submit(principal, offer_id, idempotency_key)

    @post("/offers/{offer_id:uuid}/withdraw", status_code=HTTP_200_OK, opt=requires(*VENDOR_WRITERS, reason=AUTHOR),
          summary="Withdraw the offer before the deadline")
    async def withdraw(self, offer_id: FromPath[uuid.UUID], offers: Offers, principal: Caller) -> schemas.Offer:
        return await offers.withdraw(principal, offer_id)

    @get("/offers/{offer_id:uuid}/receipt", opt=requires(*VENDOR_MEMBERS, reason=AUTHOR_READS),
         summary="The signed receipt (accusé de réception) of a submitted offer")
    async def receipt(self, offer_id: FromPath[uuid.UUID], offers: Offers,
                      principal: Caller) -> schemas.SignedReceipt:
        return await offers.receipt(principal, offer_id)

    @get("/offers/{offer_id:uuid}/receipt.pdf", opt=requires(*VENDOR_MEMBERS, reason=AUTHOR_READS),
         media_type="application/pdf", response_headers=DOWNLOAD_HEADERS,
         summary="The receipt as a PDF (with the signed JSON inside)")
    async def receipt_pdf(self, offer_id: FromPath[uuid.UUID], offers: Offers, principal: Caller) -> Response[bytes]:
        pdf = await offers.receipt_pdf(principal, offer_id)
        return download(pdf, f"accuse-de-reception-{offer_id}.pdf", "application/pdf")

    @get("/receipts/public-key", opt=public("The key receipts and opening records are signed with: anyone "
                                            "verifies them."),
         summary="The platform's receipt-signing public key (JWK, Ed25519)")
    async def public_key(self, vault: NamedDependency[Vault]) -> dict[str, str]:
        return vault.signer.public_jwk()


class OpeningController(Controller):
    """Openers' keys, the count of received offers, the opening and what it unseals (D13, P6, P9)."""

    tags = ["Opening"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False),
                    "opening": Provide(provide_opening_service, sync_to_thread=False),
                    # Not "openers": Litestar takes a body field named like a dependency (the opening's
                    # `openers`) for a failed dependency, and answers its validation error with a 500.
                    "opener_registry": Provide(provide_opener_service, sync_to_thread=False)}

    @post("/my/opener-keys", status_code=HTTP_201_CREATED,
          opt=requires(*OPENERS, reason="An opener or administrator of a buying organisation, or of a holder buying "
                                        "in intermediation (HC2)."),
          summary="Register your opener key for a buying organisation (locked by your passphrase, never stored)")
    async def register(self, data: JSONBody[schemas.OpenerKeyCreate], opener_registry: Openers,
                       principal: Caller) -> schemas.OpenerKey:
        return await opener_registry.register(principal, data)

    @get("/organisations/{organisation_id:uuid}/opener-keys",
         opt=requires(*BUYING_SIDE, reason="Members of the organisation (a buying organisation, or a holder)."),
         summary="The opener keys of a buying organisation")
    async def opener_keys(self, organisation_id: FromPath[uuid.UUID], opener_registry: Openers,
                          principal: Caller) -> list[schemas.OpenerKey]:
        return await opener_registry.list_for(principal, organisation_id)

    @post("/specific-contracts/{contract_id:uuid}/opening", status_code=HTTP_200_OK,
          opt=requires(*OPENERS, reason="Openers of the contract's buying side (k of n): the holder's in "
                                        "intermediation (HC2), after the deadline."),
          summary="Open every offer at once: k openers' passphrases, every file re-verified; the signed record")
    async def open(self, contract_id: FromPath[uuid.UUID], data: JSONBody[schemas.OpeningRequest],
                   opening: Opening, principal: Caller) -> schemas.OpeningRecord:
        return await opening.open(principal, contract_id, data)

    @get("/specific-contracts/{contract_id:uuid}/opening",
         opt=requires(*BUYING_SIDE, *HOLDER_MEMBERS,
                      reason="The buying side; once opened, also the holder's members and the central purchasing body "
                             "following a procedure in intermediation (HC2, HC3)."),
         summary="The opening record")
    async def record(self, contract_id: FromPath[uuid.UUID], opening: Opening,
                     principal: Caller) -> schemas.OpeningRecord:
        return await opening.record(principal, contract_id)

    @get("/offers/{offer_id:uuid}/unsealed-parts", opt=requires(*BUYING_SIDE, reason=BUYER_AFTER),
         summary="An opened offer's structured parts")
    async def parts(self, offer_id: FromPath[uuid.UUID], opening: Opening, principal: Caller) -> schemas.OfferParts:
        return await opening.parts(principal, offer_id)

    @get("/offers/{offer_id:uuid}/attachments/{attachment_id:uuid}/content",
         opt=requires(*BUYING_SIDE, reason=BUYER_AFTER), response_headers=DOWNLOAD_HEADERS,
         summary="Download an opened offer's file, re-verified against its receipt first")
    async def content(
            self, offer_id: FromPath[uuid.UUID], attachment_id: FromPath[uuid.UUID], opening: Opening,
            principal: Caller, accept_unscanned: Annotated[bool, QueryParameter(
                name="acceptUnscanned", description="Take a file that has no malware-scan verdict yet "
                "(recorded in the audit log); without it such a file is refused with 409.")] = False) -> Stream:
        name, media_type, chunks = await opening.attachment(principal, offer_id, attachment_id,
                                                            accept_unscanned=accept_unscanned)
        return download(chunks, name, media_type)
