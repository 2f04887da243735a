"""The distributions an environment holds, read from its metadata files as data.

Never by running the environment's interpreter, nor a tool that runs it (`uv pip list --python`):
install-time code may have replaced it, and model-check runs nothing of a package environment outside
the sandbox. Each `*.dist-info/METADATA` (or `*.egg-info` PKG-INFO) of the environment's
site-packages is opened without following symlinks, and only its first 64 KiB are read: Name and
Version are in the header at the top. A site-packages folder reached through a symlink leading out
of the environment is not read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from packaging.utils import canonicalize_name

HEADER_BYTES = 64 * 1024
_LONGEST = 200  # longer names or versions are not metadata a packaging tool wrote


def site_packages(prefix: Path) -> list[Path]:
    """The site-packages folders inside the environment (lib and lib64, deduplicated)."""
    root = prefix.resolve()
    found: dict[Path, Path] = {}
    for lib in ("lib", "lib64"):
        for candidate in sorted((prefix / lib).glob("python*/site-packages")):
            real = candidate.resolve()
            if real.is_dir() and root in real.parents:
                found.setdefault(real, candidate)
    return list(found.values())


def distributions(prefix: Path) -> dict[str, str]:
    """Canonical name -> version of every distribution installed in the environment at `prefix`."""
    found: dict[str, str] = {}
    for folder in site_packages(prefix):
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.name.endswith(".dist-info") and entry.is_dir(follow_symlinks=False):
                    header = read_header(Path(entry.path, "METADATA"))
                elif entry.name.endswith(".egg-info"):
                    is_dir = entry.is_dir(follow_symlinks=False)
                    header = read_header(Path(entry.path, "PKG-INFO") if is_dir else Path(entry.path))
                else:
                    continue
                name, version = name_and_version(header)
                if name and version:
                    found.setdefault(canonicalize_name(name), version)
    return found


def read_header(path: Path) -> str:
    """The first HEADER_BYTES of a regular file, never through a symlink; "" when it cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return ""
        return handle.read(HEADER_BYTES).decode("utf-8", "replace")


def name_and_version(header: str) -> tuple[str | None, str | None]:
    """Name and Version of a core-metadata header (RFC 822 style, ends at the first blank line)."""
    values: dict[str, str] = {}
    for line in header.splitlines():
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if sep and key in ("name", "version") and key not in values:
            values[key] = value.strip()
    name, version = values.get("name"), values.get("version")
    valid = all(v and len(v) <= _LONGEST and v.isprintable() for v in (name, version))
    return (name, version) if valid else (None, None)
