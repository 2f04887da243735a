"""What a cached folder (an environment, a tool layer) held when model-check made it, and whether it
still does: a stat walk recording every entry's relative path, type and mode, size, mtime_ns and
symlink target, without reading file contents.

`difference_in_child` runs the walk in a child process (`python -I -S` this file, standard library
only): a walk in model-check's own process makes one system call per entry, each a hand-over of the
GIL, and beside the static checks' Python code the 26,000 entries of a torch environment took 1.1 s
instead of 0.3 s (measured); the child walks on the other core.

It catches what changes a file the ordinary way (a write, a replaced interpreter, an added `.pth`),
at about a second for a 5 GB, 30,000-file torch environment. It does not catch a same-size write
whose author then restored the old mtime with utime(): nothing that runs package code can write a
cached folder in the first place (builds write only their own folder, package code sees caches
read-only); the manifest is the second line of defence.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

MAX_RECORD_BYTES = 256 * 2**20  # a record file larger than this is not read

Entry = list[int | str | None]  # [mode, size, mtime_ns, symlink target or None]


def record(root: Path, skip: frozenset[str] = frozenset()) -> dict[str, Entry]:
    """Every entry below root (root itself excluded), by relative POSIX path; `skip` names top-level entries."""
    return dict(_walk(root, skip))


def _walk(root: Path, skip: frozenset[str]) -> Iterator[tuple[str, Entry]]:
    pending = [(str(root), "")]
    while pending:
        folder, rel = pending.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if not rel and entry.name in skip:
                    continue
                path = f"{rel}{entry.name}"
                info = entry.stat(follow_symlinks=False)
                target = os.readlink(entry.path) if stat.S_ISLNK(info.st_mode) else None
                size = info.st_size if stat.S_ISREG(info.st_mode) else 0
                yield path, [info.st_mode, size, info.st_mtime_ns, target]
                if stat.S_ISDIR(info.st_mode):
                    pending.append((entry.path, path + "/"))


def difference(root: Path, recorded: object, skip: frozenset[str] = frozenset()) -> str | None:
    """The first way root differs from what was recorded, as a phrase; None when it matches."""
    if not isinstance(recorded, dict):
        return "its manifest is missing or unreadable"
    try:
        now = record(root, skip)
    except OSError as exc:
        return f"it cannot be read ({exc.strerror or exc})"
    folders = []  # a folder's mtime changes with what was added or removed in it: named only when nothing else is
    for path in sorted(set(recorded) | set(now)):
        before, after = recorded.get(path), now.get(path)
        if before is None:
            return f"{path} was added after the build"
        if after is None:
            return f"{path} was removed after the build"
        if list(before) != after:
            found = f"{path} changed after the build ({_what_changed(before, after)})"
            if not stat.S_ISDIR(int(after[0] or 0)) or before[0] != after[0]:
                return found
            folders.append(found)
    return folders[0] if folders else None


def _what_changed(before: list[object], after: Entry) -> str:
    names = ("type or mode", "size", "modification time", "symlink target")
    changed = [name for name, old, new in zip(names, before, after, strict=False) if old != new]
    if after[3] is not None and before[3] != after[3]:
        return f"now a symlink to {after[3]}, recorded {before[3] or 'not a symlink'}"
    return ", ".join(changed) or "unknown"


def difference_in_child(root: Path, record_file: Path, key: str, skip: frozenset[str] = frozenset()) -> str | None:
    """difference(root, the `key` entry of the JSON object in record_file, skip), computed in a child process
    with an empty environment; in this process when the child cannot give an answer."""
    argv = [sys.executable, "-I", "-S", __file__, str(root), str(record_file), key, *sorted(skip)]
    try:
        done = subprocess.run(argv, capture_output=True, env={}, cwd="/", timeout=600, check=False)
        answer = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError):
        answer = None
    if isinstance(answer, dict) and "difference" in answer and isinstance(answer["difference"], str | None):
        found: str | None = answer["difference"]
        return found
    return difference(root, _recorded(record_file, key), skip)


def _recorded(record_file: Path, key: str) -> object:
    try:
        with open(record_file, "rb") as handle:
            data = json.loads(handle.read(MAX_RECORD_BYTES))
    except (OSError, ValueError):
        return None
    return data.get(key) if isinstance(data, dict) else None


if __name__ == "__main__":  # python -I -S manifest.py ROOT RECORD_FILE KEY [SKIP ...]
    _root, _file, _key, *_skip = sys.argv[1:]
    print(json.dumps({"difference": difference(Path(_root), _recorded(Path(_file), _key), frozenset(_skip))}))
