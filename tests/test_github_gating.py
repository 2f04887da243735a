"""Release-tag gating: the tag names the package, equals the declared versions, no lowered rules, the runtime
checks ran and passed, a sha256 manifest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import EXAMPLE

from validator.core.findings import Area, Artefact, CheckRecord, CheckStatus, Finding, Severity
from validator.core.report import Report
from validator.pipeline import runner
from validator.pipeline.config import configure, read_package_config
from validator.pipeline.release_gate import apply_gate, gate, names_package, runtime_checks, same_version, tag_prefix, tag_version

RAN = [CheckRecord(Area.RUNTIME, "environment rebuild", CheckStatus.PASSED),
       CheckRecord(Area.PARITY, "native vs ONNX parity", CheckStatus.PASSED),
       CheckRecord(Area.INFERENCE, "inference example", CheckStatus.PASSED)]


@pytest.fixture()
def package(tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXAMPLE, tmp_path / "pkg"))


def _report(artefacts: bool = True, checks: list[CheckRecord] | None = None, files: tuple[str, ...] = ("README.md",)) -> Report:
    """A report whose runtime checks ran and passed (unless `checks` says otherwise)."""
    return Report("pkg", "demo", "v0.1.0", Severity.ERROR, checks=list(RAN if checks is None else checks),
                  artefacts=[Artefact(f, 1, "0" * 64) for f in files] if artefacts else [])


@pytest.mark.parametrize("declared, tag, same", [
    ("v0.1.0", "v0.1.0", True),
    ("0.1.0", "v0.1.0", True),
    ("v1.0", "1.0.0", True),  # equal as versions
    ("1.2.0", "models/cloud/v1.2.0", True),  # monorepo tag prefix
    ("1.2.0", "v1.2.0-rc1", False),
    ("1.2.0", "v1.2.1", False),
    ("release", "vrelease", False),
])
def test_version_comparison(declared: str, tag: str, same: bool) -> None:
    assert same_version(declared, tag) is same


def test_tag_version() -> None:
    assert tag_version("v2.0.1") == "2.0.1" and tag_version("a/b/V3") == "3" and tag_version("version") == "version"
    assert tag_prefix("v2.0.1") == "" and tag_prefix("models/cloud/v1") == "models/cloud" and tag_prefix("x/v1") == "x"


@pytest.mark.parametrize("tag, package, named", [
    ("v0.1.0", "models/goes-cloud-regime", True),  # no prefix: every package
    ("v0.1.0", ".", True),
    ("v0.1.0", None, True),
    ("models/goes-cloud-regime/v0.1.0", "models/goes-cloud-regime", True),
    ("models/goes-cloud-regime/v0.1.0", "./models/goes-cloud-regime/", True),
    ("models/other-model/v0.1.0", "models/goes-cloud-regime", False),  # only the last part used to be compared
    ("models/x/v1", "models/x", True),
    ("models/x/v1", "models/x/v1", False),  # the last part is the version, never part of the path
    ("models/v1", "models/x", False),  # a parent folder names no package
    ("x/v1", "models/x", False),  # the package's name alone is not its path
    ("models/x/v1", "models/xy", False),
    ("models/xy/v1", "models/x", False),
    ("models/x/v1", "other/models/x", False),
    ("models/x/v1", ".", False),  # the package at the root is not models/x
    ("models/x/v1", None, False),  # a package outside the repository
])
def test_a_tag_with_a_path_prefix_names_only_the_package_at_that_path(tag: str, package: str | None, named: bool) -> None:
    assert names_package(tag, package) is named


def test_a_package_the_tag_does_not_name_is_not_gated(package: Path) -> None:
    report = _report(checks=[])
    assert apply_gate(report, "models/other-model/v9.9.9", package, package_path="models/goes-cloud-regime") == []
    record = report.checks[-1]
    assert record.name == "release tag gate" and record.status is CheckStatus.SKIPPED
    assert record.reason == ("not gated: the release tag models/other-model/v9.9.9 is for the package at models/other-model, "
                             "not for the package at models/goes-cloud-regime")
    assert report.findings == [] and report.status == "passed"
    # the package it names is gated: its version and its runtime checks
    found = apply_gate(_report(checks=[]), "models/goes-cloud-regime/v9.9.9", package, package_path="models/goes-cloud-regime")
    assert {f.rule for f in found} == {"MC860", "MC865"}


def test_matching_tag_passes(package: Path) -> None:
    report = _report()
    assert apply_gate(report, "v0.1.0", package) == []
    assert report.checks[-1].name == "release tag gate" and report.checks[-1].status is CheckStatus.PASSED
    assert report.status == "passed"


def test_mismatching_tag_names_every_source(package: Path) -> None:
    report = _report()
    found = apply_gate(report, "v0.2.0", package)
    assert {f.rule for f in found} == {"MC860"}
    places = {(f.file, f.line) for f in found}
    assert ("CITATION.cff", 5) in places and any(file == "README.md" and line for file, line in places)
    assert report.status == "failed" and report.checks[-1].status is CheckStatus.FAILED


def test_no_version_anywhere(tmp_path: Path) -> None:
    folder = tmp_path / "bare"
    folder.mkdir()
    (folder / "README.md").write_text("# A model\n\nNo version here.\n", encoding="utf-8")
    assert [f.rule for f in gate(_report(), "v1.0.0", folder)] == ["MC861"]


def test_the_runtime_checks_are_the_runners() -> None:
    """The gate names the checks as the runner records them."""
    from validator.checks import DYNAMIC_CHECKS
    from validator.pipeline import environment

    recorded = {(environment.AREA, environment.NAME)} | {(c.area, c.name) for c in DYNAMIC_CHECKS}
    assert {(c.area, c.name) for c in runtime_checks()} <= recorded
    assert {(r.area, r.name) for r in RAN} == {(c.area, c.name) for c in runtime_checks()}


def test_a_static_run_validates_no_release(package: Path) -> None:
    """--env none: every runtime check is named, with the report's reason for skipping it."""
    found = [f for f in gate(_checked(package), "v0.1.0", package) if f.rule.startswith("MC86")]
    assert [f.rule for f in found] == ["MC865"]
    assert found[0].severity is Severity.ERROR
    assert found[0].message == ("the release is not validated by running the package: environment rebuild, native vs ONNX "
                                "parity and inference example were not run (--env none: no package code is executed)")


def test_each_skipped_check_is_named_with_its_reason(package: Path) -> None:
    checks = [CheckRecord(Area.RUNTIME, "environment rebuild", CheckStatus.PASSED),
              CheckRecord(Area.PARITY, "native vs ONNX parity", CheckStatus.SKIPPED,
                          "the .safetensors/.onnx files are Git LFS or git-annex pointers, not the models"),
              CheckRecord(Area.INFERENCE, "inference example", CheckStatus.SKIPPED, "no inference.py")]
    [finding] = gate(_report(checks=checks, files=("README.md", "model.safetensors")), "v0.1.0", package)
    assert finding.rule == "MC865"
    assert "native vs ONNX parity was not run (the .safetensors/.onnx files are Git LFS" in finding.message
    assert "inference example was not run (no inference.py)" in finding.message
    assert "environment rebuild" not in finding.message
    # a run that left an area out has no record of its check: not run either
    [finding] = gate(_report(checks=RAN[:1], files=("README.md",)), "v0.1.0", package)
    assert finding.rule == "MC865" and "inference example was not run (the report has no record of it" in finding.message


def test_parity_is_required_only_of_a_package_with_model_files(package: Path) -> None:
    skipped = CheckRecord(Area.PARITY, "native vs ONNX parity", CheckStatus.SKIPPED, "no .safetensors and no .onnx file")
    checks = [RAN[0], skipped, RAN[2]]
    assert gate(_report(checks=checks, files=("README.md", "inference.py")), "v0.1.0", package) == []
    for model in ("model.onnx", "weights/Model.SafeTensors"):
        assert [f.rule for f in gate(_report(checks=checks, files=("README.md", model)), "v0.1.0", package)] == ["MC865"]


def test_a_failed_runtime_check_fails_the_release(package: Path) -> None:
    """A check failed on a warning (a notebook not run) is not passed either; the finding names the rules."""
    checks = [RAN[0], RAN[1], CheckRecord(Area.INFERENCE, "inference example", CheckStatus.FAILED)]
    report = _report(checks=checks)
    report.findings = [Finding("MC962", Area.INFERENCE, Severity.WARNING, "not run", "example_inference.ipynb"),
                       Finding("MC970", Area.INFERENCE, Severity.INFO, "ran", "inference.py")]
    [finding] = gate(report, "v0.1.0", package)
    assert finding.rule == "MC866" and finding.severity is Severity.ERROR
    assert finding.message == ("the release's runtime checks did not pass: inference example "
                               "(MC962 notebook-not-runnable on example_inference.ipynb)")
    report.checks[0] = CheckRecord(Area.RUNTIME, "environment rebuild", CheckStatus.FAILED)
    [finding] = gate(report, "v0.1.0", package)
    assert "environment rebuild (see the findings of the runtime area)" in finding.message


def _checked(package: Path, config: Path | None = None) -> Report:
    """The report of a real (static) run on `package`, as `model-check check` writes it and the gate reads it."""
    loaded = read_package_config(package, config)
    options = configure(loaded, {"env": "none"})
    return Report.from_dict(runner.run(package, options, loaded).to_dict())


def test_lowered_and_disabled_rules_fail_the_release(package: Path) -> None:
    (package / "model-check.toml").write_text(
        'disable = ["MC608"]\n\n[severity]\nMC202 = "warning"\ncard-version = "error"\n', encoding="utf-8")
    report = _checked(package)
    found = gate(report, "v0.1.0", package)
    lowered = [f for f in found if f.rule == "MC862"]
    assert len(lowered) == 2 == len(report.relaxations)  # the report's list is what the gate reads
    assert {(f.file, f.line) for f in lowered} == {("model-check.toml", 1), ("model-check.toml", 4)}
    assert any("lowers MC202 card-version (severity error->warning)" in f.message for f in lowered)
    assert any("model-check.toml:1 disables MC608" in f.message for f in lowered)


def test_a_relaxation_of_a_non_security_rule_is_honoured_but_not_released(package: Path) -> None:
    (package / "model-check.toml").write_text('[severity]\nmodel-id-unmentioned = "info"\n', encoding="utf-8")
    report = _checked(package)
    assert [(r.rule, r.change, r.source, r.origin) for r in report.relaxations] == [
        ("MC608", "severity warning->info", "model-check.toml:2", "package")]
    [finding] = [f for f in gate(report, "v0.1.0", package) if f.rule == "MC862"]
    assert (finding.file, finding.line) == ("model-check.toml", 2)


def test_raising_a_severity_is_no_relaxation(package: Path) -> None:
    (package / "model-check.toml").write_text('[severity]\nMC310 = "error"\n', encoding="utf-8")
    report = _checked(package)
    assert report.relaxations == [] and [f for f in gate(report, "v0.1.0", package) if f.rule == "MC862"] == []


def test_explicit_config_outside_the_package(package: Path, tmp_path: Path) -> None:
    config = tmp_path / "ci.toml"
    config.write_text('[severity]\nMC202 = "info"\n', encoding="utf-8")
    report = _checked(package, config)
    assert [(r.rule, r.origin, r.line) for r in report.relaxations] == [("MC202", "--config", 2)]
    [finding] = [f for f in gate(report, "v0.1.0", package, config) if f.rule != "MC865"]  # a static run
    assert finding.rule == "MC862" and finding.file is None and str(config) in finding.message


def test_the_gate_reads_the_report_not_the_folder(package: Path) -> None:
    """One source of truth: a configuration written after the run does not change the gate's verdict."""
    report = _checked(package)
    (package / "model-check.toml").write_text('disable = ["MC608"]\n', encoding="utf-8")
    assert [f for f in gate(report, "v0.1.0", package) if f.rule == "MC862"] == []
    assert [f.rule for f in gate(_checked(package), "v0.1.0", package)] == ["MC862", "MC865"]


def test_report_without_manifest(package: Path) -> None:
    assert [f.rule for f in gate(_report(artefacts=False), "v0.1.0", package)] == ["MC863"]


def test_package_folder_missing(tmp_path: Path) -> None:
    assert [f.rule for f in gate(_report(), "v0.1.0", tmp_path / "nowhere")] == ["MC864"]
