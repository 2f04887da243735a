"""Placeholders a version-control tool commits instead of a large file, recognised by content.

A repository checked out without its large files (actions/checkout without `lfs: true`, a clone
without `git lfs pull` or `git annex get`) holds small text files where the weights should be:

- Git LFS: `version https://git-lfs.github.com/spec/v1`, then `key value` lines among which
  `oid sha256:<64 hex>` and `size <bytes>`; under 1024 bytes (the LFS specification's limit).
- git-annex, unlocked: one line `/annex/objects/<KEY>`, the key like `SHA256E-s<bytes>--<hex>.<ext>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MAX_POINTER_BYTES = 1024
_LFS_VERSION = "version https://git-lfs.github.com/spec/v1"
_LFS_LINE = re.compile(r"[a-z0-9.-]{1,64} [^\n]{1,512}")
_ANNEX = re.compile(r"/annex/objects/([A-Z0-9]{2,16}-s(\d{1,20})(?:-[A-Za-z0-9]{1,32}){0,4}--[^/\s]{1,200})")


@dataclass(frozen=True)
class Pointer:
    rel: str
    tool: str  # "Git LFS", "git-annex"
    size: int | None  # bytes of the file it stands for, when the pointer says
    fetch: str  # the command that fetches the real file


def read_pointer(path: Path, rel: str) -> Pointer | None:
    """The pointer `path` holds, or None when it is a real file (or cannot be read)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_POINTER_BYTES)
    except OSError:
        return None
    if len(data) >= MAX_POINTER_BYTES:
        return None
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    return _lfs(text, rel) or _annex(text, rel)


def _lfs(text: str, rel: str) -> Pointer | None:
    lines = text.split("\n")
    if lines[0] != _LFS_VERSION or lines[-1] != "" or not all(_LFS_LINE.fullmatch(line) for line in lines[1:-1]):
        return None
    fields = dict(line.split(" ", 1) for line in lines[1:-1])
    oid, size = fields.get("oid", ""), fields.get("size", "")
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", oid) or not size.isdigit():
        return None
    return Pointer(rel, "Git LFS", int(size), "git lfs pull")


def _annex(text: str, rel: str) -> Pointer | None:
    match = _ANNEX.fullmatch(text.strip())
    if match is None:
        return None
    return Pointer(rel, "git-annex", int(match.group(2)), "git annex get (or datalad get)")
