"""Credentials in the package's text files (notebook outputs included), found with detect-secrets.

detect-secrets runs in-process through its public API (SecretsCollection.scan_file) with its
default plugins and filters, minus three plugins that misfire on what model packages are full
of: the two high-entropy-string detectors (commit hashes and sha256 checksums the guideline asks
for, base64 images in notebook outputs) and the public-IP detector (an address is not a
credential; private hosts have their own rule).

detect-secrets is given screened copies in a private temporary folder, never the package's own
paths: the text comes from ModelPackage.read_text (regular files only, symlinks never followed,
size-capped), and lines that cannot hold a credential are left out of the copy (their numbers are
mapped back): rows of numbers (CSV data) and long base64 payloads (images in notebook outputs).
detect-secrets costs up to a millisecond per line, even a blank one: unscreened, a 2 MB CSV or a
notebook with one plot took 15 s. Past MAX_LINES lines of a file, the rest is not scanned and the
caller is told so.

detect-secrets' own expressions are not linear: its keyword detector's `\\w*` after a keyword and
`(?=[^\\v'"]*)` lookahead rescan the rest of the line from every keyword (a 4,000-character line
of `api_key` repeated took 25 s), and its indirect-reference filter is quadratic up to the 1,000
characters it stops at. A line longer than PIECE_CHARS (above that 1,000) reaches it in overlapping
pieces (one line each in the copy, mapped back to the line), so one call of its expressions is
bounded: about 2 µs per character of adversarial Markdown, still about 0.4 ms per character of
keyword spam, where the static checks' time budget (runner.STATIC_BUDGET_S) ends the scan.
The secret values found never leave this module: callers get the type, file and line.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from detect_secrets.core.secrets_collection import SecretsCollection
from detect_secrets.settings import default_settings

from validator.readers.notebook import is_base64_payload

UNUSED_PLUGINS = ("Base64HighEntropyString", "HexHighEntropyString", "IPPublicDetector")
# Found by variable names such as `password = "..."`: likely, not certain, to be a credential.
HEURISTIC_TYPES = frozenset({"Secret Keyword"})
MAX_LINES = 20_000  # lines of one file handed to detect-secrets (about 20 s of prose at worst)
PIECE_CHARS = 1_200  # longer lines are handed over in pieces of this length...
PIECE_OVERLAP = 300  # ...overlapping by this much, so a credential on a boundary is whole in one piece

_NUMERIC_ROW = re.compile(r"[\s\d.,;:|+\-eE\"'\[\]()]*")


@dataclass(frozen=True)
class SecretHit:
    rel: str
    line: int | None
    kind: str  # detect-secrets' secret type, e.g. "AWS Access Key"

    @property
    def heuristic(self) -> bool:
        return self.kind in HEURISTIC_TYPES


@dataclass(frozen=True)
class SecretsScan:
    hits: list[SecretHit]
    partial: dict[str, int]  # files scanned only in part -> the last line scanned


def find_secrets(texts: dict[str, str]) -> SecretsScan:
    """Scan texts (package-relative POSIX path -> content); lines are numbered as str.splitlines does."""
    hits: set[SecretHit] = set()
    line_maps: dict[str, list[int]] = {}
    partial: dict[str, int] = {}
    if not texts:
        return SecretsScan([], partial)
    with tempfile.TemporaryDirectory(prefix="model-check-secrets-") as scratch:
        root = Path(scratch)
        for rel, text in texts.items():
            kept, line_maps[rel] = screen(text)
            if len(line_maps[rel]) > MAX_LINES:
                partial[rel] = line_maps[rel][MAX_LINES - 1]
                kept = "\n".join(kept.split("\n")[:MAX_LINES]) + "\n"
            copy = root / rel  # same name and suffix: detect-secrets picks parsers and filters by them
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(kept, encoding="utf-8")
        with default_settings() as settings:
            settings.disable_plugins(*UNUSED_PLUGINS)
            collection = SecretsCollection(root=scratch)
            for rel in texts:
                collection.scan_file(rel)
            for filename, secrets in collection.data.items():
                rel = Path(filename).as_posix()
                for secret in secrets:
                    hits.add(SecretHit(rel, _original_line(line_maps.get(rel, []), secret.line_number), secret.type))
    return SecretsScan(sorted(hits, key=lambda h: (h.rel, h.line or 0, h.kind)), partial)


def screen(text: str) -> tuple[str, list[int]]:
    """The lines that may hold a credential, and the original 1-based number of each."""
    kept: list[str] = []
    numbers: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not _cannot_hold_secret(line):
            for piece in _pieces(line):
                kept.append(piece)
                numbers.append(number)
    return "\n".join(kept) + "\n", numbers


def _pieces(line: str) -> list[str]:
    """The line, or overlapping pieces of PIECE_CHARS characters that together cover it."""
    if len(line) <= PIECE_CHARS:
        return [line]
    step = PIECE_CHARS - PIECE_OVERLAP
    return [line[start:start + PIECE_CHARS] for start in range(0, len(line) - PIECE_OVERLAP, step)]


def _original_line(numbers: list[int], line: int) -> int | None:
    return numbers[line - 1] if 0 < line <= len(numbers) else None


def _cannot_hold_secret(line: str) -> bool:
    return bool(_NUMERIC_ROW.fullmatch(line)) or is_base64_payload(line)
