"""Where a finding lies in the repository: the package's path joined with the finding's file."""

from __future__ import annotations

import posixpath
import re

_UNSAFE = re.compile(r"[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def repo_path(package_path: str, file: str | None) -> str | None:
    """`file` (relative to the package) as a path relative to the repository root, or None when
    there is no file or the result would leave the repository (reports may be untrusted)."""
    if not file:
        return None
    base = package_path.replace("\\", "/") if package_path else "."
    joined = posixpath.normpath(posixpath.join(base, file.replace("\\", "/")))
    if joined.startswith(("/", "../")) or joined == ".." or _UNSAFE.search(joined):
        return None
    return joined
