"""Credentials in the package's text files (notebook outputs included), found with detect-secrets.

detect-secrets runs in-process with its default plugins and filters, minus three plugins that
misfire on what model packages are full of: the two high-entropy-string detectors (commit hashes
and sha256 checksums the guideline asks for, base64 images in notebook outputs) and the public-IP
detector (an address is not a credential; private hosts are reported by their own rule). Only
regular files (never symlinks) of bounded size are handed to it, and the secret values it finds
never leave this module: callers get the type, file and line.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from detect_secrets import SecretsCollection
from detect_secrets.settings import default_settings

UNUSED_PLUGINS = ("Base64HighEntropyString", "HexHighEntropyString", "IPPublicDetector")
# Found by variable names such as `password = "..."`: likely, not certain, to be a credential.
HEURISTIC_TYPES = frozenset({"Secret Keyword"})


@dataclass(frozen=True)
class SecretHit:
    rel: str
    line: int | None
    kind: str  # detect-secrets' secret type, e.g. "AWS Access Key"

    @property
    def heuristic(self) -> bool:
        return self.kind in HEURISTIC_TYPES


def find_secrets(root: Path, rels: list[str], size_limit: int) -> list[SecretHit]:
    """Scan the given package files (relative POSIX paths); unsafe or oversized ones are skipped
    (the caller decides which files to pass and reports those it could not)."""
    safe = [rel for rel in rels if _regular_and_small(root / rel, size_limit)]
    if not safe:
        return []
    hits: set[SecretHit] = set()
    with default_settings() as settings:
        settings.disable_plugins(*UNUSED_PLUGINS)
        collection = SecretsCollection(root=str(root))
        for rel in safe:
            collection.scan_file(rel)
        for filename, secrets in collection.data.items():
            rel = Path(filename).as_posix()
            for secret in secrets:
                hits.add(SecretHit(rel, secret.line_number or None, secret.type))
    return sorted(hits, key=lambda h: (h.rel, h.line or 0, h.kind))


def _regular_and_small(path: Path, size_limit: int) -> bool:
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_size <= size_limit
