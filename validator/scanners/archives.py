"""Archives in a package (zip, tar, tar.gz/bz2/xz): entries that would land outside the folder they
are extracted into ("zip-slip"), links pointing out, device and FIFO entries.

Member lists only: nothing is extracted, and reading is bounded (members counted, decompressed
bytes capped), so a bomb or a million-entry archive yields a "not fully checked" answer.
"""

from __future__ import annotations

import posixpath
import re
import stat
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from validator.readers.bounded_io import BoundedReader
from validator.readers.file_kinds import COMPRESSED, Kind, kind_of, open_decompressed, read_decompressed, zip_model_kind

MAX_MEMBERS = 100_000
READ_LIMIT = 2 * 1024**3  # bytes of a tar stream (decompressed) read while listing its members
LINK_TARGET_LIMIT = 4096  # a zip symlink's target is stored as the member's content
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class UnsafeEntry:
    member: str
    reason: str


@dataclass
class ArchiveReport:
    rel: str
    kind: str  # "zip archive", "tar archive (gzip)", …
    members: int = 0
    unsafe: list[UnsafeEntry] = field(default_factory=list)
    incomplete: str | None = None  # why the member list was not (fully) read


def scan_archive(path: Path, rel: str, head: bytes, whole: bool) -> ArchiveReport | None:
    """Check the entries of an archive, recognised by content; None for anything that is not one."""
    kind = kind_of(head, whole)
    if kind is Kind.ZIP:
        return _zip(path, rel)
    if kind is Kind.TAR:
        return _tar(path, rel, None)
    if kind in COMPRESSED:
        try:
            inner, inner_whole = read_decompressed(path, kind, 1024)
        except Exception:
            return None
        return _tar(path, rel, kind) if kind_of(inner, inner_whole) is Kind.TAR else None
    if kind is Kind.SEVEN_ZIP:
        return ArchiveReport(rel, kind.value, incomplete="model-check cannot list the entries of 7z archives")
    return None


def zip_archive_kind(path: Path) -> str | None:
    """The model format a zip file is (Keras v3, skops, TorchScript, torch.save), by its member names
    (validator.readers.file_kinds.zip_model_kind); None for other zips and unreadable ones. Only the
    central directory is read, and at most MAX_MEMBERS names."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [info.filename for info in archive.infolist()[:MAX_MEMBERS]]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
        return None
    return zip_model_kind(names)


def entry_problem(name: str) -> str | None:
    """Why an entry name would be written outside the extraction folder, if it would."""
    unified = name.replace("\\", "/")
    if unified.startswith("/"):
        return "absolute path"
    if _DRIVE.match(unified):
        return "absolute Windows path"
    if _leaves(unified):
        return "path climbs out with '..'"
    return None


def link_problem(name: str, target: str, hard: bool = False) -> str | None:
    """Why a link entry points outside the extraction folder (hard links are relative to its root)."""
    unified = target.replace("\\", "/")
    kind = "hard link" if hard else "symlink"
    if unified.startswith("/") or _DRIVE.match(unified):
        return f"{kind} to the absolute path {target!r}"
    base = "" if hard else posixpath.dirname(name.replace("\\", "/"))
    if _leaves(posixpath.join(base, unified)):
        return f"{kind} to {target!r}, outside the archive"
    return None


def _leaves(path: str) -> bool:
    normal = posixpath.normpath(path)
    return normal == ".." or normal.startswith("../")


def _zip(path: Path, rel: str) -> ArchiveReport:
    report = ArchiveReport(rel, Kind.ZIP.value)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            report.members = len(infos)
            if len(infos) > MAX_MEMBERS:
                report.incomplete = f"only the first {MAX_MEMBERS:,} of its {len(infos):,} entries were checked"
            for info in infos[:MAX_MEMBERS]:
                _zip_entry(report, archive, info)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
        report.incomplete = f"its entry list cannot be read ({exc})"
    return report


def _zip_entry(report: ArchiveReport, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    problem = entry_problem(info.filename)
    if problem is None and stat.S_ISLNK(info.external_attr >> 16):
        try:
            with archive.open(info) as member:
                target = member.read(LINK_TARGET_LIMIT).decode("utf-8", "replace")
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError, ValueError) as exc:
            report.incomplete = f"the target of symlink entry {info.filename!r} cannot be read ({exc})"
            return
        problem = link_problem(info.filename, target)
    if problem is not None:
        report.unsafe.append(UnsafeEntry(info.filename, problem))


def _tar(path: Path, rel: str, compression: Kind | None) -> ArchiveReport:
    label = Kind.TAR.value + (f" ({compression.value})" if compression else "")
    report = ArchiveReport(rel, label)
    try:
        with open_decompressed(path, compression) if compression else path.open("rb") as raw:
            size = None if compression else path.stat().st_size
            stream = BoundedReader(raw, READ_LIMIT, size)
            try:
                # a plain tar is read by seeking over member data; a compressed one can only be streamed
                with tarfile.open(fileobj=stream, mode="r|" if compression else "r:") as archive:
                    for member in archive:
                        report.members += 1
                        if report.members > MAX_MEMBERS:
                            report.incomplete = f"only its first {MAX_MEMBERS:,} entries were checked"
                            break
                        problem = _tar_member_problem(member)
                        if problem is not None:
                            report.unsafe.append(UnsafeEntry(member.name, problem))
            except Exception as exc:
                report.incomplete = (f"only its first {READ_LIMIT:,} bytes were read" if stream.hit_limit
                                     else f"its entry list cannot be read to the end ({exc})")
    except OSError as exc:
        report.incomplete = f"it cannot be opened ({exc})"
    return report


def _tar_member_problem(member: tarfile.TarInfo) -> str | None:
    problem = entry_problem(member.name)
    if problem is not None:
        return problem
    if member.issym():
        return link_problem(member.name, member.linkname)
    if member.islnk():
        return link_problem(member.name, member.linkname, hard=True)
    if member.ischr() or member.isblk() or member.isfifo():
        return "device or FIFO entry"
    return None
