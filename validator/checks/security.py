"""Area security: pickles (found by content), credentials, private paths and hosts, links out of
the package, and archives whose entries would escape the folder they are extracted into.

Everything here is static: nothing is unpickled, extracted, imported or executed. A pickle's
imports are judged against an allowlist of what plain tensor and array data need (pickle_scan.py):
anything else is an error. Scanners' clean results are heuristics, so messages never say "safe",
and whatever could not be scanned is reported as such.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import PurePosixPath
from typing import Iterable

from ..archive_scan import ArchiveReport, scan_archive
from ..file_kinds import read_head
from ..model import Area, Finding, Severity
from ..notebook_lines import NotebookLines
from ..package import TEXT_SUFFIXES, ModelPackage
from ..pickle_scan import PickleReport, scan_pickles
from ..private_refs import HOST, PATH, PrivateRef, find_private_refs
from ..rules import define
from ..secrets_scan import MAX_LINES, find_secrets
from .base import Check, Context

SAFE_WEIGHTS = ("The guideline's 'Publish Safe Weights': use model.safetensors to support PyTorch users "
                "while avoiding pickle-based checkpoint loading")
NO_PRIVATE = "The guideline's checklist: no credentials, private paths, or unpublished data are required to run inference."
CLEAN_ENV = "The guideline: the published artefact should run from a clean environment without manual setup steps."
MAX_PER_FILE = 10  # findings of one rule in one file; the rest are summed up in one more finding

PLAIN_DATA = ("the globals plain tensor, state-dict and NumPy array pickles need (torch's tensor and storage "
              "rebuilders, collections.OrderedDict, NumPy's array reconstruction, data-only builtins such as set)")
PICKLE_FILE = define(
    "MC701", "pickle-file", Area.SECURITY, Severity.WARNING,
    "A pickle-based file is published (it imports only what plain tensor and array data need)",
    f"{SAFE_WEIGHTS}. Loading a pickle runs whatever it imports; this one imports only {PLAIN_DATA}, but users "
    "still load it with a loader that would run anything else.",
    "Publish the weights as model.safetensors (and the graph as model.onnx) and drop the pickle, or keep it only "
    "with the loading code and a note on how to load it safely (e.g. torch.load(..., weights_only=True)).",
)
PICKLE_DANGEROUS = define(
    "MC702", "pickle-dangerous-import", Area.SECURITY, Severity.ERROR,
    "A pickle imports globals outside the allowlist of plain tensor and array data (they can run code when loaded)",
    f"{SAFE_WEIGHTS}. model-check allows a pickle only {PLAIN_DATA}: unpickling imports anything else the file "
    "names and can call it, and a list of known-dangerous functions (picklescan's) cannot know them all.",
    "Do not publish this file. Rebuild the artefact from trusted code and save the weights with "
    "safetensors.torch.save_file (or export ONNX); if you did not create the file yourself, treat your machine as "
    "exposed.",
)
PICKLE_UNSCANNED = define(
    "MC703", "pickle-not-scanned", Area.SECURITY, Severity.ERROR,
    "A pickle-based file could not be scanned (fully)",
    f"{SAFE_WEIGHTS}. What a scanner cannot read it cannot vouch for: an unreadable pickle may import anything.",
    "Replace the file with model.safetensors / model.onnx, or re-save it so it is a complete, standard pickle "
    "(e.g. torch.save of a state dict) that can be scanned.",
)
CREDENTIAL = define(
    "MC711", "credential", Area.SECURITY, Severity.ERROR,
    "A credential (key, token, private key or password) is written in a file",
    f"{NO_PRIVATE} A credential in a published package is public from that moment on.",
    "Remove it from the file (and from the notebook's outputs), revoke or rotate it now, and read credentials "
    "from the environment (os.environ) at run time if inference really needs one.",
)
POSSIBLE_CREDENTIAL = define(
    "MC712", "possible-credential", Area.SECURITY, Severity.WARNING,
    "A value assigned to a name like 'password' or 'api_key' looks like a hard-coded credential",
    NO_PRIVATE,
    "If it is a real credential, remove it, rotate it and read it from the environment at run time; "
    "if it is not, rename the variable or silence this rule for the package in model-check.toml.",
)
TEXT_UNSCANNED = define(
    "MC713", "text-not-scanned", Area.SECURITY, Severity.INFO,
    "A text file was not scanned for credentials and private paths",
    f"{NO_PRIVATE} Files the scanner cannot read are listed so their absence of findings is not mistaken for a clean result.",
    "Save the file as UTF-8 text (or, if it is large data, check it for credentials yourself).",
)
PRIVATE_PATH = define(
    "MC714", "private-path", Area.SECURITY, Severity.WARNING,
    "A private absolute path (home folder, cluster file system, mount, file:// URL) is written in code or config",
    f"{NO_PRIVATE} {CLEAN_ENV}",
    "Use paths relative to the package (e.g. Path(__file__).parent / 'model.onnx'), a command-line argument or an "
    "environment variable; clear notebook outputs that show your own folders.",
)
PRIVATE_HOST = define(
    "MC715", "private-host", Area.SECURITY, Severity.WARNING,
    "A non-public host (localhost, private address, intranet name) is written in code, config or the runtime",
    f"{NO_PRIVATE} {CLEAN_ENV}",
    "Point at a public address (a published dataset, PyPI, a public registry) or make the host configurable, and "
    "say in the README what service the user must provide.",
)
SYMLINK_OUT = define(
    "MC721", "symlink-escapes", Area.SECURITY, Severity.ERROR,
    "A symlink points outside the package",
    f"{CLEAN_ENV} A link out of the package points at the publisher's machine: users get a broken link, and "
    "tools that follow it read files that are not part of the release.",
    "Replace the symlink by the file itself (or a relative link to a file inside the package).",
)
ARCHIVE_UNSAFE = define(
    "MC722", "archive-unsafe-entry", Area.SECURITY, Severity.ERROR,
    "An archive entry would be written outside the extraction folder (zip-slip), or is a link out or a device",
    f"{CLEAN_ENV} Users extract release bundles: an entry with an absolute path, '..' or a link out overwrites "
    "files of their own.",
    "Rebuild the archive from a folder with relative paths only (e.g. `cd folder && zip -r ../data.zip .`), "
    "without links out of it or device files.",
)
ARCHIVE_UNCHECKED = define(
    "MC723", "archive-not-checked", Area.SECURITY, Severity.WARNING,
    "An archive could not be (fully) checked for unsafe entries and pickles",
    f"{CLEAN_ENV} What cannot be listed cannot be vouched for.",
    "Publish the files unpacked, or as a standard, uncorrupted zip or tar archive.",
)

# Files read for private paths and hosts: code, configuration and runtime definitions (not prose).
_REF_SUFFIXES = {".py", ".ipynb", ".sh", ".r", ".jl", ".json", ".yml", ".yaml", ".toml", ".cfg", ".ini", ".env",
                 ".conf", ".in", ".lock"}
_REF_NAMES = ("requirements", "dockerfile", "containerfile", "makefile", "environment", "constraints")
# Known text formats: one that cannot be read as text is reported; other unreadable files are binary data.
_TEXT_SUFFIXES = {s for s in TEXT_SUFFIXES if s} | {".conf", ".sh", ".r"}


class SecurityCheck(Check):
    name = "security scan"
    area = Area.SECURITY

    def run(self, ctx: Context) -> Iterable[Finding]:
        pkg = ctx.pkg
        yield from self._symlinks(pkg)
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
                yield from self._pickle_findings(pickle_report)
            archive_report = scan_archive(pkg.path(rel), rel, head, whole)
            if archive_report is not None:
                archives.append(rel)
                yield from self._archive_findings(archive_report)
        texts, unscanned = self._text_files(pkg)
        yield from unscanned
        yield from self._secrets(pkg, texts)
        yield from self._private_refs(pkg, texts)
        ctx.results["security"] = {"pickle_files": pickles, "archives": archives, "text_files_scanned": len(texts)}

    # -- links out ---------------------------------------------------------------------------
    def _symlinks(self, pkg: ModelPackage) -> Iterable[Finding]:
        for entry in pkg.special:
            if entry.kind == "symlink" and entry.escapes:
                yield SYMLINK_OUT.finding(f"{entry.path} is a symlink to {entry.target!r}, which resolves outside "
                                          "the package", file=entry.path)

    # -- pickles -----------------------------------------------------------------------------
    def _pickle_findings(self, report: PickleReport) -> Iterable[Finding]:
        rel = report.rel
        noun = "pickled member" if len(report.members) == 1 else "pickled members"
        inside = f" ({_listing(noun, report.members)})" if report.members else ""
        if report.disallowed:
            known = sorted(report.dangerous)
            denylisted = f" ({_listing('', known)} on picklescan's list of dangerous imports)" if known else ""
            yield PICKLE_DANGEROUS.finding(
                f"{rel} is {report.form}{inside} that imports {_listing('', sorted(report.disallowed), 10)}"
                f"{denylisted}: outside the allowlist of what plain tensor and array data need, imported and callable "
                "as soon as the file is unpickled (torch.load, pickle.load, np.load(allow_pickle=True))", file=rel)
        elif report.holds_pickle:
            scope = " in the part it could read" if report.unscanned else ""
            imports = (f"it imports only what plain tensor and array data need{scope}: "
                       f"{_listing('', sorted(report.imports))}" if report.imports else f"it imports nothing{scope}")
            yield PICKLE_FILE.finding(
                f"{rel} is {report.form}{inside}: loading it unpickles, which can run code; {imports}", file=rel)
        for reason in report.unscanned[:MAX_PER_FILE]:
            yield PICKLE_UNSCANNED.finding(f"{rel} ({report.form}) could not be scanned: {reason}", file=rel)
        if len(report.unscanned) > MAX_PER_FILE:
            yield PICKLE_UNSCANNED.finding(
                f"{rel}: {len(report.unscanned) - MAX_PER_FILE} more parts could not be scanned", file=rel)

    # -- archives ----------------------------------------------------------------------------
    def _archive_findings(self, report: ArchiveReport) -> Iterable[Finding]:
        rel = report.rel
        for entry in report.unsafe[:MAX_PER_FILE]:
            effect = ("extracting it creates a device or FIFO" if entry.reason.startswith("device")
                      else "extracting the archive writes outside the target folder (zip-slip)")
            yield ARCHIVE_UNSAFE.finding(f"{rel} ({report.kind}): entry {entry.member!r} is unsafe, {entry.reason}; "
                                         f"{effect}", file=rel)
        if len(report.unsafe) > MAX_PER_FILE:
            yield ARCHIVE_UNSAFE.finding(f"{rel}: {len(report.unsafe) - MAX_PER_FILE} more unsafe entries", file=rel)
        if report.incomplete:
            yield ARCHIVE_UNCHECKED.finding(
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
                unscanned.append(TEXT_UNSCANNED.finding(
                    f"{rel} was not scanned for credentials or private paths: {read.problem}", file=rel))
        return texts, unscanned

    def _secrets(self, pkg: ModelPackage, texts: list[str]) -> Iterable[Finding]:
        contents = {rel: pkg.read_text(rel).text or "" for rel in texts}
        scan = find_secrets(contents)
        for rel, last in scan.partial.items():
            yield TEXT_UNSCANNED.finding(f"{rel} was scanned for credentials up to line {last} only "
                                         f"({MAX_LINES:,} lines that could hold one)", file=rel, line=last + 1)
        for hit in scan.hits:
            where = _where(pkg, hit.rel, hit.line)
            if hit.heuristic:
                yield POSSIBLE_CREDENTIAL.finding(
                    f"{where}: a value assigned to a credential-like name ({hit.kind}) looks hard-coded "
                    "(value not shown)", file=hit.rel, line=hit.line)
            else:
                yield CREDENTIAL.finding(f"{where}: {_article(hit.kind)} is written in the file (value not shown)",
                                         file=hit.rel, line=hit.line)

    def _private_refs(self, pkg: ModelPackage, texts: list[str]) -> Iterable[Finding]:
        for rel in texts:
            if not _read_for_refs(rel):
                continue
            text = pkg.read_text(rel).text or ""
            refs = list(dict.fromkeys(find_private_refs(text)))  # one finding per distinct place
            for kind, rule in ((PATH, PRIVATE_PATH), (HOST, PRIVATE_HOST)):
                of_kind = [r for r in refs if r.kind == kind]
                for ref in of_kind[:MAX_PER_FILE]:
                    yield rule.finding(_ref_message(pkg, rel, ref), file=rel, line=ref.line)
                if len(of_kind) > MAX_PER_FILE:
                    rest = of_kind[MAX_PER_FILE:]
                    yield rule.finding(f"{rel}: {len(rest)} more private {kind}s, on lines "
                                       f"{', '.join(str(r.line) for r in rest[:20])}{'…' if len(rest) > 20 else ''}",
                                       file=rel, line=rest[0].line)


def _read_for_refs(rel: str) -> bool:
    path = PurePosixPath(rel)
    name = path.name.lower()
    return path.suffix.lower() in _REF_SUFFIXES or name.startswith(_REF_NAMES)


def _ref_message(pkg: ModelPackage, rel: str, ref: PrivateRef) -> str:
    noun = "path" if ref.kind == PATH else "host"
    return f"{_where(pkg, rel, ref.line)}: the {noun} {ref.text!r} is {ref.what}, which other users do not have"


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
