"""What a file is by its first bytes, never by its name: zip, tar, compressed stream, NumPy, pickle.

A `.bin` or even a `.safetensors` can be a pickle, and a `.pt` a zip: the security scans sniff
content. Only a bounded head of each file is read here.
"""

from __future__ import annotations

import bz2
import enum
import gzip
import io
import lzma
import pickletools
from pathlib import Path

HEAD_BYTES = 64 * 1024


class Kind(str, enum.Enum):
    ZIP = "zip archive"
    TAR = "tar archive"
    GZIP = "gzip stream"
    BZIP2 = "bzip2 stream"
    XZ = "xz stream"
    SEVEN_ZIP = "7z archive"
    NUMPY = "NumPy array"
    PICKLE = "pickle"


COMPRESSED = (Kind.GZIP, Kind.BZIP2, Kind.XZ)
PICKLE_PROTOCOLS = range(6)  # the PROTO opcode's argument in every pickle protocol Python has had


def read_head(path: Path, size: int = HEAD_BYTES) -> tuple[bytes, bool]:
    """The first `size` bytes of a file and whether that is the whole file. Raises OSError."""
    with path.open("rb") as handle:
        head = handle.read(size + 1)
    return head[:size], len(head) <= size


def kind_of(head: bytes, whole: bool) -> Kind | None:
    """The container or serialisation format `head` starts with, or None for anything else."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):  # torch.load too decides "zip" on these bytes
        return Kind.ZIP
    if head.startswith(b"\x1f\x8b"):
        return Kind.GZIP
    if head.startswith(b"BZh") and len(head) > 3 and head[3:4].isdigit():
        return Kind.BZIP2
    if head.startswith(b"\xfd7zXZ\x00"):
        return Kind.XZ
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return Kind.SEVEN_ZIP
    if head.startswith(b"\x93NUMPY"):
        return Kind.NUMPY
    if len(head) >= 262 and head[257:262] == b"ustar":
        return Kind.TAR
    if looks_like_pickle(head, whole):
        return Kind.PICKLE
    return None


def looks_like_pickle(head: bytes, whole: bool) -> bool:
    """A pickle stream starts here: its first pickle parses to STOP, or (protocol 2+) is cut short.

    Protocol 2+ pickles start with PROTO; protocol 0/1 ones (text-like) are accepted when a whole
    pickle of at least three opcodes parses, which ordinary text and binary formats do not. (A
    safetensors header length can start with the PROTO bytes; the zero bytes after it cannot parse.)
    """
    stream = io.BytesIO(head)
    names: list[str] = []
    try:
        for opcode, arg, _ in pickletools.genops(stream):
            names.append(opcode.name)
            if len(names) == 1 and opcode.name == "PROTO" and arg not in PICKLE_PROTOCOLS:
                return False
            if opcode.name == "STOP":
                return len(names) >= 3 or (names[0] == "PROTO" and len(names) >= 2)
    except Exception:
        # A PROTO-framed stream that runs past the head, or breaks after a few opcodes, is a large or
        # damaged pickle: pickle.load would still execute every opcode before the break.
        ran_out = stream.tell() >= len(head)
        return bool(names) and names[0] == "PROTO" and (len(names) >= 3 or (ran_out and not whole))
    return False


def open_decompressed(path: Path, kind: Kind) -> io.BufferedIOBase:
    """A stream of the decompressed bytes of a gzip, bzip2 or xz file. Raises OSError."""
    if kind is Kind.GZIP:
        return gzip.open(path, "rb")
    if kind is Kind.BZIP2:
        return bz2.open(path, "rb")
    if kind is Kind.XZ:
        return lzma.open(path, "rb")
    raise ValueError(f"{kind.value} has no stream reader here")


def read_decompressed(path: Path, kind: Kind, limit: int) -> tuple[bytes, bool]:
    """Up to `limit` decompressed bytes of a gzip/bzip2/xz file, and whether that is all of them.

    Raises OSError, EOFError or lzma.LZMAError on a damaged stream.
    """
    with open_decompressed(path, kind) as stream:
        data = stream.read(limit + 1)
    return data[:limit], len(data) <= limit
