"""A read-only, seekable view of the first N bytes of a stream: scanners read through it, never past it.

Untrusted files can declare gigabyte-long fields or decompress without end; a parser reading
through `BoundedReader` sees end-of-file at the limit, and `hit_limit` tells afterwards whether
the data went on (so "cut short by model-check" is never mistaken for "complete").
"""

from __future__ import annotations

import io
from typing import IO

Stream = IO[bytes] | io.BufferedIOBase


class _Window(io.RawIOBase):
    def __init__(self, raw: Stream, limit: int, size: int | None) -> None:
        self._raw = raw
        self._start = raw.tell() if raw.seekable() else 0
        self._end = limit if size is None else min(limit, size)
        self._more = size is not None and size > limit  # known up front when the size is
        self._probe = size is None
        self._pos = 0
        self.hit_limit = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._raw.seekable()

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        room = self._end - self._pos
        if room <= 0:
            self.hit_limit = self._more or (self._probe and bool(self._raw.read(1)))
            return 0
        view = memoryview(buffer)[: min(len(buffer), room)]
        data = self._raw.read(len(view))
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._end}[whence]
        target = max(0, min(base + offset, self._end))
        self._raw.seek(self._start + target)
        self._pos = target
        return target

    def tell(self) -> int:
        return self._pos


class BoundedReader(io.BufferedReader):
    """Buffered reading of at most `limit` bytes of `raw`, from its current position.

    Give `size` (the bytes left in `raw`) when it is known; otherwise the end is found by reading.
    """

    def __init__(self, raw: Stream, limit: int, size: int | None = None) -> None:
        self._window = _Window(raw, limit, size)
        super().__init__(self._window, buffer_size=64 * 1024)

    @property
    def hit_limit(self) -> bool:
        """True once a read reached the limit while the stream had more bytes."""
        return self._window.hit_limit
