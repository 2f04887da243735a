"""Static scan of pickle-bearing files: raw pickle streams, zip checkpoints, NumPy object arrays.

Nothing is ever unpickled. The imports (GLOBAL / INST / STACK_GLOBAL opcodes) are listed by
picklescan, which the Hugging Face Hub runs on every uploaded file: a small library that reads
opcodes from a stream we control (so reading stays bounded) and resolves STACK_GLOBAL's operands
(an operand it cannot resolve comes back as "unknown"). fickling decompiles pickles into Python
ASTs for forensics (heavier, heuristic verdicts); modelscan wraps a denylist in a CLI framework.

The verdict is an ALLOWLIST, not picklescan's denylist: a denylist only knows what it lists (a
payload through distutils.spawn.spawn passed it). ALLOWED_GLOBALS holds the (module, name) pairs
that plain tensor, state-dict and NumPy array pickles need, checked against what torch.save (torch
2.13) and numpy 2 really write: torch's tensor and storage rebuilders, storage and dtype names,
collections.OrderedDict, NumPy's array reconstruction, and builtins that only hold data. Every
other import, an operand picklescan could not resolve, and copyreg's extension codes (EXT1/2/4,
which import without naming a module) are "disallowed". Pairs are compared whole: ("torch",
"_utils._rebuild_tensor_v2") reaches the same function through attribute lookup but is not on the
list. Even an all-allowlisted pickle is only "plain data as far as its imports show", never "safe".

picklescan treats a stream it cannot parse as "not a pickle" (no error flag) unless it found
imports first, so each pickle's framing is checked here too: a pickle that does not parse to its
STOP opcode within the bytes model-check reads is reported as not scanned.
"""

from __future__ import annotations

import logging
import pickletools
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from picklescan import scanner
from picklescan.torch import MAGIC_NUMBER, InvalidMagicError, get_magic_number

from validator.readers.bounded_io import BoundedReader
from validator.readers.file_kinds import (
    COMPRESSED,
    HEAD_BYTES,
    TORCHSCRIPT,
    TORCHSCRIPT_FORM,
    Kind,
    kind_of,
    open_decompressed,
    read_decompressed,
    zip_model_kind,
)

SCAN_LIMIT = 256 * 1024 * 1024  # bytes of one pickle stream (or zip member) that are scanned
MAX_MEMBERS = 10_000  # zip members looked at for pickles
NPY_HEADER_LIMIT = 1024 * 1024  # np.load(allow_pickle=True) lifts numpy's own 10 kB header limit
LEGACY_TORCH_PICKLES = 5  # magic number, protocol, sys info, object, storage keys (torch.save before 1.6)
PICKLE_NAMES = (".pkl", ".pickle")

_STORAGE_TYPES = ("BFloat16", "Bool", "Byte", "Char", "ComplexDouble", "ComplexFloat", "Double", "Float", "Half", "Int",
                  "Long", "Short")
_QUANTIZED_STORAGES = ("QInt32Storage", "QInt8Storage", "QUInt2x4Storage", "QUInt4x2Storage", "QUInt8Storage")
_TORCH_DTYPES = ("bfloat16", "bits16", "bits1x8", "bits2x4", "bits4x2", "bits8", "bool", "complex128", "complex32",
                 "complex64", "float16", "float32", "float4_e2m1fn_x2", "float64", "float8_e4m3fn", "float8_e4m3fnuz",
                 "float8_e5m2", "float8_e5m2fnuz", "float8_e8m0fnu", "int1", "int16", "int2", "int3", "int32", "int4",
                 "int5", "int6", "int64", "int7", "int8", "qint32", "qint8", "quint2x4", "quint4x2", "quint8", "uint1",
                 "uint16", "uint2", "uint3", "uint32", "uint4", "uint5", "uint6", "uint64", "uint7", "uint8")
_QSCHEMES = ("per_channel_affine", "per_channel_affine_float_qparams", "per_channel_symmetric", "per_tensor_affine",
             "per_tensor_symmetric")
# torch._utils' rebuilders of tensor data (not _rebuild_from_type_v2 / _rebuild_wrapper_subclass,
# which rebuild tensor subclasses from a type and state the pickle supplies).
_TORCH_REBUILDERS = ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
                     "_rebuild_parameter_with_state", "_rebuild_qtensor", "_rebuild_sparse_tensor",
                     "_rebuild_nested_tensor", "_rebuild_meta_tensor_no_storage",
                     "_rebuild_device_tensor_from_cpu_tensor", "_rebuild_device_tensor_from_numpy")
_DATA_BUILTINS = ("set", "frozenset", "bytearray", "complex", "slice", "range")
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    [("torch._utils", name) for name in _TORCH_REBUILDERS]
    + [(module, f"{kind}Storage") for module in ("torch", "torch.cuda") for kind in _STORAGE_TYPES]
    + [(module, f"{kind}Tensor") for module in ("torch", "torch.cuda", "torch.sparse", "torch.cuda.sparse")
       for kind in _STORAGE_TYPES if not kind.startswith("Complex")]
    + [("torch", name) for name in _QUANTIZED_STORAGES + _TORCH_DTYPES + _QSCHEMES + ("Size", "device", "Tensor")]
    + [("torch.storage", "TypedStorage"), ("torch.storage", "UntypedStorage"), ("torch.nn.parameter", "Parameter"),
       ("torch.serialization", "_get_layout")]
    + [("collections", "OrderedDict"), ("collections", "Counter"), ("_codecs", "encode")]  # encode: protocol-2 bytes
    + [(module, name) for module in ("builtins", "__builtin__") for name in _DATA_BUILTINS] + [("__builtin__", "xrange")]
    + [(f"numpy.{core}.{module}", name) for core in ("core", "_core")
       for module, name in (("multiarray", "_reconstruct"), ("multiarray", "scalar"), ("numeric", "_frombuffer"))]
    + [("numpy", "ndarray"), ("numpy", "dtype")]
)
EXTENSION_OPCODES = ("EXT1", "EXT2", "EXT4")

# picklescan logs every finding as a warning; the findings are reported by model-check instead.
_picklescan_log = logging.getLogger("picklescan")
_picklescan_log.addHandler(logging.NullHandler())
_picklescan_log.propagate = False


@dataclass
class PickleReport:
    """What the scan of one package file found."""

    rel: str
    form: str  # how the pickle is stored, e.g. "a zip checkpoint in torch.save format"
    members: list[str] = field(default_factory=list)  # pickle-bearing zip members
    disallowed: set[str] = field(default_factory=set)  # "module.name" outside ALLOWED_GLOBALS, extension codes
    dangerous: set[str] = field(default_factory=set)  # the disallowed ones picklescan's denylist also names
    imports: set[str] = field(default_factory=set)  # the allowlisted imports
    unscanned: list[str] = field(default_factory=list)  # what could not be scanned, and why
    holds_pickle: bool = True  # False for a zip in which no pickle was found (only unreadable members)
    torchscript_classes: set[str] = field(default_factory=set)  # __torch__.* classes the archive's code/ defines


def scan_pickles(path: Path, rel: str, head: bytes, whole: bool) -> PickleReport | None:
    """Scan one file if its content holds pickles (whatever its name); None when it holds none."""
    kind = kind_of(head, whole)
    if kind is Kind.PICKLE:
        return _raw_pickle(path, rel)
    if kind is Kind.NUMPY:
        return _numpy_file(path, rel)
    if kind is Kind.ZIP:
        return _zip(path, rel)
    if kind in COMPRESSED:
        return _compressed(path, rel, kind)
    return None


# -- raw pickle streams ----------------------------------------------------------------------
def _raw_pickle(path: Path, rel: str) -> PickleReport:
    report = PickleReport(rel, "a pickle stream")
    with path.open("rb") as handle:
        _scan_stream(report, BoundedReader(handle, SCAN_LIMIT, path.stat().st_size), rel, rel)
    return report


def _scan_stream(report: PickleReport, stream: BoundedReader, file_id: str, where: str) -> None:
    """A raw stream: a plain pickle, or torch's legacy format (several pickles, then tensor bytes)."""
    legacy = _safe(lambda: get_magic_number(stream)) == MAGIC_NUMBER
    stream.seek(0)
    if legacy:
        report.form = "a torch.save checkpoint in the legacy (pre-1.6) pickle format"
    problem = _framing_problem(report, stream, LEGACY_TORCH_PICKLES if legacy else 1, where)
    stream.seek(0)

    def run() -> scanner.ScanResult:
        try:  # scan_pytorch reads torch's legacy layout; anything else is one or more plain pickles
            return scanner.scan_pytorch(stream, file_id)
        except InvalidMagicError:
            stream.seek(0)
            return scanner.scan_pickle_bytes(stream, file_id)

    _record(report, run, where, problem)


def _framing_problem(report: PickleReport, stream: BoundedReader, count: int, where: str) -> str | None:
    """Why the first `count` pickles of `stream` cannot be read to their STOP opcode, if they cannot.
    Records the extension-registry opcodes (imports picklescan does not list) on the way."""
    for index in range(count):
        label = where if count == 1 else f"pickle {index + 1} of {count} in {where}"
        try:
            for opcode, arg, _ in pickletools.genops(stream):  # genops returns after the STOP opcode
                if opcode.name in EXTENSION_OPCODES:
                    report.disallowed.add(f"extension code {arg} (an import through copyreg's extension registry)")
        except Exception as exc:
            if stream.hit_limit:
                return f"{label} runs past the first {SCAN_LIMIT:,} bytes, which is all model-check scans of a pickle"
            return f"{label} does not parse as a pickle ({_short(exc)})"
    return None


def _record(report: PickleReport, run: Callable[[], scanner.ScanResult], where: str, problem: str | None) -> None:
    """Run picklescan and file its verdict; a failure or a partial parse is recorded as not scanned."""
    if problem is not None:
        report.unscanned.append(problem)
    try:
        result = run()
    except Exception as exc:
        report.unscanned.append(f"picklescan could not scan {where} ({type(exc).__name__}: {_short(exc)})")
        return
    for found in result.globals:
        name = f"{found.module}.{found.name}"
        if (found.module, found.name) in ALLOWED_GLOBALS:
            report.imports.add(name)
        else:
            report.disallowed.add(name)
            if found.safety is scanner.SafetyLevel.Dangerous:
                report.dangerous.add(name)
    if result.scan_err and problem is None:
        report.unscanned.append(f"picklescan stopped at a parse error in {where}; only the part before it was scanned")


# -- NumPy arrays with dtype=object (their elements are pickled) -----------------------------
def _numpy_file(path: Path, rel: str) -> PickleReport | None:
    with path.open("rb") as handle:
        stream = BoundedReader(handle, SCAN_LIMIT, path.stat().st_size)
        if not _npy_holds_objects(stream):
            return None
        report = PickleReport(rel, "a NumPy array of dtype=object (its elements are pickled)")
        _scan_npy_body(report, stream, rel, rel)
    return report


def _npy_holds_objects(stream: BinaryIO) -> bool:
    """Reads the .npy header; True when the array's elements are pickled. A header that numpy
    itself cannot read means an array that np.load cannot load either."""
    import numpy as np

    try:
        version = np.lib.format.read_magic(stream)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        _, _, dtype = read(stream, max_header_size=NPY_HEADER_LIMIT)
    except Exception:
        return False
    return bool(dtype.hasobject)


def _scan_npy_body(report: PickleReport, stream: BoundedReader, file_id: str, where: str) -> None:
    start = stream.tell()
    problem = _framing_problem(report, stream, 1, where)
    stream.seek(start)
    _record(report, lambda: scanner.scan_pickle_bytes(stream, file_id), where, problem)


# -- zip archives: torch.save checkpoints, .npz files, anything zipped -----------------------
def _zip(path: Path, rel: str) -> PickleReport | None:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None  # an unreadable archive is reported by the archive check, members unchecked
    with archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        report = PickleReport(rel, "a zip archive")
        if len(infos) > MAX_MEMBERS:
            report.unscanned.append(f"only the first {MAX_MEMBERS:,} of its {len(infos):,} members were looked at")
        for info in infos[:MAX_MEMBERS]:
            _zip_member(report, archive, info, rel)
        if not report.members and not report.unscanned:
            return None
        names = [PurePosixPath(m).name for m in report.members]
        report.holds_pickle = bool(names)
        if not names:
            return report  # only unreadable members: "a zip archive" that could not be scanned
        if zip_model_kind([info.filename for info in infos]) == TORCHSCRIPT:
            report.form = TORCHSCRIPT_FORM
            _torchscript_globals(report, archive, infos)
        elif "data.pkl" in names:
            report.form = "a zip checkpoint in torch.save format"
        elif all(name.endswith(".npy") for name in names):
            report.form = "a NumPy .npz archive with arrays of dtype=object (pickled elements)"
        else:
            report.form = "a zip archive holding pickles"
    return report


# -- TorchScript archives (torch.jit.save) ---------------------------------------------------------
# torch.jit._pickle's helpers, which TorchScript's own pickler writes: each returns its argument.
TORCHSCRIPT_HELPERS = frozenset(("torch.jit._pickle", name) for name in (
    "build_intlist", "build_tensorlist", "build_doublelist", "build_boollist", "build_tensor_from_id",
    "restore_type_tag"))
CODE_READ_LIMIT = 16 * 1024 * 1024  # bytes of one code/ file read to find a class definition
_QUALIFIED = re.compile(r"__torch__(?:\.[A-Za-z_][A-Za-z0-9_]*)*\.([A-Za-z_][A-Za-z0-9_]*)")


def _torchscript_globals(report: PickleReport, archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> None:
    """In a TorchScript archive, a `__torch__.<module>.<Class>` import names a class compiled from the
    archive's own `<root>/code/__torch__/<module>.py` (torch.jit.load resolves it there, never as a
    Python import): one that the archive really defines (`class <Class>` at the start of a line of
    that file) leaves the disallowed set for `torchscript_classes`, and torch.jit._pickle's helpers
    are allowed. Everything else stays disallowed, and nothing is exempted in an archive with more
    than one root folder or with files outside it."""
    roots = {info.filename.split("/", 1)[0] for info in infos}
    if len(roots) != 1 or any("/" not in info.filename for info in infos):
        return
    root = roots.pop()
    members = {info.filename: info for info in infos}
    code: dict[str, str | None] = {}
    for name in sorted(report.disallowed):
        module, _, cls = name.rpartition(".")
        if tuple(name.rsplit(".", 1)) in TORCHSCRIPT_HELPERS:
            report.disallowed.discard(name)
            report.dangerous.discard(name)
            report.imports.add(name)
            continue
        if not _QUALIFIED.fullmatch(name):
            continue
        member = f"{root}/code/{module.replace('.', '/')}.py"
        if member not in code:
            code[member] = _read_code(archive, members.get(member))
        text = code[member]
        if text is not None and re.search(rf"(?m)^class {re.escape(cls)}\b", text):
            report.disallowed.discard(name)
            report.dangerous.discard(name)
            report.torchscript_classes.add(name)


def _read_code(archive: zipfile.ZipFile, info: zipfile.ZipInfo | None) -> str | None:
    if info is None:
        return None
    try:
        with archive.open(info) as member:
            return member.read(CODE_READ_LIMIT).decode("utf-8")
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError, ValueError):
        return None


def _zip_member(report: PickleReport, archive: zipfile.ZipFile, info: zipfile.ZipInfo, rel: str) -> None:
    where = f"{rel}:{info.filename}"
    try:
        with archive.open(info) as member:
            head = member.read(HEAD_BYTES)
        kind = kind_of(head, len(head) >= info.file_size)
        named_pickle = info.filename.lower().endswith(PICKLE_NAMES)
        if kind is Kind.NUMPY:
            with archive.open(info) as member:
                stream = BoundedReader(member, SCAN_LIMIT, info.file_size)
                if _npy_holds_objects(stream):
                    report.members.append(info.filename)
                    _scan_npy_body(report, stream, where, where)
        elif kind is Kind.PICKLE or named_pickle:
            report.members.append(info.filename)
            with archive.open(info) as member:
                _scan_stream(report, BoundedReader(member, SCAN_LIMIT, info.file_size), where, where)
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError, ValueError) as exc:
        # encrypted, damaged or with an unknown compression: nothing can be said about its content
        report.unscanned.append(f"member {info.filename} cannot be read ({_short(exc)})")


# -- gzip / bzip2 / xz compressed pickles (joblib, pandas .pkl.gz) ---------------------------
def _compressed(path: Path, rel: str, kind: Kind) -> PickleReport | None:
    try:
        inner, whole = read_decompressed(path, kind, HEAD_BYTES)
    except Exception:
        return None
    if kind_of(inner, whole) is not Kind.PICKLE:
        return None  # a compressed tar is the archive check's; other content holds no pickle
    report = PickleReport(rel, f"a pickle stream compressed as {kind.value}")
    try:
        with open_decompressed(path, kind) as stream:
            _scan_stream(report, BoundedReader(stream, SCAN_LIMIT), rel, rel)
    except Exception as exc:
        report.unscanned.append(f"{rel} cannot be decompressed ({_short(exc)})")
    return report


def _safe(call: Callable[[], object]) -> object:
    try:
        return call()
    except Exception:
        return None


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


__all__ = ["ALLOWED_GLOBALS", "PickleReport", "SCAN_LIMIT", "TORCHSCRIPT_HELPERS", "scan_pickles"]
