"""ModelPackage: what was found in a package folder, read once and shared by every check.

Files are listed without following symlinks; text is read with size caps; nothing is written.
Parsed views (card, safetensors headers, ONNX summaries, JSON files) are computed on first use
and cached, so no check re-opens a file another check already parsed.
"""

from __future__ import annotations

import os
import stat
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from validator.core.findings import Artefact
from validator.core.package_paths import SKIPPED_DIRS
from validator.readers.hashing import FileHasher
from validator.readers.json_strict import parse_json_strict
from validator.readers.pointers import MAX_POINTER_BYTES, Pointer, read_pointer

if TYPE_CHECKING:
    from validator.readers.card import CardFacts
    from validator.readers.citation import Citation
    from validator.readers.cwl import CwlDocument
    from validator.readers.declared import DeclaredFacts
    from validator.readers.license import LicenseStatements
    from validator.readers.markdown import ModelCard
    from validator.readers.onnx import OnnxSummary
    from validator.readers.runtime_spec import RuntimeSpec
    from validator.readers.safetensors import SafetensorsHeader
    from validator.readers.stac_records import StacRecords

MAX_FILES = 20_000
_TEXT_SUFFIXES = (".py", ".md", ".txt", ".json", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".ipynb", ".cff",
                  ".sh", ".gitattributes", ".gitignore")
TEXT_LIMIT = 10 * 1024 * 1024  # larger "text" files are reported, not parsed
RUNTIME_FILES = ("requirements.txt", "environment.yml", "environment.yaml", "Dockerfile")
CODE_SUFFIXES = {".py", ".ipynb", ".sh", ".r", ".jl"}
TEXT_SUFFIXES = {".py", ".md", ".txt", ".json", ".yml", ".yaml", ".toml", ".cfg", ".ini", ".cff",
                 ".ipynb", ".sh", ".r", ".jl", ".rst", ".csv", ".env", ".in", ".lock", ""}


@dataclass(frozen=True)
class TextRead:
    """The result of reading a text file: the text, or why it could not be read."""

    text: str | None
    problem: str | None = None


@dataclass(frozen=True)
class SpecialEntry:
    """A path the validator will not read as a regular file (symlink, FIFO, device…)."""

    path: str
    kind: str  # "symlink", "fifo", "socket", "device", "unreadable"
    target: str | None = None
    escapes: bool = False


class ModelPackage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.files: list[str] = []  # regular files, relative POSIX paths, sorted
        self.dirs: list[str] = []
        self.special: list[SpecialEntry] = []
        self.truncated = False
        self._scan()
        # Hashed from now on, in a child process of two threads (validator.readers.hashing), so large files
        # hash on both cores while the checks parse headers and graphs.
        self._hasher = FileHasher([self.path(rel) for rel in self.files])
        self._onnx_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx")
        self._onnx_lock = threading.Lock()
        self._onnx_future: Future[dict[str, OnnxSummary]] | None = None
        self._text_cache: dict[str, TextRead] = {}

    # -- discovery -------------------------------------------------------------------------
    def _scan(self) -> None:
        stack = [self.root]
        while stack:
            current = stack.pop()
            try:
                entries = sorted(os.scandir(current), key=lambda e: e.name)
            except OSError as exc:
                self.special.append(SpecialEntry(self.rel(Path(current)), "unreadable", str(exc)))
                continue
            for entry in entries:
                path = Path(entry.path)
                rel = self.rel(path)
                try:
                    if entry.is_symlink():
                        self.special.append(self._symlink(path, rel))
                        continue
                    mode = entry.stat(follow_symlinks=False).st_mode
                except OSError as exc:
                    self.special.append(SpecialEntry(rel, "unreadable", str(exc)))
                    continue
                if stat.S_ISDIR(mode):
                    if entry.name not in SKIPPED_DIRS:
                        self.dirs.append(rel)
                        stack.append(path)
                elif stat.S_ISREG(mode):
                    if len(self.files) >= MAX_FILES:
                        self.truncated = True
                        continue
                    self.files.append(rel)
                else:
                    kind = "fifo" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device"
                    self.special.append(SpecialEntry(rel, kind))
        self.files.sort()
        self.dirs.sort()

    def _symlink(self, path: Path, rel: str) -> SpecialEntry:
        target = os.readlink(path)
        try:
            resolved = path.resolve()
        except RuntimeError:  # a symlink loop (Python < 3.13 raises RuntimeError, later OSError)
            return SpecialEntry(rel, "unreadable", f"{rel} is a symlink loop ({target})")
        escapes = not (resolved == self.root or self.root in resolved.parents)
        return SpecialEntry(rel, "symlink", target, escapes)

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix() if path != self.root else "."

    def path(self, rel: str) -> Path:
        return self.root / rel

    def has(self, rel: str) -> bool:
        return rel in self._file_set

    @cached_property
    def _file_set(self) -> frozenset[str]:
        return frozenset(self.files)

    def find(self, *names: str) -> str | None:
        """The first of `names` present at the package root (case-sensitive, then insensitive)."""
        for name in names:
            if self.has(name):
                return name
        lowered = {f.lower(): f for f in self.files if "/" not in f}
        for name in names:
            if name.lower() in lowered:
                return lowered[name.lower()]
        return None

    def with_suffix(self, *suffixes: str) -> list[str]:
        wanted = tuple(s.lower() for s in suffixes)
        return [f for f in self.files if f.lower().endswith(wanted)]

    def is_special(self, rel: str) -> SpecialEntry | None:
        return next((s for s in self.special if s.path == rel), None)

    # -- reading ---------------------------------------------------------------------------
    def size(self, rel: str) -> int:
        return self.path(rel).stat().st_size

    def read_text(self, rel: str, limit: int = TEXT_LIMIT) -> TextRead:
        """Read a UTF-8 text file (a BOM is accepted); report, never raise, on anything else."""
        if rel in self._text_cache:
            return self._text_cache[rel]
        result = self._read_text(rel, limit)
        self._text_cache[rel] = result
        return result

    def texts_read(self) -> list[str]:
        """The files read as text so far, in the order they were first read."""
        return list(self._text_cache)

    def _read_text(self, rel: str, limit: int) -> TextRead:
        special = self.is_special(rel)
        if special is not None:
            return TextRead(None, f"{rel} is a {special.kind}, not a regular file")
        path = self.path(rel)
        if path.is_dir():
            return TextRead(None, f"{rel} is a directory, not a file")
        if not self.has(rel):
            return TextRead(None, f"{rel} does not exist")
        try:
            size = path.stat().st_size
            if size > limit:
                return TextRead(None, f"{rel} is {size:,} bytes, more than the {limit:,} bytes read as text")
            with path.open("rb") as handle:
                data = handle.read(limit + 1)
        except OSError as exc:
            return TextRead(None, f"{rel} cannot be read: {exc.strerror or exc}")
        if b"\x00" in data[:8192]:
            return TextRead(None, f"{rel} is binary, not text")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return TextRead(None, f"{rel} is not UTF-8 (byte {exc.start} is invalid)")
        return TextRead(text)

    def read_json(self, rel: str) -> tuple[Any, str | None]:
        """Parse a JSON file strictly: no NaN/Infinity, no duplicate keys. (value, problem)."""
        read = self.read_text(rel)
        if read.text is None:
            return None, read.problem
        return parse_json_strict(read.text, rel)

    # -- parsed views ----------------------------------------------------------------------
    @cached_property
    def card(self) -> ModelCard | None:
        from validator.readers.markdown import parse_card

        readme = self.find("README.md")
        if readme is None:
            return None
        read = self.read_text(readme)
        if read.text is None:
            return None
        return parse_card(read.text, readme)

    @cached_property
    def card_facts(self) -> CardFacts | None:
        from validator.readers.card import read_card

        return read_card(self.card) if self.card is not None else None

    @cached_property
    def safetensors(self) -> dict[str, SafetensorsHeader]:
        """Header of every *.safetensors file, by path (a pointer left by Git LFS or git-annex is not one)."""
        from validator.readers.safetensors import read_header

        return {rel: read_header(self.path(rel), rel) for rel in self.with_suffix(".safetensors") if rel not in self.pointers}

    @cached_property
    def onnx(self) -> dict[str, OnnxSummary]:
        """Summary of every *.onnx graph, by path (parsed in one child process for all of them; pointers left out)."""
        return self.inspect_onnx_soon().result()

    def inspect_onnx_soon(self) -> Future[dict[str, OnnxSummary]]:
        """Start parsing the ONNX graphs in a background thread (their child process then runs beside the checks
        that come before the ONNX check); `onnx` waits for it."""
        with self._onnx_lock:
            if self._onnx_future is None:
                self._onnx_future = self._onnx_worker.submit(self._inspect_onnx)
            return self._onnx_future

    def _inspect_onnx(self) -> dict[str, OnnxSummary]:
        from validator.readers.onnx import inspect_graphs

        return inspect_graphs(self, [rel for rel in self.with_suffix(".onnx") if rel not in self.pointers])

    @cached_property
    def pointers(self) -> dict[str, Pointer]:
        """Files that are Git LFS or git-annex pointers: the real file was never fetched (validator.readers.pointers).
        Source and text files are not looked at: a pointer stands in for a large binary."""
        found: dict[str, Pointer] = {}
        for rel in self.files:
            if rel.lower().endswith(_TEXT_SUFFIXES) or self.size(rel) >= MAX_POINTER_BYTES:
                continue
            pointer = read_pointer(self.path(rel), rel)
            if pointer is not None:
                found[rel] = pointer
        return found

    @cached_property
    def cwl_documents(self) -> list[CwlDocument]:
        """Every CWL document (an OGC Application Package), read as data (validator.readers.cwl)."""
        from validator.readers.cwl import gather

        return gather(self)

    @cached_property
    def citation(self) -> Citation | None:
        """CITATION.cff as read (None when the package has none)."""
        from validator.readers.citation import read_citation

        rel = self.find("CITATION.cff")
        return read_citation(self, rel) if rel is not None else None

    @cached_property
    def declared(self) -> DeclaredFacts:
        """What each source of the package states about the model (validator.readers.declared)."""
        from validator.readers.declared import gather

        return gather(self)

    @cached_property
    def runtime_spec(self) -> RuntimeSpec:
        """The runtime definitions, parsed (validator.readers.runtime_spec)."""
        from validator.readers.runtime_spec import read_runtime

        return read_runtime(self)

    @cached_property
    def license(self) -> LicenseStatements:
        """Where the package states its license, and the license they agree on (validator.readers.license)."""
        from validator.readers.license import read_statements

        return read_statements(self)

    @cached_property
    def stac_records(self) -> StacRecords:
        """The STAC / OSC records shipped in the package (validator.readers.stac_records)."""
        from validator.readers.stac_records import find_records

        return find_records(self)

    @cached_property
    def runtime_files(self) -> list[str]:
        return [f for f in (self.find(n) for n in RUNTIME_FILES) if f is not None]

    @cached_property
    def code_files(self) -> list[str]:
        return [f for f in self.files if Path(f).suffix.lower() in CODE_SUFFIXES]

    def code_mentions(self, needle: str) -> list[str]:
        """Code files (scripts, notebooks) whose text contains `needle`."""
        hits = []
        for rel in self.code_files:
            text = self.read_text(rel).text
            if text is not None and needle in text:
                hits.append(rel)
        return hits

    # -- manifest --------------------------------------------------------------------------
    @cached_property
    def manifest(self) -> list[Artefact]:
        """Size and sha256 of every regular file; hashed in a child process from the start (validator.readers.hashing)."""
        return [Artefact(rel, *digest) for rel, digest in zip(self.files, self._hasher.results(), strict=True)
                if digest is not None]

    def close(self) -> None:
        self._hasher.close()
        self._onnx_worker.shutdown(wait=True)
