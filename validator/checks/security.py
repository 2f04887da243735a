"""Area security: pickles (found by content), credentials, private paths and hosts, links out of
the package, and archives whose entries would escape the folder they are extracted into.

Everything here is static: nothing is unpickled, extracted, imported or executed. A pickle's
imports are judged against an allowlist of what plain tensor and array data need (validator/scanners/pickles.py):
anything else is an error. Scanners' clean results are heuristics, so messages never say "safe",
and whatever could not be scanned is reported as such.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath

from validator.checks.base import StaticCheck
from validator.core.catalogue import rule
from validator.core.findings import Area, Finding
from validator.core.options import Options
from validator.readers.file_kinds import read_head
from validator.readers.notebook import NotebookLines
from validator.readers.package import TEXT_SUFFIXES, ModelPackage
from validator.scanners.archives import ArchiveReport, scan_archive
from validator.scanners.container_paths import copied_files, inside_container, is_dockerfile, read_container
from validator.scanners.pickles import PickleReport, scan_pickles
from validator.scanners.private_refs import HOST, PATH, NotebookRefs, PrivateRef, find_private_refs, scan_notebook, scan_text
from validator.scanners.secrets import MAX_LINES, SecretHit, find_secrets

SAFE_WEIGHTS = ("The guideline's 'Publish Safe Weights': use model.safetensors to support PyTorch users "
                "while avoiding pickle-based checkpoint loading")
NO_PRIVATE = "The guideline's checklist: no credentials, private paths, or unpublished data are required to run inference."
CLEAN_ENV = "The guideline: the published artefact should run from a clean environment without manual setup steps."
MAX_PER_FILE = 10  # findings of one rule in one file; the rest are summed up in one more finding

PLAIN_DATA = ("the globals plain tensor, state-dict and NumPy array pickles need (torch's tensor and storage "
              "rebuilders, collections.OrderedDict, NumPy's array reconstruction, data-only builtins such as set)")

# Files read for private paths and hosts: code, configuration and runtime definitions (not prose).
_REF_SUFFIXES = {".py", ".ipynb", ".sh", ".r", ".jl", ".json", ".yml", ".yaml", ".toml", ".cfg", ".ini", ".env",
                 ".conf", ".in", ".lock"}
_REF_NAMES = ("requirements", "dockerfile", "containerfile", "makefile", "environment", "constraints")
# Known text formats: one that cannot be read as text is reported; other unreadable files are binary data.
_TEXT_SUFFIXES = {s for s in TEXT_SUFFIXES if s} | {".conf", ".sh", ".r"}


@dataclass(frozen=True)
class SecurityScan:
    """The security check's findings, and what it scanned."""

    findings: list[Finding]
    pickle_files: list[str]  # files that hold a pickle (by content, whatever their name)
    archives: list[str]
    text_files_scanned: int


class SecurityCheck(StaticCheck):
    name = "security scan"
    area = Area.SECURITY

    def run(self, pkg: ModelPackage, options: Options) -> Iterable[Finding]:
        return self.scan(pkg).findings

    def scan(self, pkg: ModelPackage) -> SecurityScan:
        findings = list(self._symlinks(pkg))
        pickles: list[str] = []
        archives: list[str] = []
        for rel in pkg.files:
            try:
                head, whole = read_head(pkg.path(rel))
            except OSError:
                continue  # reported by the layout check
            pickle_report = scan_pickles(pkg.path(rel), rel, head, whole)
            if pickle_report is not None:
                if pickle_report.holds_pickle:
                    pickles.append(rel)
                findings += self._pickle_findings(pickle_report)
            archive_report = scan_archive(pkg.path(rel), rel, head, whole)
            if archive_report is not None:
                archives.append(rel)
                findings += self._archive_findings(archive_report)
        texts, unscanned = self._text_files(pkg)
        findings += unscanned
        findings += self._secrets(pkg, texts)
        findings += self._private_refs(pkg, texts)
        return SecurityScan(findings, pickles, archives, len(texts))

    # -- links out ---------------------------------------------------------------------------
    def _symlinks(self, pkg: ModelPackage) -> Iterable[Finding]:
        for entry in pkg.special:
            if entry.kind == "symlink" and entry.escapes:
                yield rule("symlink-escapes").finding(f"{entry.path} is a symlink to {entry.target!r}, which resolves outside "
                                          "the package", file=entry.path)

    # -- pickles -----------------------------------------------------------------------------
    def _pickle_findings(self, report: PickleReport) -> Iterable[Finding]:
        rel = report.rel
        noun = "pickled member" if len(report.members) == 1 else "pickled members"
        inside = f" ({_listing(noun, report.members)})" if report.members else ""
        classes = report.torchscript_classes
        compiled = (f" (besides {len(classes)} TorchScript classes compiled from its own code/ folder)" if classes else "")
        if report.disallowed:
            known = sorted(report.dangerous)
            denylisted = f" ({_listing('', known)} on picklescan's list of dangerous imports)" if known else ""
            yield rule("pickle-dangerous-import").finding(
                f"{rel} is {report.form}{inside} that imports {_listing('', sorted(report.disallowed), 10)}"
                f"{denylisted}{compiled}: outside the allowlist of what plain tensor and array data need, imported and "
                "callable as soon as the file is unpickled (torch.load, pickle.load, np.load(allow_pickle=True))", file=rel)
        elif report.holds_pickle and classes:
            scope = " in the part it could read" if report.unscanned else ""
            yield rule("pickle-file").finding(
                f"{rel} is TorchScript: {report.form}{inside}, a pickle-bearing format. Its pickles reference "
                f"{len(classes)} TorchScript classes ({_listing('', sorted(classes), 3)}), each defined in the "
                f"archive's own code/ folder, and otherwise "
                + (f"only what plain tensor data needs{scope}: {_listing('', sorted(report.imports))}" if report.imports
                   else f"nothing{scope}")
                + ". Load it with torch.jit.load (which runs its TorchScript code: "
                "only from a source you trust), never with torch.load or pickle from an untrusted source", file=rel)
        elif report.holds_pickle:
            scope = " in the part it could read" if report.unscanned else ""
            imports = (f"it imports only what plain tensor and array data need{scope}: "
                       f"{_listing('', sorted(report.imports))}" if report.imports else f"it imports nothing{scope}")
            yield rule("pickle-file").finding(
                f"{rel} is {report.form}{inside}: loading it unpickles, which can run code; {imports}", file=rel)
        for reason in report.unscanned[:MAX_PER_FILE]:
            yield rule("pickle-not-scanned").finding(f"{rel} ({report.form}) could not be scanned: {reason}", file=rel)
        if len(report.unscanned) > MAX_PER_FILE:
            yield rule("pickle-not-scanned").finding(
                f"{rel}: {len(report.unscanned) - MAX_PER_FILE} more parts could not be scanned", file=rel)

    # -- archives ----------------------------------------------------------------------------
    def _archive_findings(self, report: ArchiveReport) -> Iterable[Finding]:
        rel = report.rel
        for entry in report.unsafe[:MAX_PER_FILE]:
            effect = ("extracting it creates a device or FIFO" if entry.reason.startswith("device")
                      else "extracting the archive writes outside the target folder (zip-slip)")
            yield rule("archive-unsafe-entry").finding(f"{rel} ({report.kind}): entry {entry.member!r} is unsafe, {entry.reason}; "
                                         f"{effect}", file=rel)
        if len(report.unsafe) > MAX_PER_FILE:
            yield rule("archive-unsafe-entry").finding(f"{rel}: {len(report.unsafe) - MAX_PER_FILE} more unsafe entries", file=rel)
        if report.incomplete:
            yield rule("archive-not-checked").finding(
                f"{rel} ({report.kind}) was not fully checked: {report.incomplete}; entries beyond that were not "
                "checked for unsafe paths or pickles", file=rel)

    # -- text files --------------------------------------------------------------------------
    def _text_files(self, pkg: ModelPackage) -> tuple[list[str], list[Finding]]:
        """The package's UTF-8 text files, and a finding for each known text format that cannot be read."""
        texts: list[str] = []
        unscanned: list[Finding] = []
        for rel in pkg.files:
            read = pkg.read_text(rel)
            if read.text is not None:
                texts.append(rel)
            elif PurePosixPath(rel).suffix.lower() in _TEXT_SUFFIXES:
                unscanned.append(rule("text-not-scanned").finding(
                    f"{rel} was not scanned for credentials or private paths: {read.problem}", file=rel))
        return texts, unscanned

    def _secrets(self, pkg: ModelPackage, texts: list[str]) -> Iterable[Finding]:
        contents = {rel: pkg.read_text(rel).text or "" for rel in texts}
        scan = find_secrets(contents)
        for rel, last in scan.partial.items():
            yield rule("text-not-scanned").finding(f"{rel} was scanned for credentials up to line {last} only "
                                         f"({MAX_LINES:,} lines that could hold one)", file=rel, line=last + 1)
        for hit in scan.hits:
            where = _where(pkg, hit.rel, hit.line)
            if hit.masked:
                yield _masked_key(where, hit)
            elif hit.heuristic:
                yield rule("possible-credential").finding(
                    f"{where}: a value assigned to a credential-like name ({hit.kind}) looks hard-coded "
                    "(value not shown)", file=hit.rel, line=hit.line)
            else:
                yield rule("credential").finding(f"{where}: {_article(hit.kind)} is written in the file (value not shown)",
                                         file=hit.rel, line=hit.line)

    def _private_refs(self, pkg: ModelPackage, texts: list[str]) -> Iterable[Finding]:
        in_container = _container_paths(pkg, texts)
        for rel in texts:
            if not _read_for_refs(rel):
                continue
            text = pkg.read_text(rel).text or ""
            notebook = scan_notebook(text) if rel.lower().endswith(".ipynb") else None
            found = notebook.sources if notebook is not None else (
                find_private_refs(text) if rel.lower().endswith(".ipynb") else scan_text(rel, text))
            created = in_container.get(rel)
            if created:
                found = [r for r in found if r.kind != PATH or not inside_container(r.full or r.text, r.text, created)]
            refs = list({(r.line, r.kind, r.text, r.what, r.place): r for r in found}.values())  # one per distinct place
            for kind, private in ((PATH, rule("private-path")), (HOST, rule("private-host"))):
                of_kind = [r for r in refs if r.kind == kind]
                for ref in of_kind[:MAX_PER_FILE]:
                    yield private.finding(_ref_message(pkg, rel, ref), file=rel, line=ref.line)
                if len(of_kind) > MAX_PER_FILE:
                    rest = of_kind[MAX_PER_FILE:]
                    places = [str(r.line) if r.line else r.place for r in rest[:20]]
                    yield private.finding(f"{rel}: {len(rest)} more private {kind}s, on lines "
                                       f"{', '.join(places)}{'…' if len(rest) > 20 else ''}",
                                       file=rel, line=next((r.line for r in rest if r.line), None))
            if notebook is not None and notebook.outputs:
                yield _outputs_note(rel, text, notebook)


def _container_paths(pkg: ModelPackage, texts: list[str]) -> dict[str, set[str]]:
    """For the package's Dockerfiles and the files each copies into its image: the paths that image
    creates (validator/scanners/container_paths.py)."""
    found: dict[str, set[str]] = {}
    folders = set(pkg.dirs)
    for rel in texts:
        if not is_dockerfile(rel):
            continue
        folder = str(PurePosixPath(rel).parent)

        def is_folder(source: str, folder: str = folder) -> bool:
            name = source.strip("/")
            return any(f"{base}{name}" in folders for base in ("", f"{folder}/" if folder != "." else ""))

        container = read_container(rel, pkg.read_text(rel).text or "", is_folder)
        if not container.created:
            continue
        for target in {rel} | copied_files(container, pkg.files):
            found.setdefault(target, set()).update(container.created)
    return found


def _outputs_note(rel: str, text: str, notebook: NotebookRefs) -> Finding:
    cells = notebook.output_cells
    cell_list = f"cell {cells[0]}" if len(cells) == 1 else f"cells {_listing('', [str(c) for c in cells], 8)}"
    shown = []
    for kind, noun in ((PATH, "paths"), (HOST, "hosts")):
        texts = list(dict.fromkeys(repr(r.text) for r in notebook.outputs if r.kind == kind))
        if texts:
            shown.append(f"{noun} such as {_listing('', texts, 3)}" if len(texts) > 1 else f"{noun[:-1]} {texts[0]}")
    labels = _notebook_lines(text)
    line = next((n for n in range(1, text.count("\n") + 2) if labels.label(n) == f"cell {cells[0]} output"), None)
    name = rel.rsplit("/", 1)[-1]
    return rule("notebook-output-paths").finding(
        f"{rel}: the outputs of {cell_list} show the {' and the '.join(shown)} of the machine the notebook ran on; "
        "the notebook does not need them to run (so they are not reported one by one), but they show your own "
        f"folders: clear the outputs before publishing (`jupyter nbconvert --clear-output --inplace '{name}'`)",
        file=rel, line=line)


def _masked_key(where: str, hit: SecretHit) -> Finding:
    shown, length = hit.shown or 0, hit.length or 0
    what = f"a partially masked {hit.kind} ({shown} of its {length} characters shown)"
    if shown * 2 >= length:
        return rule("credential").finding(
            f"{where}: {what} is written in the file (value not shown): with most of it visible, treat the key "
            "as leaked", file=hit.rel, line=hit.line)
    return rule("possible-credential").finding(
        f"{where}: {what} is written in the file (value not shown): a masked copy of a real key means the key was "
        "at hand; make sure the unmasked key is in no file or commit of the package (rotate it if it ever was), "
        "and write a placeholder such as YOUR_AWS_SECRET_KEY instead", file=hit.rel, line=hit.line)


def _read_for_refs(rel: str) -> bool:
    path = PurePosixPath(rel)
    name = path.name.lower()
    return path.suffix.lower() in _REF_SUFFIXES or name.startswith(_REF_NAMES)


def _ref_message(pkg: ModelPackage, rel: str, ref: PrivateRef) -> str:
    noun = "path" if ref.kind == PATH else "host"
    where = f"{rel}:{ref.line} ({ref.place})" if ref.place and ref.line else (
        f"{rel} ({ref.place})" if ref.place else _where(pkg, rel, ref.line))
    return f"{where}: the {noun} {ref.text!r} is {ref.what}, which other users do not have"


def _where(pkg: ModelPackage, rel: str, line: int | None) -> str:
    """file:line, plus the notebook cell it falls in for .ipynb files."""
    place = f"{rel}:{line}" if line else rel
    if rel.lower().endswith(".ipynb"):
        label = _notebook_lines(pkg.read_text(rel).text or "").label(line)
        if label:
            place += f" ({label})"
    return place


@lru_cache(maxsize=8)
def _notebook_lines(text: str) -> NotebookLines:
    return NotebookLines(text)


def _listing(noun: str, items: list[str], shown: int = 5) -> str:
    head = ", ".join(items[:shown]) + (f" and {len(items) - shown} more" if len(items) > shown else "")
    return f"{noun} {head}".strip()


def _article(kind: str) -> str:
    return f"{'an' if kind[:1].lower() in 'aeiou' else 'a'} {kind}"
