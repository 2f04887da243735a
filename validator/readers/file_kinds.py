"""What a file is by its first bytes, never by its name: zip, tar, compressed stream, NumPy, pickle.

A `.bin` or even a `.safetensors` can be a pickle, and a `.pt` a zip: the security scans sniff
content. Only a bounded head of each file is read here. Model formats too are told by content
(`model_kind` from the first bytes, `zip_model_kind` from a zip's member names), whatever a file's name.
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
    """A pickle stream starts here: what pickle.load would run at least in part.

    Protocol 2+ pickles start with PROTO and are accepted when their first pickle parses to STOP or
    (a large or damaged one) breaks after a few opcodes: pickle.load would still execute every opcode
    before the break. (A safetensors header length can start with the PROTO bytes; the zero bytes after
    it cannot parse.) Protocol 0/1 pickles are text-like, and so much text parses as opcodes (a
    requirements line `torch==2.13.0` reads TUPLE, OBJ, LONG_BINPUT, DUP, STOP) that parsing alone says
    nothing: see `_runs_as_text_pickle`.
    """
    stream = io.BytesIO(head)
    names: list[str] = []
    try:
        for opcode, arg, _ in pickletools.genops(stream):
            names.append(opcode.name)
            if len(names) == 1 and opcode.name != "PROTO":
                return _runs_as_text_pickle(head)
            if len(names) == 1 and arg not in PICKLE_PROTOCOLS:
                return False
            if opcode.name == "STOP":
                return len(names) >= 2
    except Exception:
        ran_out = stream.tell() >= len(head)
        return bool(names) and names[0] == "PROTO" and (len(names) >= 3 or (ran_out and not whole))
    return False


_IMPORTS = frozenset({"GLOBAL", "STACK_GLOBAL", "INST"})  # opcodes that import a name
_CALLS = frozenset({"REDUCE", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "BUILD"})  # ... and that call one


def _runs_as_text_pickle(head: bytes) -> bool:
    """A protocol 0/1 pickle: pickletools.dis (which checks the stack and marks of every opcode without
    running any) reads a whole pickle of three opcodes or more, or the opcodes pickle.load would run
    before the first structural error import a name and call something."""
    out = io.StringIO()
    try:
        pickletools.dis(head, out=out)
    except Exception as exc:
        lines = out.getvalue().splitlines()
        ran = lines if "exhausted" in str(exc) else lines[:-1]  # the failing opcode itself never runs
        names = {fields[2] for fields in (line.split() for line in ran) if len(fields) >= 3}
        return bool(names & _IMPORTS) and bool(names & _CALLS)
    return out.getvalue().count("\n") >= 3


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


# -- model artefacts, by signature ------------------------------------------------------------
TORCHSCRIPT = "TorchScript"
TORCH_SAVE = "torch.save checkpoint"
TORCHSCRIPT_FORM = "a TorchScript archive written by torch.jit.save"  # how the pickle scanner names it


def zip_model_kind(names: list[str]) -> str | None:
    """The model format a zip archive is, by its member names (never by its file name):

    - Keras v3 `.keras`: `config.json`, `metadata.json` and `model.weights.h5` (or `.npz`) at the root;
    - skops (scikit-learn): `schema.json` at the root;
    - TorchScript (torch.jit.save): `<root>/code/__torch__/…` and `<root>/constants.pkl`;
    - torch.save: `<root>/data.pkl` and no `code/` folder (a state dict or pickled module).
    """
    root = {name for name in names if "/" not in name.rstrip("/")}
    if {"config.json", "metadata.json"} <= root and root & {"model.weights.h5", "model.weights.npz"}:
        return "Keras v3 (.keras)"
    if "schema.json" in root and not any(name.endswith(".pkl") for name in root):
        return "scikit-learn (skops)"
    folders = {name.split("/", 1)[0] for name in names if "/" in name}
    for folder in sorted(folders):
        inside = {name[len(folder) + 1:] for name in names if name.startswith(folder + "/")}
        code = any(name.startswith("code/__torch__") for name in inside)
        if code and ("constants.pkl" in inside or "data.pkl" in inside):
            return TORCHSCRIPT
        if "data.pkl" in inside and not any(name.startswith("code/") for name in inside):
            return TORCH_SAVE
    return None


def model_kind(head: bytes) -> str | None:
    """An open model format recognised from a file's first bytes (HEAD_BYTES), whatever its size or name:
    TensorFlow Lite (flatbuffer identifier `TFL3` at bytes 4-8), XGBoost (JSON or UBJSON: a `learner`
    with a `gradient_booster`), LightGBM (text: `tree` then `version=`)."""
    if len(head) >= 8 and head[4:8] == b"TFL3":
        return "TensorFlow Lite"
    if head.lstrip().startswith(b"{") and b"learner" in head and b"gradient_booster" in head:
        text_like = all(byte >= 0x09 for byte in head[:4096])
        return "XGBoost (JSON)" if text_like and b'"learner"' in head else "XGBoost (UBJSON)"
    if head.startswith((b"tree\nversion=", b"tree\r\nversion=")) or (head.startswith(b"tree") and b"\ntree_sizes=" in head):
        return "LightGBM (text)"
    return None
