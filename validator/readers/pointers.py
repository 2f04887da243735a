"""Placeholders a version-control tool commits instead of a large file, recognised by content.

A repository checked out without its large files (actions/checkout without `lfs: true`, a clone
without `git lfs pull` or `git annex get`) holds small text files where the weights should be:

- Git LFS: `version https://git-lfs.github.com/spec/v1`, then `key value` lines among which
  `oid sha256:<64 hex>` and `size <bytes>`; under 1024 bytes (the LFS specification's limit).
- git-annex, unlocked: one line `/annex/objects/<KEY>`, the key like `SHA256E-s<bytes>--<hex>.<ext>`.
- git-annex, locked: a symlink to `[../…].git/annex/objects/<2>/<2>/<KEY>/<KEY>`, dangling until
  `git annex get` (`annex_link`).
- DVC: a YAML `<name>.dvc` beside the tracked path, `outs:` a list of `{md5 (or hash: md5 + md5),
  size, nfiles (folders), path}`; the tracked path itself is not committed. The `.dvc` file stays when
  the data is fetched, so it is a pointer only while an out it lists is absent (`dvc_pointers`).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MAX_POINTER_BYTES = 1024
_LFS_VERSION = "version https://git-lfs.github.com/spec/v1"
_LFS_LINE = re.compile(r"[a-z0-9.-]{1,64} [^\n]{1,512}")
_ANNEX_LINK = re.compile(r"(?:\.\./)*\.git/annex/objects/[^/]{2,3}/[^/]{2,3}/([^/]{1,250})/\1")
_ANNEX = re.compile(r"/annex/objects/([A-Z0-9]{2,16}-s(\d{1,20})(?:-[A-Za-z0-9]{1,32}){0,4}--[^/\s]{1,200})")


@dataclass(frozen=True)
class Pointer:
    rel: str
    tool: str  # "Git LFS", "git-annex"
    size: int | None  # bytes of the file it stands for, when the pointer says
    fetch: str  # the command that fetches the real file
    target: str | None = None  # the path it stands for, when that is not `rel` itself (DVC)
    files: int | None = None  # files of a tracked folder, when the pointer says (DVC nfiles)


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


def annex_link(target: str, rel: str) -> Pointer | None:
    """The pointer a symlink is when its target is a git-annex object (a locked annexed file), else None."""
    match = _ANNEX_LINK.fullmatch(target.replace("\\", "/"))
    key = _ANNEX.fullmatch(f"/annex/objects/{match.group(1)}") if match else None
    if key is None:
        return None
    return Pointer(rel, "git-annex", int(key.group(2)), "git annex get")


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
    return Pointer(rel, "git-annex", int(match.group(2)), "git annex get")


MAX_DVC_BYTES = 64 * 1024  # a .dvc file lists outs and their hashes: a few hundred bytes each
_DVC_HASH = re.compile(r"[0-9a-f]{32}(?:\.dir)?")


def read_dvc(text: str, rel: str, exists: Callable[[str], bool]) -> list[Pointer]:
    """The outs of the DVC file `rel` (its text) that are absent from the package (`exists` says whether a
    package-relative path is a file or folder of the package); [] for anything that is not a DVC file."""
    import yaml

    if len(text) > MAX_DVC_BYTES:
        return []
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError):
        return []
    outs = data.get("outs") if isinstance(data, dict) else None
    if not isinstance(outs, list):
        return []
    folder = posixpath.dirname(rel)
    found: list[Pointer] = []
    for out in outs:
        if not isinstance(out, dict) or not isinstance(out.get("path"), str):
            continue
        digest = out.get("md5") or out.get("etag") or out.get("checksum")
        if not (isinstance(digest, str) and (_DVC_HASH.fullmatch(digest) or out.get("hash"))):
            continue
        target = posixpath.normpath(posixpath.join(folder, out["path"].strip().rstrip("/")))
        if target.startswith("../") or target == ".." or posixpath.isabs(target) or exists(target):
            continue
        size, files = out.get("size"), out.get("nfiles")
        found.append(Pointer(rel, "DVC", size if isinstance(size, int) and size >= 0 else None, "dvc pull", target,
                             files if isinstance(files, int) and files >= 0 else None))
    return found
