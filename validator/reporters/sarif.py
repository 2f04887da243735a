"""SARIF 2.1.0: one run per package report, with the metadata of the rules it reports (those of its results,
and those a configuration relaxed), as code-scanning tools write it: the whole catalogue in every run
made a 240 KB file of a report with three results.

Locations are relative to the repository root (the package path joined with the finding's file),
based on %SRCROOT%, so code-scanning tools can place them; `automationDetails.id` gives each
package its own category.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from validator import __version__
from validator.core.catalogue import Rule, get_rule
from validator.core.findings import Finding, Severity
from validator.core.options import Relaxation
from validator.core.report import Report

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://github.com/earthcode/model-check"
LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def render_sarif(report: Report) -> str:
    return sarif_json([report])


def sarif_json(reports: Iterable[Report]) -> str:
    return json.dumps(sarif_log(reports), indent=2, ensure_ascii=False) + "\n"


def sarif_log(reports: Iterable[Report]) -> dict[str, Any]:
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [sarif_run(r) for r in reports]}


def sarif_run(report: Report) -> dict[str, Any]:
    descriptors = [_descriptor(rule_id) for rule_id in _rules_reported(report)]
    index = {d["id"]: i for i, d in enumerate(descriptors)}
    readme = next((a.path for a in report.artefacts if a.path.lower() == "readme.md"), None)
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "model-check",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": descriptors,
            }
        },
        "automationDetails": {"id": f"model-check/{category(report.package_path)}/"},
        "results": [_result(f, index[f.rule], report.package_path, readme) for f in report.findings],
        "columnKind": "unicodeCodePoints",
    }
    if report.relaxations:  # rules a configuration disabled or lowered, as SARIF's configuration overrides
        run["invocations"] = [{"executionSuccessful": True, "ruleConfigurationOverrides": [
            _override(r, index[r.rule]) for r in report.relaxations]}]
    return run


def category(package_path: str) -> str:
    """The package path as a category name: '.' for the repository root, no trailing slash."""
    path = posixpath.normpath(package_path.replace("\\", "/")) if package_path else "."
    return _CONTROL.sub("", path).strip("/") or "."


def _rules_reported(report: Report) -> list[str]:
    """The rules of the run's results and of its relaxations: the catalogue's in its order, then rules this
    model-check does not know (a report read back may come from a newer one)."""
    ids = {f.rule for f in report.findings} | {r.rule for r in report.relaxations}
    known = sorted((rule_id for rule_id in ids if get_rule(rule_id)), key=lambda rule_id: int(rule_id[2:]))
    return known + sorted(ids - set(known))


def _descriptor(rule_id: str) -> dict[str, Any]:
    rule = get_rule(rule_id)
    return _known_descriptor(rule) if rule else {"id": rule_id, "shortDescription": {"text": rule_id}}


def _known_descriptor(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.rationale},
        "help": {"text": rule.help, "markdown": f"{rule.help}\n\n_Why:_ {rule.rationale}"},
        "helpUri": rule.help_uri,
        "defaultConfiguration": {"level": LEVEL[rule.severity]},
        "properties": {"tags": ["model-check", rule.area.value]},
    }


def _override(relaxation: Relaxation, rule_index: int) -> dict[str, Any]:
    if relaxation.change == "disabled":
        configuration: dict[str, Any] = {"enabled": False}
    else:
        configuration = {"level": LEVEL[Severity(relaxation.change.rsplit("->", 1)[-1])]}
    return {"descriptor": {"id": relaxation.rule, "index": rule_index}, "configuration": configuration,
            "properties": {"change": relaxation.change, "source": _CONTROL.sub("", relaxation.source), "origin": relaxation.origin}}


def _uri(package_path: str, file: str) -> str | None:
    base = package_path.replace("\\", "/") if package_path else "."
    joined = posixpath.normpath(posixpath.join(base, file.replace("\\", "/")))
    if joined.startswith(("/", "../")) or joined == ".." or _CONTROL.search(joined):
        return None
    return quote(joined, safe="/")


def _result(finding: Finding, rule_index: int, package_path: str, readme: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "kind": "fail",
        "level": LEVEL[finding.severity],
        "message": {"text": _CONTROL.sub("", finding.message) or finding.rule},
    }
    # A finding without a file is about the package as a whole: shown on its model card.
    place = finding.file or readme
    uri = _uri(package_path, place) if place else None
    if uri is not None:
        location: dict[str, Any] = {"artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"}}
        if finding.file and finding.line:
            location["region"] = {"startLine": finding.line}
        result["locations"] = [{"physicalLocation": location}]
    return result
