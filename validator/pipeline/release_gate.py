"""Release-tag gating (used by the GitHub layer on tag pushes and releases; core so that its rules are in the catalogue): on a tag push or a release event the package must be ready to publish.

- the tag equals every version the package declares (model card, safetensors metadata,
  CITATION.cff, …), a leading `v` and a `path/` prefix of monorepo tags aside;
- no configuration lowers a rule's severity or disables a rule: the package's own model-check.toml
  / pyproject.toml or the caller's --config, as the report lists them (`Report.relaxations`, the one
  record of what a run relaxed, made by config.configure);
- the report carries the sha256 manifest of the artefacts.

Each miss is a finding (area publishing, MC860–MC869) added to the report before it is posted.
"""

from __future__ import annotations

import traceback
from dataclasses import replace
from pathlib import Path

from packaging.version import InvalidVersion, Version

from validator.core.catalogue import get_rule, rule
from validator.core.findings import Area, CheckRecord, CheckStatus, Finding
from validator.core.report import Report

_WHY = ("A published model is cited by its version (guideline: model card, weights metadata and CITATION.cff "
        "state it); a release must publish exactly what was validated, checked as strictly as ever.")


CHECK_NAME = "release tag gate"


def tag_version(tag: str) -> str:
    """The version a tag names: `v1.2.0`, `1.2.0` and `models/cloud/v1.2.0` all name 1.2.0."""
    return normalise(tag.rsplit("/", 1)[-1])


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


def gate(report: Report, tag: str, root: Path, config: Path | None = None) -> list[Finding]:
    """The gating findings for `report`, whose package lies at `root`.

    `config` (the run's --config) is accepted for callers of the earlier interface: the report
    itself names every relaxation and the file that made it."""
    if not root.is_dir():
        return [rule("release-package-unreadable").finding(f"the package folder {report.package_path!r} is not in the checkout")]
    findings: list[Finding] = []
    try:
        findings += _version_findings(root, tag)
        findings += _relaxation_findings(report)
    except Exception as exc:  # gating must not end the run: report it like a crashed check
        tail = " | ".join(traceback.format_exc(limit=-2).strip().splitlines()[-2:])
        findings.append(replace(rule("internal-error").finding(f"release gating crashed: {type(exc).__name__}: {exc} ({tail})"),
                                area=Area.PUBLISHING))
    if not report.artefacts:
        findings.append(rule("release-manifest-missing").finding("the report lists no artefacts with their sha256"))
    return findings


def apply_gate(report: Report, tag: str, root: Path, config: Path | None = None) -> list[Finding]:
    """Add the gating findings and a check record to `report`; return the findings."""
    findings = gate(report, tag, root, config)
    report.findings.extend(findings)
    status = CheckStatus.FAILED if findings else CheckStatus.PASSED
    report.checks.append(CheckRecord(Area.PUBLISHING, CHECK_NAME, status, f"release tag {tag}"))
    return findings
