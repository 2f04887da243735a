"""Validate an ONNX tensor's external-data reference without opening the file it names.

The reference is untrusted: a `location` can climb out of the package (`../x`, `/etc/passwd`),
go through a symlink or a hard link, name a FIFO or a device that blocks or never ends, or
claim an offset and length the file does not hold (onnx CVE-2022-25882, CVE-2024-27318).
Only lstat() is used here, so nothing the reference names is ever opened.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

KNOWN_KEYS = ("location", "offset", "length", "checksum", "basepath")
_DECIMAL = re.compile(r"[0-9]{1,30}")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ExternalRef:
    """Where one tensor's bytes live, as the model declares them."""

    tensor: str
    location: str | None
    offset: int | None
    length: int | None
    needed_bytes: int | None  # the least the tensor's shape and element type need


def check_external(
    root: Path, model_dir: Path, tensor: str, entries: list[tuple[str, str]], needed_bytes: int | None
) -> tuple[ExternalRef, list[str]]:
    """The reference of `tensor` and what is wrong with it (messages naming the tensor)."""
    problems: list[str] = []
    values: dict[str, str] = {}
    for key, value in entries:
        if key in values:
            problems.append(f"key {key!r} is given twice")
        elif key not in KNOWN_KEYS:
            problems.append(f"unknown key {key!r} (known: {', '.join(KNOWN_KEYS)})")
        values[key] = value
    offset = _count(values, "offset", problems)
    length = _count(values, "length", problems)
    location = values.get("location")
    ref = ExternalRef(tensor, location, offset, length, needed_bytes)
    if not location:
        problems.append("has no location")
    else:
        problems += _check_location(root, model_dir, location, offset, length, needed_bytes)
    return ref, [f"tensor {tensor!r}: {p}" for p in problems]


def _count(values: dict[str, str], key: str, problems: list[str]) -> int | None:
    raw = values.get(key)
    if raw is None:
        return None
    if not _DECIMAL.fullmatch(raw):
        problems.append(f"{key} {raw[:40]!r} is not a non-negative whole number")
        return None
    return int(raw)


def _check_location(
    root: Path, model_dir: Path, location: str, offset: int | None, length: int | None, needed: int | None
) -> list[str]:
    shown = repr(location[:200])
    if "\x00" in location:
        return [f"location {shown} contains a NUL byte"]
    if location.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(location):
        return [f"location {shown} is absolute; it must be a path relative to the model file"]
    if "\\" in location:
        return [f"location {shown} contains a backslash; use '/' (on Windows '\\' separates folders, so '..\\' can escape)"]
    # Walk the path one component at a time: every prefix stays inside the package and none
    # is a symlink (a symlinked folder followed by '..' lands somewhere else entirely).
    current = str(model_dir)
    info: os.stat_result | None = None
    for part in location.split("/"):
        if part in ("", "."):
            continue
        current = os.path.join(current, part)
        if not _inside(root, os.path.normpath(current)):
            return [f"location {shown} points outside the package"]
        try:
            info = os.lstat(current)
        except OSError:
            return [f"location {shown} does not exist in the package"]
        if stat.S_ISLNK(info.st_mode):
            return [f"location {shown} goes through the symlink {os.path.relpath(current, root)!r}; store the file itself in the package"]
    if info is None:
        return [f"location {shown} names the model's folder, not a file"]
    if not _inside(root, os.path.realpath(current)):
        return [f"location {shown} points outside the package"]
    if not stat.S_ISREG(info.st_mode):
        return [f"location {shown} is a {_kind(info.st_mode)}, not a regular file (it was not opened)"]
    problems = []
    if info.st_nlink > 1:
        problems.append(f"location {shown} has {info.st_nlink} hard links; a hard link can expose a file from outside the package: store a plain copy")
    size = info.st_size
    start = offset or 0
    if start > size:
        problems.append(f"offset {start:,} lies past the end of {shown} ({size:,} bytes)")
    elif length is not None and start + length > size:
        problems.append(f"offset {start:,} + length {length:,} runs past the end of {shown} ({size:,} bytes)")
    else:
        available = length if length is not None else size - start
        if needed is not None and available < needed:
            problems.append(f"holds {available:,} bytes in {shown} but its shape and type need {needed:,}")
    return problems


def _inside(root: Path, path: str) -> bool:
    return path == str(root) or path.startswith(str(root) + os.sep)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"
