"""An offer's attachments: streamed through the server or uploaded to a presigned URL, type-checked, hashed and
sealed as they arrive (P1, P4, P9); archives inspected, never extracted (G11).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import tempfile
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from typing import IO

from sqlalchemy import func, select
from uuid_utils.compat import uuid7

from marketplace.accounts.principal import Principal
from marketplace.errors import Conflict, NotFound, RuleViolation, storage_down
from marketplace.lib import audit
from marketplace.lib.clock import format_paris, reading_at, real_span
from marketplace.lib.files import check_zip, inspect_zip, safe_filename, sniff
from marketplace.lib.sealing import DigestingStream, associated_data, ciphertext_size, encrypt_stream, new_dek, wrap_dek
from marketplace.tenders import schemas
from marketplace.tenders.deposits import ARCHIVE, PRESIGNED_LIFETIME, Attempt, quoted
from marketplace.tenders.errors import ArchiveRefused
from marketplace.tenders.models import Offer, OfferAttachment, SpecificContract
from marketplace.tenders.offers._base import OfferBase
from marketplace.tenders.offers._contexts import attachment_context, name_context
from marketplace.uploads import DocumentTooLarge, DocumentTypeRefused, check_declared, header_filename, sniffing
from storage import CustomerKey, ObjectMismatch, ObjectNotFound, ObjectStore, ObjectTooLarge, StorageUnavailable


class Attachments(OfferBase):
    """The files of a draft offer, streamed or presigned."""

    async def add_attachment(self, principal: Principal, offer_id: uuid.UUID, *, filename: str, declared_type: str,
                             declared_size: int | None, body: AsyncIterable[bytes]) -> schemas.AttachmentReceipt:
        """Stream one file: sniffed, counted, hashed and sealed on the way to the bucket (P9, P11).

        `filename` is the X-Filename header as sent: UTF-8, percent-encoded."""
        async with self.journal.attempt(principal, "attachment.stream", declared_bytes=declared_size) as attempt:
            return await self._add_attachment(principal, offer_id, filename, declared_type, declared_size,
                                              attempt.counted(body), attempt)

    async def _add_attachment(self, principal: Principal, offer_id: uuid.UUID, filename: str, declared_type: str,
                              declared_size: int | None, body: AsyncIterable[bytes],
                              attempt: Attempt) -> schemas.AttachmentReceipt:
        assert self.store is not None
        started = attempt.started  # P11: the first byte's time (real), before anything is read
        offer, contract = await self._own(principal, offer_id, lock=True, write=True, attempt=attempt)
        filename = header_filename(filename)
        self._draft(offer)
        await self._before_deadline(contract, "files are added", offer.vendor_organisation_id)
        started = reading_at(await self._time(contract), started)  # on the contract's clock
        allowed = list(contract.attachment_types)
        label = "an offer attachment"
        # What is declared is checked before a byte is read; what is recorded is what the content shows. Each
        # refusal quotes the published limit it hit (D14a).
        try:
            check_declared(declared_type, declared_size, allowed, contract.attachment_max_bytes, label)
        except DocumentTypeRefused as exc:
            raise quoted(exc, contract, "attachmentTypes") from None
        except DocumentTooLarge as exc:
            raise quoted(exc, contract, "attachmentMaxBytes") from None
        total, budget = await self._room(contract, offer, "body", declared_size)
        _, public = await self._public_key(contract)
        attachment_id = uuid7()  # time-ordered, like every other id: files list in the order received
        dek = new_dek()
        # An archive is kept aside (in memory up to 1 MiB, then on disk) to read its central directory
        # once received: it is never extracted, but a bomb, a zip-slip or an encrypted one is refused (G11).
        inspected = _Inspected(sniffing(body, allowed, label))
        digest = DigestingStream(inspected)
        key = ObjectStore.new_key("offers")
        try:
            stored = await self.store.put_stream(
                key, encrypt_stream(digest, dek, associated_data(purpose="offer-file", attachment=attachment_id)),
                content_type="application/octet-stream", metadata={"offer": str(offer.id)},
                max_size=ciphertext_size(budget))
        except ObjectTooLarge as exc:
            raise _too_large(contract, total, "body") from exc
        except DocumentTypeRefused as exc:  # the content, sniffed as it came
            raise quoted(exc, contract, "attachmentTypes") from None
        except StorageUnavailable as exc:  # G12: a 503 within the store's timeout, journaled (D14b)
            raise storage_down("body") from exc
        try:
            if inspected.spool is not None:
                reasons = await asyncio.to_thread(_zip_refusals, inspected.spool)
                if reasons:
                    # The reasons name the archive's members (sealed content): the journal keeps them unnamed.
                    raise quoted(ArchiveRefused(
                        "body: this archive is refused: " + "; ".join(reasons), field="body", reasons=reasons,
                        unnamed="body: this archive is refused: " + "; ".join(_unnamed(r) for r in reasons)),
                        contract, "archive")
            received = (await self._time(contract)).now()  # P1: after the last byte is persisted
            attachment = OfferAttachment(
                id=attachment_id, offer_id=offer.id, object_key=key,
                sealed_name=self.vault.seal(safe_filename(filename).encode(), name_context(attachment_id)),
                content_type=inspected.media_type, size=digest.size, sha256=digest.sha256,
                wrapped_dek=wrap_dek(dek, public, attachment_context(contract.id, offer.id, attachment_id,
                                                                     digest.sha256, digest.size)),
                received_started_at=started, received_at=received)
            self.session.add(attachment)
            if offer.received_started_at is None:
                offer.received_started_at = started
            await self.session.flush()
            await audit.record(self.session, self.clock, "offer.attachment_received", actor=principal.label,
                               organisation_id=offer.vendor_organisation_id, target_type="offer",
                               target_id=offer.id, details={"attachment": str(attachment_id), "size": digest.size,
                                                            "stored_size": stored.size})
        except BaseException:
            await self.store.delete(key)  # no object without its row
            raise
        finally:
            inspected.close()
        return self._attachment_schema(attachment, safe_filename(filename))

    async def request_upload(self, principal: Principal, offer_id: uuid.UUID,
                             data: schemas.UploadRequest) -> schemas.PresignedUpload:
        """The second way in: a presigned PUT straight to object storage, which encrypts the bytes with a
        key of the file's own (SSE-C) and refuses any but the declared ones (signed SHA-256), so the file
        never passes through the API on its way in. `complete` checks the stored size and hash, then reads
        the bytes once, with the key the vendor hands over, to judge their type as the streamed way does."""
        async with self.journal.attempt(principal, "attachment.presign", declared_bytes=data.size) as attempt:
            return await self._request_upload(principal, offer_id, data, attempt)

    async def _request_upload(self, principal: Principal, offer_id: uuid.UUID, data: schemas.UploadRequest,
                              attempt: Attempt) -> schemas.PresignedUpload:
        assert self.store is not None
        real_started = attempt.started  # P11
        offer, contract = await self._own(principal, offer_id, lock=True, write=True, attempt=attempt)
        self._draft(offer)
        window = await self._window(contract, "files are added", offer.vendor_organisation_id)
        clock = await self._time(contract)
        started = reading_at(clock, real_started)
        await self._room(contract, offer, "size", data.size)
        _, public = await self._public_key(contract)
        attachment_id = uuid7()
        sse_key = CustomerKey.generate()
        key = ObjectStore.new_key("offers")
        sha256 = data.sha256.lower()
        # The URL lives a quarter of an hour, and never past the deadline (or the end of the vendor's late
        # admission, D14c). Signed at the real time: the storage server checks it against its own clock, so a
        # sandbox's deadline is brought back to real time.
        lifetime = min(PRESIGNED_LIFETIME, real_span(clock, window.end - started))
        expires = real_started + lifetime
        upload = self.store.presign_upload(key, size=data.size, sha256=sha256, sse_key=sse_key, expires=lifetime)
        attachment = OfferAttachment(
            id=attachment_id, offer_id=offer.id, object_key=key,
            sealed_name=self.vault.seal(safe_filename(data.filename).encode(), name_context(attachment_id)),
            content_type="application/octet-stream", size=data.size, sha256=sha256, sealing="sse-c",
            wrapped_dek=wrap_dek(sse_key.secret, public, attachment_context(contract.id, offer.id, attachment_id,
                                                                            sha256, data.size)),
            received_started_at=started, received_at=None, upload_expires_at=expires, sse_key_md5=sse_key.md5)
        self.session.add(attachment)
        if offer.received_started_at is None:
            offer.received_started_at = started
        await self.session.flush()
        return schemas.PresignedUpload(
            attachment_id=attachment_id, method="PUT", url=upload.url, headers=dict(upload.headers),
            expires_at=expires, complete_path=f"/offers/{offer.id}/uploads/{attachment_id}/complete")

    async def complete_upload(self, principal: Principal, offer_id: uuid.UUID, attachment_id: uuid.UUID,
                              data: schemas.UploadCompletion) -> schemas.AttachmentReceipt:
        async with self.journal.attempt(principal, "attachment.complete") as attempt:
            return await self._complete_upload(principal, offer_id, attachment_id, data, attempt)

    async def _complete_upload(self, principal: Principal, offer_id: uuid.UUID, attachment_id: uuid.UUID,
                               data: schemas.UploadCompletion, attempt: Attempt) -> schemas.AttachmentReceipt:
        assert self.store is not None
        offer, contract = await self._own(principal, offer_id, lock=True, write=True, attempt=attempt)
        self._draft(offer)
        attachment = await self.session.get(OfferAttachment, attachment_id, with_for_update=True)
        if attachment is None or attachment.offer_id != offer.id or attachment.sealing != "sse-c":
            raise NotFound("No presigned upload of this offer has this id.")
        name = self.vault.open(attachment.sealed_name, name_context(attachment.id)).decode()
        if attachment.received_at is not None:
            return self._attachment_schema(attachment, name)  # completed already: the same answer
        attempt.declared_bytes = attachment.size
        await self._before_deadline(contract, "files are received", offer.vendor_organisation_id)
        try:
            sse_key = CustomerKey(base64.b64decode(data.key, validate=True))
        except ValueError as exc:
            raise RuleViolation("key: the base64 SSE-C key this upload was given", field="key") from exc
        if not hmac.compare_digest(sse_key.md5, attachment.sse_key_md5 or ""):
            raise RuleViolation("key: not the key this upload was given", field="key")
        try:
            stored = await self.store.verify_upload(attachment.object_key, size=attachment.size,
                                                    sha256=attachment.sha256, sse_key=sse_key)
        except ObjectNotFound as exc:
            expires = attachment.upload_expires_at
            if expires is not None and self.clock.now() >= expires:
                # The storage server refused anything sent after the URL expired (D14a: its lifetime is published).
                raise quoted(Conflict(f"upload: nothing was received before this upload's URL expired, on "
                                      f"{format_paris(expires)}; ask for a new one", field="upload"),
                             contract, "presignedUploadLifetimeSeconds") from exc
            raise Conflict("Nothing was uploaded to this URL yet.", field="upload") from exc
        except ObjectMismatch as exc:
            raise RuleViolation("upload: the stored file is not the declared size and SHA-256; it was removed",
                                field="upload") from exc
        except StorageUnavailable as exc:  # G12: the upload stays pending; completing it again will do
            raise storage_down("upload") from exc
        # The type is judged as on the streamed way (D14a), on the stored bytes, read once with the key the
        # vendor hands over to complete its upload: the platform keeps neither the key nor the bytes.
        try:
            attachment.content_type = await self._judge_stored(contract, attachment.object_key, sse_key)
        except StorageUnavailable as exc:
            raise storage_down("upload") from exc
        attachment.received_at = (await self._time(contract)).now()  # P1: the file is in, verified
        attachment.sse_key_md5 = None
        await self.session.flush()
        await audit.record(self.session, self.clock, "offer.attachment_received", actor=principal.label,
                           organisation_id=offer.vendor_organisation_id, target_type="offer", target_id=offer.id,
                           details={"attachment": str(attachment.id), "size": stored.size, "presigned": True})
        return self._attachment_schema(attachment, name)

    async def _judge_stored(self, contract: SpecificContract, key: str, sse_key: CustomerKey) -> str:
        """The media type a presigned upload's content shows, checked against the contract's published types,
        and, for an archive, its central directory (G11): what the streamed way checks on the fly. A refused
        file is deleted from the bucket (as a size or hash mismatch is): the vendor sends another."""
        assert self.store is not None
        inspected = _Inspected(sniffing(self.store.get_stream(key, sse_key=sse_key), list(contract.attachment_types),
                                        "an offer attachment"))
        try:
            async for _ in inspected:
                pass
            reasons = await asyncio.to_thread(_zip_refusals, inspected.spool) if inspected.spool else []
            if reasons:
                raise quoted(ArchiveRefused(
                    "upload: this archive is refused: " + "; ".join(reasons), field="upload", reasons=reasons,
                    unnamed="upload: this archive is refused: " + "; ".join(_unnamed(r) for r in reasons)),
                    contract, "archive")
        except DocumentTypeRefused as exc:
            await self.store.delete(key)
            raise quoted(exc, contract, "attachmentTypes") from None
        except ArchiveRefused:
            await self.store.delete(key)
            raise
        finally:
            inspected.close()
        return inspected.media_type

    async def _room(self, contract: SpecificContract, offer: Offer, field: str,
                    size: int | None) -> tuple[int, int]:
        """(bytes the offer's files hold, bytes left for one more): one more file must fit the published
        limits (count, a file's size, the offer's), else the refusal quotes the one it hits (D14a)."""
        count, total = await self._usage(offer)
        if count >= contract.attachment_max_count:
            raise quoted(RuleViolation(f"{field}: an offer carries at most {contract.attachment_max_count} files",
                                       field=field), contract, "attachmentMaxCount")
        budget = min(contract.attachment_max_bytes, contract.offer_max_bytes - total)
        if budget <= 0 or (size is not None and size > budget):
            raise _too_large(contract, total, field)
        return total, budget

    async def _usage(self, offer: Offer) -> tuple[int, int]:
        row = (await self.session.execute(select(func.count(), func.coalesce(func.sum(OfferAttachment.size), 0))
                                          .where(OfferAttachment.offer_id == offer.id))).one()
        return int(row[0]), int(row[1])


class _Inspected:
    """Passes the (already type-checked) stream through, noting the type its content shows; an archive is
    kept aside (in memory up to 1 MiB, then in a temporary file) so its central directory can be read
    once received: archives are never extracted, but bombs, zip-slips and encrypted ones are refused (G11)."""

    def __init__(self, chunks: AsyncIterable[bytes]) -> None:
        self._chunks = chunks
        self.media_type = "application/octet-stream"
        self.spool: IO[bytes] | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        first = True
        async for chunk in self._chunks:
            if first:
                first = False
                self.media_type = sniff(chunk)  # the first chunk is the sniffed head (uploads.sniffing)
                if self.media_type == "application/zip":
                    self.spool = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115 (closed by close())
            if self.spool is not None:
                self.spool.write(chunk)
            yield chunk

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()


def _zip_refusals(spool: IO[bytes]) -> list[str]:
    spool.seek(0)
    return check_zip(inspect_zip(spool), ARCHIVE)


def _unnamed(reason: str) -> str:
    """A reason of `check_zip` without the members it names (after its first ": ", the names)."""
    return reason.split(": ", 1)[0]


def _too_large(contract: SpecificContract, total: int, field: str) -> DocumentTooLarge:
    """413 quoting the limit a file hit (D14a): a file's own, or what is left of the offer's all together."""
    left = max(contract.offer_max_bytes - total, 0)
    if left < contract.attachment_max_bytes:
        return quoted(DocumentTooLarge(f"{field}: over what is left of the {contract.offer_max_bytes}-byte limit of an "
                                       f"offer's files together ({left} bytes left)", field=field),
                      contract, "offerMaxBytes", left=left)
    return quoted(DocumentTooLarge(f"{field}: over the {contract.attachment_max_bytes}-byte limit of a file",
                                   field=field), contract, "attachmentMaxBytes")
