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

Two corrections to detect-secrets, both decided on the value as a whole, strictly:
- an obvious placeholder is not a credential (`YOUR_AWS_SECRET_KEY`, `<your-token>`, `${API_KEY}`,
  `changeme`, `xxxx`, `AKIAXXXXXXXXXXXXXXXX`): words only, in one case, with a placeholder
  word (your, insert, here, example, …), or a template, or one mask character repeated. A value with
  a digit or mixed case is never a placeholder word, so a real key cannot pass for one;
- a partially masked AWS key is still reported (detect-secrets needs the whole key): an access key
  id (AKIA… or a value of AWS_ACCESS_KEY…) or a secret key (a value of AWS_SECRET…) of the real
  length with some characters replaced by `*`. How many characters it shows is reported with it.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from validator.readers.notebook import is_base64_payload

UNUSED_PLUGINS = ("Base64HighEntropyString", "HexHighEntropyString", "IPPublicDetector")
# Found by variable names such as `password = "..."`: likely, not certain, to be a credential.
HEURISTIC_TYPES = frozenset({"Secret Keyword"})
MAX_LINES = 20_000  # lines of one file handed to detect-secrets (about 20 s of prose at worst)
PIECE_CHARS = 1_200  # longer lines are handed over in pieces of this length...
PIECE_OVERLAP = 300  # ...overlapping by this much, so a credential on a boundary is whole in one piece

_NUMERIC_ROW = re.compile(r"[\s\d.,;:|+\-eE\"'\[\]()]*")

# -- placeholders ----------------------------------------------------------------------------------
PLACEHOLDER_WORDS = frozenset({"your", "my", "insert", "enter", "replace", "put", "here", "example", "placeholder",
                               "dummy", "fake", "sample", "changeme", "redacted", "xxx", "todo", "tbd", "fixme"})
_PLACEHOLDER_VALUES = frozenset({"changeme", "change_me", "change-me", "password", "passwd", "secret", "token",
                                 "apikey", "api_key", "none", "null", "nil", "todo", "tbd", "fixme", "redacted",
                                 "placeholder", "example", "dummy", "fake", "sample", "default", "empty", "test"})
# `${VAR}`, not `${VAR:-default}`: a default can be a real value
_TEMPLATE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\{\{\s*[\w.]+\s*\}\}|%[A-Za-z_][A-Za-z0-9_]*%"
                       r"|<[A-Za-z][A-Za-z _.-]{0,60}>|\[[A-Za-z][A-Za-z _.-]{0,60}\]")
_MASK = re.compile(r"(x+|X+|\*+|\.+|-+|_+|#+|0+|•+)")
_WORDS = re.compile(r"[A-Za-z]+(?:[_\- ][A-Za-z]+)*")
_AWS_ID_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "APKA")

# -- partially masked AWS keys ---------------------------------------------------------------------
_MASKED_ID = re.compile(r"(?<![A-Za-z0-9*])(?:" + "|".join(_AWS_ID_PREFIXES) + r")[A-Z0-9*]{16}(?![A-Za-z0-9*])")
_MASKED_ASSIGNED = re.compile(
    r"(?i)(aws_?(?:secret(?:_?access)?_?key|access_?key(?:_?id)?))['\"]?\s*[=:]\s*['\"]?([A-Za-z0-9/+*]{16,44})(?![A-Za-z0-9/+*])")


def is_placeholder(value: str) -> bool:
    """Whether a value is obviously not a real credential (see the module docstring); strict on purpose."""
    text = value.strip().strip("'\"").strip().rstrip(",;").strip("'\"")
    if not text or text.lower() in _PLACEHOLDER_VALUES or _MASK.fullmatch(text) or _TEMPLATE.fullmatch(text):
        return True
    if text.startswith(_AWS_ID_PREFIXES) and _MASK.fullmatch(text[4:]):
        return True
    if _WORDS.fullmatch(text) and (text.isupper() or text.islower()):
        return bool(PLACEHOLDER_WORDS & set(re.split(r"[_\- ]", text.lower())))
    return False


# Files whose commands a shell splits into words: an unquoted value ends at the first blank.
_SHELL_WORDS = (".md", ".markdown", ".rst", ".txt", ".sh", ".bash", ".ipynb")


def _placeholder_in(rel: str, text: str, line: int | None, value: str) -> bool:
    """Whether the value detect-secrets found is a placeholder. detect-secrets takes an unquoted value to
    the end of the line; in a shell command (`docker run -e KEY=YOUR_KEY image`, in a README or a script)
    the value is the word after `=`, so there the first word alone is judged, when it is unquoted."""
    if is_placeholder(value):
        return True
    words = value.split()
    name = PurePosixPath(rel).name.lower()
    if len(words) < 2 or line is None or not (name.endswith(_SHELL_WORDS) or name.startswith("dockerfile")):
        return False
    lines = text.splitlines()
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    at = source.find(value)
    return at > 0 and source[at - 1] in "=: \t" and is_placeholder(words[0])


def masked_aws_keys(text: str) -> list[tuple[int, str, int, int]]:
    """Partially masked AWS keys: (line, kind, characters shown, length) for each."""
    found: list[tuple[int, str, int, int]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if "*" not in line:
            continue
        spans: list[tuple[int, int]] = []
        for match in _MASKED_ASSIGNED.finditer(line):
            name, key = match.group(1).lower(), match.group(2)
            kind, length = ("AWS secret access key", 40) if "secret" in name else ("AWS access key id", 20)
            if len(key) == length and "*" in key and key.strip("*"):
                found.append((number, kind, len(key) - key.count("*"), length))
                spans.append(match.span(2))
        for match in _MASKED_ID.finditer(line):
            key = match.group(0)
            if "*" in key and key[4:].strip("*") and not any(a <= match.start() < b for a, b in spans):
                found.append((number, "AWS access key id", len(key) - key.count("*"), len(key)))
    return found


@dataclass(frozen=True)
class SecretHit:
    rel: str
    line: int | None
    kind: str  # detect-secrets' secret type, e.g. "AWS Access Key"
    shown: int | None = None  # a partially masked key: how many of its `length` characters are shown
    length: int | None = None

    @property
    def masked(self) -> bool:
        return self.shown is not None

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
    # Imported here: detect-secrets imports requests (0.2 s), paid only by a run that scans (CLI start-up: issue 16).
    from detect_secrets.core.secrets_collection import SecretsCollection
    from detect_secrets.settings import default_settings

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
                    line = _original_line(line_maps.get(rel, []), secret.line_number)
                    if secret.secret_value is not None and _placeholder_in(rel, texts.get(rel, ""), line,
                                                                           secret.secret_value):
                        continue
                    hits.add(SecretHit(rel, line, secret.type))
    for rel, text in texts.items():
        last = partial.get(rel)
        for line, kind, shown, length in masked_aws_keys(text):
            if last is None or line <= last:
                hits.add(SecretHit(rel, line, kind, shown, length))
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
