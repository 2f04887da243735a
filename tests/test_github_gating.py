"""Release-tag gating: the tag equals the declared versions, no lowered rules, a sha256 manifest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import EXAMPLE

from validator.core.findings import Artefact, CheckStatus, Severity
from validator.core.report import Report
from validator.pipeline import runner
from validator.pipeline.config import configure, read_package_config
from validator.pipeline.release_gate import apply_gate, gate, same_version, tag_version


@pytest.fixture()
def package(tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXAMPLE, tmp_path / "pkg"))


def _report(artefacts: bool = True) -> Report:
    return Report("pkg", "demo", "v0.1.0", Severity.ERROR,
                  artefacts=[Artefact("README.md", 1, "0" * 64)] if artefacts else [])


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
    [finding] = gate(report, "v0.1.0", package, config)
    assert finding.rule == "MC862" and finding.file is None and str(config) in finding.message


def test_the_gate_reads_the_report_not_the_folder(package: Path) -> None:
    """One source of truth: a configuration written after the run does not change the gate's verdict."""
    report = _checked(package)
    (package / "model-check.toml").write_text('disable = ["MC608"]\n', encoding="utf-8")
    assert [f for f in gate(report, "v0.1.0", package) if f.rule == "MC862"] == []
    assert [f.rule for f in gate(_checked(package), "v0.1.0", package)] == ["MC862"]


def test_report_without_manifest(package: Path) -> None:
    assert [f.rule for f in gate(_report(artefacts=False), "v0.1.0", package)] == ["MC863"]


def test_package_folder_missing(tmp_path: Path) -> None:
    assert [f.rule for f in gate(_report(), "v0.1.0", tmp_path / "nowhere")] == ["MC864"]
