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


# Files GitHub shows as text, where an annotation without a line still lands on a line that means something
# (line 1). A model, weights, array, archive or image has no such line: GitHub renders an annotation on it badly.
TEXT_SUFFIXES = frozenset({
    ".md", ".markdown", ".rst", ".txt", ".text", ".py", ".pyi", ".ipynb", ".toml", ".cfg", ".ini", ".yaml", ".yml",
    ".json", ".jsonld", ".geojson", ".cff", ".lock", ".in", ".sh", ".bash", ".r", ".jl", ".csv", ".tsv", ".xml",
    ".html", ".htm", ".css", ".js", ".ts", ".sql", ".dockerfile", ".env", ".bib", ".tex", ".license", ".spdx",
})


def annotatable(file: str, line: int | None) -> bool:
    """Whether an annotation can be shown at this place: any numbered line (only text has lines), else a text
    file by its name (no suffix, as LICENSE or Dockerfile; or a text suffix)."""
    if line:
        return True
    suffix = posixpath.splitext(posixpath.basename(file))[1].lower()
    return not suffix or suffix in TEXT_SUFFIXES
