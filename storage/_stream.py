"""Bridge from an async chunk producer to the SDK's blocking, file-like upload.

The SDK runs in a worker thread and pulls with ``read(n)``; the event loop pushes the
producer's chunks through a small bounded channel, so at most a few chunks plus the
part being assembled are ever in memory, whatever the object size.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import AsyncIterable, Callable
from typing import TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream

from storage.errors import ObjectTooLarge, StorageError

T = TypeVar("T")

# Chunks waiting between the producer and the upload thread.
CHANNEL_DEPTH = 4


class UploadAborted(Exception):
    """Raised inside the SDK's read so it aborts the multipart upload instead of committing it.

    An ``Exception`` on purpose: the SDK only cleans up on ``Exception``, not on cancellation.
    """


class ChunkReader:
    """The ``read(n)`` end for the SDK: hashes and counts bytes as they pass through."""

    def __init__(self, chunks: MemoryObjectReceiveStream[bytes], *, max_size: int | None) -> None:
        self._chunks = chunks
        self._max_size = max_size
        self._sha256 = hashlib.sha256()
        self._pending = memoryview(b"")
        self._complete = False
        self.size = 0
        self.too_large = False
        self.stopped_early = False

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def finish(self) -> None:
        """The producer ran to its end: the end of the channel is the end of the object."""
        self._complete = True

    def read(self, size: int = -1) -> bytes:
        # The SDK's `read_part_data` loops until it has `size` bytes or gets b"", so partial
        # reads would work; filling the request returns each part in one join instead.
        pieces: list[memoryview] = []
        wanted = size if size >= 0 else sys.maxsize
        while wanted > 0:
            if not self._pending and not self._pull():
                break
            piece = self._pending[:wanted]
            self._pending = self._pending[len(piece):]
            pieces.append(piece)
            wanted -= len(piece)
        return b"".join(pieces)

    def _pull(self) -> bool:
        try:
            chunk = anyio.from_thread.run(self._chunks.receive)
        except anyio.EndOfStream:
            if self._complete:
                return False
            self.stopped_early = True
            raise UploadAborted("the producer stopped before its end") from None
        except BaseException as exc:
            # Cancellation of the caller lands here; it must still reach the SDK as an Exception.
            self.stopped_early = True
            raise UploadAborted("the upload was interrupted") from exc
        self.size += len(chunk)
        if self._max_size is not None and self.size > self._max_size:
            self.too_large = True
            raise UploadAborted(f"more than {self._max_size} bytes")
        self._sha256.update(chunk)
        self._pending = memoryview(chunk)
        return True


async def stream_upload(
    upload: Callable[[ChunkReader], T],
    chunks: AsyncIterable[bytes],
    *,
    max_size: int | None,
    limiter: anyio.CapacityLimiter,
) -> tuple[T, ChunkReader]:
    """Run ``upload(reader)`` in a thread while feeding it ``chunks``.

    Raises the producer's own exception if it failed, ``ObjectTooLarge`` past ``max_size``,
    else whatever ``upload`` raised (untranslated: the caller knows the context).
    """
    send, receive = anyio.create_memory_object_stream[bytes](max_buffer_size=CHANNEL_DEPTH)
    reader = ChunkReader(receive, max_size=max_size)
    producer_error: Exception | None = None
    upload_error: Exception | None = None

    async def feed() -> None:
        nonlocal producer_error
        try:
            async with send:
                async for chunk in chunks:
                    if chunk:
                        await send.send(bytes(chunk))
                reader.finish()
        except anyio.BrokenResourceError:
            pass  # the upload ended first; its outcome is the one that counts
        except Exception as exc:
            # Closing the channel without `finish()` already made the reader abort the upload.
            producer_error = exc

    async with anyio.create_task_group() as tg:
        tg.start_soon(feed)
        try:
            result = await anyio.to_thread.run_sync(upload, reader, limiter=limiter)
        except Exception as exc:
            upload_error = exc
        finally:
            receive.close()
            # The producer may be parked waiting for a slow client; the upload is over either way.
            tg.cancel_scope.cancel()

    if reader.too_large and max_size is not None:
        raise ObjectTooLarge(max_size) from upload_error
    if reader.stopped_early:
        if producer_error is not None:
            raise producer_error
        # Only a cancellation stops the producer without an error; it is pending on this task
        # (the shielded thread wait held it back) and surfaces at the next checkpoint.
        await anyio.lowlevel.checkpoint()
        raise StorageError("the upload was interrupted") from upload_error
    if upload_error is not None:
        raise upload_error
    return result, reader
