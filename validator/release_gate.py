"""Release-tag gating (used by the GitHub layer on tag pushes and releases; core so that its rules are in the catalogue): on a tag push or a release event the package must be ready to publish.

- the tag equals every version the package declares (model card, safetensors metadata,
  CITATION.cff, …), a leading `v` and a `path/` prefix of monorepo tags aside;
- no configuration lowers a rule's severity or disables a rule;
- the report carries the sha256 manifest of the artefacts.

Each miss is a finding (area publishing, MC860–MC869) added to the report before it is posted.
"""

from __future__ import annotations

import traceback
from dataclasses import replace
from pathlib import Path

from packaging.version import InvalidVersion, Version

from .config import read_package_config
from .model import Area, CheckRecord, CheckStatus, Finding, Severity
from .report import Report
from .rules import INTERNAL_ERROR, Rule, all_rules, define

_WHY = ("A published model is cited by its version (guideline: model card, weights metadata and CITATION.cff "
        "state it); a release must publish exactly what was validated, checked as strictly as ever.")

TAG_MISMATCH = define(
    "MC860", "release-tag-version-mismatch", Area.PUBLISHING, Severity.ERROR,
    "The release tag differs from a version the package declares", _WHY,
    "Tag the release with the package's version (a leading v is fine), or update the version everywhere it is stated.",
)
VERSION_MISSING = define(
    "MC861", "release-version-missing", Area.PUBLISHING, Severity.ERROR,
    "A release is tagged but the package declares no version", _WHY,
    "State the version in the model card (and in the safetensors metadata and CITATION.cff).",
)
SEVERITY_LOWERED = define(
    "MC862", "release-severity-lowered", Area.PUBLISHING, Severity.ERROR,
    "The configuration lowers or disables rules for a release", _WHY,
    "Fix what the lowered rules find instead; releases are checked with every rule at its default severity or above.",
)
MANIFEST_MISSING = define(
    "MC863", "release-manifest-missing", Area.PUBLISHING, Severity.ERROR,
    "The release report carries no sha256 manifest of the artefacts", _WHY,
    "Run model-check on the package folder itself so that its files are hashed into the report.",
)
PACKAGE_UNREADABLE = define(
    "MC864", "release-package-unreadable", Area.PUBLISHING, Severity.ERROR,
    "The package of a release cannot be read for gating", _WHY,
    "Run the release check in the repository checkout, on the package folder the report was made for.",
)

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


def _rule_named(key: str) -> Rule | None:
    return next((r for r in all_rules() if key in (r.id, r.name)), None)


def _config_line(source: Path | None, key: str) -> int | None:
    if source is None or not source.is_file():
        return None
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    return next((n for n, text in enumerate(lines, 1) if key in text), None)


def _config_findings(root: Path, explicit: Path | None) -> list[Finding]:
    loaded = read_package_config(root, explicit)
    if loaded.source is None:
        return []
    source = explicit if explicit is not None else root / loaded.source
    inside = explicit is None
    where = "" if inside else f" ({explicit})"
    file = loaded.source if inside else None
    findings = []
    for key, level in sorted(loaded.values.get("severity", {}).items()):
        rule = _rule_named(key)
        if rule is not None and level.rank < rule.severity.rank:
            findings.append(SEVERITY_LOWERED.finding(
                f"the configuration{where} lowers {rule.id} {rule.name} from {rule.severity.value} to {level.value}",
                file=file, line=_config_line(source, key) if inside else None))
    for key in sorted(loaded.values.get("disable", ())):
        findings.append(SEVERITY_LOWERED.finding(f"the configuration{where} disables {key}",
                                                 file=file, line=_config_line(source, key) if inside else None))
    return findings


def _version_findings(root: Path, tag: str) -> list[Finding]:
    from .facts import VERSION, gather
    from .package import ModelPackage

    pkg = ModelPackage(root)
    try:
        versions = gather(pkg).of(VERSION)
    finally:
        pkg.close()
    if not versions:
        return [VERSION_MISSING.finding(f"the release is tagged {tag!r}, but no version is stated in the model card, "
                                        "the weights' metadata or CITATION.cff")]
    return [TAG_MISMATCH.finding(f"the release is tagged {tag!r}, but the {fact.source} states version {str(fact.value)!r}",
                                 file=fact.file, line=fact.line)
            for fact in versions if not same_version(str(fact.value), tag)]


def gate(report: Report, tag: str, root: Path, config: Path | None = None) -> list[Finding]:
    """The gating findings for `report`, whose package lies at `root`."""
    if not root.is_dir():
        return [PACKAGE_UNREADABLE.finding(f"the package folder {report.package_path!r} is not in the checkout")]
    findings: list[Finding] = []
    try:
        findings += _version_findings(root, tag)
        findings += _config_findings(root, config)
    except Exception as exc:  # gating must not end the run: report it like a crashed check
        tail = " | ".join(traceback.format_exc(limit=-2).strip().splitlines()[-2:])
        findings.append(replace(INTERNAL_ERROR.finding(f"release gating crashed: {type(exc).__name__}: {exc} ({tail})"),
                                area=Area.PUBLISHING))
    if not report.artefacts:
        findings.append(MANIFEST_MISSING.finding("the report lists no artefacts with their sha256"))
    return findings


def apply_gate(report: Report, tag: str, root: Path, config: Path | None = None) -> list[Finding]:
    """Add the gating findings and a check record to `report`; return the findings."""
    findings = gate(report, tag, root, config)
    report.findings.extend(findings)
    status = CheckStatus.FAILED if findings else CheckStatus.PASSED
    report.checks.append(CheckRecord(Area.PUBLISHING, CHECK_NAME, status, f"release tag {tag}"))
    return findings
