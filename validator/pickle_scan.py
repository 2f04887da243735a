"""Static scan of pickle-bearing files: raw pickle streams, zip checkpoints, NumPy object arrays.

Nothing is ever unpickled. The imports (GLOBAL / STACK_GLOBAL opcodes) are listed and judged by
picklescan, which the Hugging Face Hub runs on every uploaded file: a small library with a
maintained denylist of dangerous globals that reads opcodes from a stream we control (so reading
stays bounded). fickling decompiles pickles into Python ASTs for forensics (heavier, and its
verdicts are heuristic severity scores); modelscan wraps a similar denylist in a CLI framework
with its own settings and report format. A denylist only knows what it lists, so a clean result
is worded "no known-dangerous imports", never "safe".

picklescan treats a stream it cannot parse as "not a pickle" (no error flag) unless it found
imports first, so each pickle's framing is checked here too: a pickle that does not parse to its
STOP opcode within the bytes model-check reads is reported as not scanned.
"""

from __future__ import annotations

import logging
import pickletools
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable

import numpy as np
from picklescan import scanner
from picklescan.torch import MAGIC_NUMBER, InvalidMagicError, get_magic_number

from .bounded_io import BoundedReader
from .file_kinds import COMPRESSED, HEAD_BYTES, Kind, kind_of, open_decompressed, read_decompressed

SCAN_LIMIT = 256 * 1024 * 1024  # bytes of one pickle stream (or zip member) that are scanned
MAX_MEMBERS = 10_000  # zip members looked at for pickles
NPY_HEADER_LIMIT = 1024 * 1024  # np.load(allow_pickle=True) lifts numpy's own 10 kB header limit
LEGACY_TORCH_PICKLES = 5  # magic number, protocol, sys info, object, storage keys (torch.save before 1.6)
PICKLE_NAMES = (".pkl", ".pickle")

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
    dangerous: set[str] = field(default_factory=set)  # "module.name" on picklescan's denylist
    imports: set[str] = field(default_factory=set)  # every other import
    unscanned: list[str] = field(default_factory=list)  # what could not be scanned, and why
    holds_pickle: bool = True  # False for a zip in which no pickle was found (only unreadable members)


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
    problem = _framing_problem(stream, LEGACY_TORCH_PICKLES if legacy else 1, where)
    stream.seek(0)

    def run() -> scanner.ScanResult:
        try:  # scan_pytorch reads torch's legacy layout; anything else is one or more plain pickles
            return scanner.scan_pytorch(stream, file_id)
        except InvalidMagicError:
            stream.seek(0)
            return scanner.scan_pickle_bytes(stream, file_id)

    _record(report, run, where, problem)


def _framing_problem(stream: BoundedReader, count: int, where: str) -> str | None:
    """Why the first `count` pickles of `stream` cannot be read to their STOP opcode, if they cannot."""
    for index in range(count):
        label = where if count == 1 else f"pickle {index + 1} of {count} in {where}"
        try:
            for _ in pickletools.genops(stream):
                pass  # genops returns after the STOP opcode
        except Exception as exc:  # noqa: BLE001  (pickletools raises several types on damaged data)
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
    except Exception as exc:  # noqa: BLE001  (picklescan raises whatever its parsers raise)
        report.unscanned.append(f"picklescan could not scan {where} ({type(exc).__name__}: {_short(exc)})")
        return
    for found in result.globals:
        name = f"{found.module}.{found.name}"
        if found.safety is scanner.SafetyLevel.Dangerous:
            report.dangerous.add(name)
        else:
            report.imports.add(name)
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
    try:
        version = np.lib.format.read_magic(stream)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        _, _, dtype = read(stream, max_header_size=NPY_HEADER_LIMIT)
    except Exception:  # noqa: BLE001
        return False
    return bool(dtype.hasobject)


def _scan_npy_body(report: PickleReport, stream: BoundedReader, file_id: str, where: str) -> None:
    start = stream.tell()
    problem = _framing_problem(stream, 1, where)
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
    if "data.pkl" in names:
        report.form = "a zip checkpoint in torch.save format"
    elif all(name.endswith(".npy") for name in names):
        report.form = "a NumPy .npz archive with arrays of dtype=object (pickled elements)"
    else:
        report.form = "a zip archive holding pickles"
    return report


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
    except Exception:  # noqa: BLE001  (a damaged stream that no loader can read either)
        return None
    if kind_of(inner, whole) is not Kind.PICKLE:
        return None  # a compressed tar is the archive check's; other content holds no pickle
    report = PickleReport(rel, f"a pickle stream compressed as {kind.value}")
    try:
        with open_decompressed(path, kind) as stream:
            _scan_stream(report, BoundedReader(stream, SCAN_LIMIT), rel, rel)
    except Exception as exc:  # noqa: BLE001  (decompression errors surface while scanning)
        report.unscanned.append(f"{rel} cannot be decompressed ({_short(exc)})")
    return report


def _safe(call: Callable[[], object]) -> object:
    try:
        return call()
    except Exception:  # noqa: BLE001
        return None


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


__all__ = ["PickleReport", "SCAN_LIMIT", "scan_pickles"]
