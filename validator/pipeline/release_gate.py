"""Release-tag gating (used by the GitHub layer on tag pushes and releases; core so that its rules are in the catalogue): on a tag push or a release event the package must be ready to publish.

- a tag with a path prefix (`models/cloud/v1.2.0`, monorepo style) gates only the package at that
  path relative to the repository root; a tag without one (`v1.2.0`) gates every package. A package
  the tag does not name is not gated: its record says so, and nothing is added to its findings;
- the tag equals every version the package declares (model card, safetensors metadata,
  CITATION.cff, …), a leading `v` aside;
- the runtime checks ran and passed: the environment rebuild, native vs ONNX parity (weights load,
  ONNX Runtime run, comparison) when the package ships .safetensors or .onnx files, and the inference
  example (with the notebooks at the package root, which it runs). A static run (--env none)
  validates no release;
- no configuration lowers a rule's severity or disables a rule: the package's own model-check.toml
  / pyproject.toml or the caller's --config, as the report lists them (`Report.relaxations`, the one
  record of what a run relaxed, made by config.configure);
- the report carries the sha256 manifest of the artefacts.

Each miss is a finding (area publishing, MC860–MC869) added to the report before it is posted.
"""

from __future__ import annotations

import posixpath
import traceback
from dataclasses import dataclass, replace
from pathlib import Path

from packaging.version import InvalidVersion, Version

from validator.core.catalogue import get_rule, rule
from validator.core.findings import Area, CheckRecord, CheckStatus, Finding, Severity
from validator.core.report import Report

_WHY = ("A published model is cited by its version (guideline: model card, weights metadata and CITATION.cff "
        "state it); a release must publish exactly what was validated, checked as strictly as ever.")


CHECK_NAME = "release tag gate"


def tag_version(tag: str) -> str:
    """The version a tag names: `v1.2.0`, `1.2.0` and `models/cloud/v1.2.0` all name 1.2.0."""
    return normalise(tag.rsplit("/", 1)[-1])


def tag_prefix(tag: str) -> str:
    """The package path a monorepo tag names: `models/cloud` for `models/cloud/v1.2.0`; "" for `v1.2.0`."""
    return package_key(tag.rpartition("/")[0]) if "/" in tag else ""


def package_key(path: str) -> str:
    """A package path relative to the repository root, POSIX and normalised (`./models/x/` is `models/x`; the root is `.`)."""
    return posixpath.normpath(path.replace("\\", "/").strip() or ".")


def names_package(tag: str, package_path: str | None) -> bool:
    """Whether `tag` gates the package at `package_path` (relative to the repository root; None: unknown).
    A tag without a prefix names every package; one with a prefix only the package at exactly that path."""
    prefix = tag_prefix(tag)
    return not prefix or (package_path is not None and package_key(package_path) == prefix)


def normalise(version: str) -> str:
    text = version.strip()
    return text[1:] if text[:1] in ("v", "V") and text[1:2].isdigit() else text


def same_version(declared: str, tag: str) -> bool:
    a, b = normalise(str(declared)), tag_version(tag)
    if a == b:
        return True
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return False


def _relaxation_findings(report: Report) -> list[Finding]:
    """One MC862 per rule the report says a configuration disabled or lowered."""
    findings = []
    for relaxation in report.relaxations:
        relaxed = get_rule(relaxation.rule)
        named = f"{relaxation.rule} {relaxed.name}" if relaxed else relaxation.rule
        what = f"disables {named}" if relaxation.change == "disabled" else f"lowers {named} ({relaxation.change})"
        if relaxation.origin == "package":
            findings.append(rule("release-severity-lowered").finding(f"the package's configuration {relaxation.source} {what}",
                                                     file=relaxation.file, line=relaxation.line))
        else:  # the caller's file lies outside the package: no location in it
            findings.append(rule("release-severity-lowered").finding(f"the configuration given with --config ({relaxation.source}) {what}"))
    return findings


def _version_findings(root: Path, tag: str) -> list[Finding]:
    from validator.readers.declared import VERSION, gather
    from validator.readers.package import ModelPackage

    pkg = ModelPackage(root)
    try:
        versions = gather(pkg).of(VERSION)
    finally:
        pkg.close()
    if not versions:
        return [rule("release-version-missing").finding(f"the release is tagged {tag!r}, but no version is stated in the model card, "
                                        "the weights' metadata or CITATION.cff")]
    return [rule("release-tag-version-mismatch").finding(f"the release is tagged {tag!r}, but the {fact.source} states version {str(fact.value)!r}",
                                 file=fact.file, line=fact.line)
            for fact in versions if not same_version(str(fact.value), tag)]


@dataclass(frozen=True)
class RuntimeCheck:
    """A check a release needs to have run and passed, as the report records it."""

    area: Area
    name: str
    applies_to: tuple[str, ...] = ()  # suffixes of the artefacts that make it apply; () always

    def applies(self, report: Report) -> bool:
        return not self.applies_to or any(a.path.lower().endswith(self.applies_to) for a in report.artefacts)


def runtime_checks() -> tuple[RuntimeCheck, ...]:
    """The environment rebuild, the weights loading into the native model and ONNX Runtime running the graph
    (the parity check does both, and compares), the inference example and the notebooks (the inference check
    runs both). The runtime imports check is not one: it reads files, and containers are not read.
    (Imported here: `github post` needs the checks only on a release.)"""
    from validator.checks.inference import InferenceCheck
    from validator.checks.parity import ParityCheck
    from validator.pipeline import environment

    return (RuntimeCheck(environment.AREA, environment.NAME),
            RuntimeCheck(ParityCheck.area, ParityCheck.name, (".safetensors", ".onnx")),
            RuntimeCheck(InferenceCheck.area, InferenceCheck.name))


def _runtime_findings(report: Report) -> list[Finding]:
    """MC865 for the runtime checks that did not run (with the report's reason), MC866 for those that failed."""
    records = {(c.area, c.name): c for c in report.checks}
    not_run: dict[str, list[str]] = {}  # reason -> checks
    failed: list[str] = []
    for check in runtime_checks():
        if not check.applies(report):
            continue
        record = records.get((check.area, check.name))
        if record is None:
            not_run.setdefault("the report has no record of it: the run left its area out", []).append(check.name)
        elif record.status is CheckStatus.SKIPPED:
            not_run.setdefault(record.reason or "skipped", []).append(check.name)
        elif record.status is CheckStatus.FAILED:
            failed.append(f"{check.name} ({_what_failed(report, check)})")
    findings = []
    if not_run:
        parts = [f"{_join(names)} {'was' if len(names) == 1 else 'were'} not run ({reason})" for reason, names in not_run.items()]
        findings.append(rule("release-runtime-not-run").finding(
            "the release is not validated by running the package: " + "; ".join(parts)))
    if failed:
        findings.append(rule("release-runtime-failed").finding(
            "the release's runtime checks did not pass: " + "; ".join(failed)))
    return findings


def _what_failed(report: Report, check: RuntimeCheck) -> str:
    """The rules that made a check fail: the area's findings at warning or above (the runtime area's also
    hold the static runtime checks', so that one is named by area only)."""
    if check.area is Area.RUNTIME:
        return "see the findings of the runtime area"
    found = [f for f in report.findings if f.area is check.area and f.severity.reaches(Severity.WARNING)]
    names = []
    for finding in found:
        known = get_rule(finding.rule)
        named = f"{finding.rule} {known.name}" if known else finding.rule
        named += f" on {finding.file}" if finding.file else ""
        if named not in names:
            names.append(named)
    return ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "") if names else "see its findings"


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def gate(report: Report, tag: str, root: Path, config: Path | None = None) -> list[Finding]:
    """The gating findings for `report`, whose package lies at `root` (whether the tag names the package
    at all is `names_package`'s to say, before).

    `config` (the run's --config) is accepted for callers of the earlier interface: the report
    itself names every relaxation and the file that made it."""
    if not root.is_dir():
        return [rule("release-package-unreadable").finding(f"the package folder {report.package_path!r} is not in the checkout")]
    findings: list[Finding] = []
    try:
        findings += _version_findings(root, tag)
        findings += _relaxation_findings(report)
        findings += _runtime_findings(report)
    except Exception as exc:  # gating must not end the run: report it like a crashed check
        tail = " | ".join(traceback.format_exc(limit=-2).strip().splitlines()[-2:])
        findings.append(replace(rule("internal-error").finding(f"release gating crashed: {type(exc).__name__}: {exc} ({tail})"),
                                area=Area.PUBLISHING))
    if not report.artefacts:
        findings.append(rule("release-manifest-missing").finding("the report lists no artefacts with their sha256"))
    return findings


def apply_gate(report: Report, tag: str, root: Path, config: Path | None = None, *,
               package_path: str | None = ".") -> list[Finding]:
    """Add the gating findings and a check record to `report`; return the findings.

    `package_path` is the package's path relative to the repository root (None: not in the repository):
    a tag with a path prefix gates only the package at that path; the others get a skipped record."""
    if not names_package(tag, package_path):
        where = f"the package at {package_key(package_path)}" if package_path is not None else "a package outside the repository"
        report.checks.append(CheckRecord(Area.PUBLISHING, CHECK_NAME, CheckStatus.SKIPPED,
                                         f"not gated: the release tag {tag} is for the package at {tag_prefix(tag)}, "
                                         f"not for {where}"))
        return []
    findings = gate(report, tag, root, config)
    report.findings.extend(findings)
    status = CheckStatus.FAILED if findings else CheckStatus.PASSED
    report.checks.append(CheckRecord(Area.PUBLISHING, CHECK_NAME, status, f"release tag {tag}"))
    return findings
