"""The command contract: `model-check check` and `model-check rules`, exit codes 0/1/2, report
files, flags over configuration, bad input that never ends in a traceback, and a package
directory that is never written to."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO, RunCli, check_report, findings, tree_state

from validator.core.catalogue import all_rules
from validator.pipeline import runner

CORE_AREAS = ("layout", "model-card", "runtime")
CORE_RULES = ["MC001", "MC002", *(f"MC{n}" for n in range(101, 111)), *(f"MC{n}" for n in range(200, 228)), "MC230",
              *(f"MC{n}" for n in range(301, 311))]


@pytest.fixture()
def core_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run only the checks of the core areas: the CLI contract does not depend on the others."""
    monkeypatch.setattr(runner, "PLAN", runner.PLAN.only(CORE_AREAS))


def no_traceback(*outputs: str) -> bool:
    return not any("Traceback" in text for text in outputs)


# -- exit codes -------------------------------------------------------------------------------
def test_example_passes_with_exit_0(run_cli: RunCli, example_pkg: Path, tmp_path: Path) -> None:
    """Done when (issue 2): the example passes every check with no error."""
    code, out, err = run_cli(["check", example_pkg, "--env", "none", "--json", tmp_path / "r.json"])
    report = check_report(tmp_path / "r.json")
    assert code == 0, [f["message"] for f in report["findings"] if f["severity"] == "error"]
    assert report["status"] == "passed" and report["summary"]["error"] == 0
    assert "passed" in out and no_traceback(out, err)
    for area in CORE_AREAS:  # the summary is grouped by area
        assert area in out


def test_error_finding_is_exit_1(run_cli: RunCli, pkg_copy: Path, core_only: None) -> None:
    (pkg_copy / "README.md").unlink()
    code, out, err = run_cli(["check", pkg_copy, "--env", "none"])
    assert code == 1
    assert "MC101" in out and "failed" in out and no_traceback(out, err)


def test_warnings_pass_by_default_and_fail_with_fail_on_warning(run_cli: RunCli, pkg_copy: Path, tmp_path: Path,
                                                                core_only: None) -> None:
    (pkg_copy / "model.onnx").unlink()  # MC104, a warning
    code, _, _ = run_cli(["check", pkg_copy, "--env", "none", "--json", tmp_path / "default.json"])
    assert code == 0 and check_report(tmp_path / "default.json")["status"] == "passed"
    code, _, _ = run_cli(["check", pkg_copy, "--env", "none", "--fail-on", "warning", "--json", tmp_path / "strict.json"])
    strict = check_report(tmp_path / "strict.json")
    assert code == 1
    assert (strict["status"], strict["fail_on"]) == ("failed", "warning")
    assert [f["rule"] for f in strict["findings"] if f["severity"] == "warning"] == ["MC104"]


def test_info_findings_never_fail(run_cli: RunCli, pkg_copy: Path, core_only: None) -> None:
    (pkg_copy / ".python-version").unlink()  # MC310, info
    code, out, _ = run_cli(["check", pkg_copy, "--env", "none", "--fail-on", "warning"])
    assert code == 0 and "MC310" not in out  # info is hidden without --verbose
    code, out, _ = run_cli(["check", pkg_copy, "--env", "none", "--verbose"])
    assert code == 0 and "MC310" in out


def test_missing_path_is_a_one_line_exit_2(run_cli: RunCli, tmp_path: Path) -> None:
    code, out, err = run_cli(["check", tmp_path / "nowhere"])
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and "nowhere" in err and "no such directory" in err


def test_file_as_path_is_a_one_line_exit_2(run_cli: RunCli, example_pkg: Path) -> None:
    code, out, err = run_cli(["check", example_pkg / "README.md"])
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and "not a directory" in err


def test_missing_path_from_the_installed_command_has_no_traceback(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "validator.cli", "check", str(tmp_path / "nowhere")],
                          capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and no_traceback(done.stdout, done.stderr)


@pytest.mark.parametrize("args", [
    ["check", ".", "--env", "kubernetes"],
    ["check", ".", "--fail-on", "info"],
    ["check", ".", "--rtol", "2"],
    ["frobnicate"],
    [],
])
def test_usage_errors_are_exit_2(run_cli: RunCli, args: list[str]) -> None:
    code, _, err = run_cli(args)
    assert code == 2 and "usage" in err.lower() and no_traceback(err)


def test_missing_config_file_is_exit_2(run_cli: RunCli, example_pkg: Path, tmp_path: Path) -> None:
    code, out, err = run_cli(["check", example_pkg, "--config", tmp_path / "missing.toml"])
    assert code == 2 and out == "" and "missing.toml" in err and err.strip().count("\n") == 0


def test_failure_of_model_check_itself_is_exit_2(run_cli: RunCli, example_pkg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_run(*args: Any, **kwargs: Any) -> None:
        raise MemoryError("out of memory in the validator")

    monkeypatch.setattr(runner, "run", broken_run)
    code, out, err = run_cli(["check", example_pkg, "--env", "none"])
    assert code == 2 and "internal error" in err and "MemoryError" in err
    assert no_traceback(out, err)


def test_default_path_is_the_current_directory(run_cli: RunCli, pkg_copy: Path, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path, core_only: None) -> None:
    monkeypatch.chdir(pkg_copy)
    code, _, _ = run_cli(["check", "--env", "none", "--json", tmp_path / "r.json"])
    report = check_report(tmp_path / "r.json")
    assert code == 0 and report["package"]["path"] == "."


# -- reports ----------------------------------------------------------------------------------
def test_json_and_markdown_written_together(run_cli: RunCli, pkg_copy: Path, tmp_path: Path, core_only: None) -> None:
    (pkg_copy / "requirements.txt").write_text("numpy\n", encoding="utf-8")
    json_path, md_path = tmp_path / "out" / "report.json", tmp_path / "out" / "nested" / "report.md"
    md_path.parent.mkdir(parents=True)  # report folders must exist (tests/test_cli_usage.py)
    code, _, _ = run_cli(["check", pkg_copy, "--env", "none", "--json", json_path, "--markdown", md_path])
    assert code == 1
    report = check_report(json_path)
    markdown = md_path.read_text(encoding="utf-8")
    assert report["status"] == "failed"
    assert "model-check failed" in markdown
    assert "MC301" in markdown and "requirements.txt:1" in markdown
    assert report["package"]["name"] == "GOES Cloud-Regime Classifier (demo)" and report["package"]["version"] == "v0.1.0"


def test_quiet_prints_only_the_verdict(run_cli: RunCli, example_pkg: Path, core_only: None) -> None:
    code, out, _ = run_cli(["check", example_pkg, "--env", "none", "--quiet"])
    assert code == 0 and out.strip().splitlines() == ["passed: 0 error(s), 0 warning(s), 0 info"]


# -- configuration against flags --------------------------------------------------------------
def test_flags_win_over_model_check_toml(run_cli: RunCli, pkg_copy: Path, tmp_path: Path, core_only: None) -> None:
    (pkg_copy / "model.onnx").unlink()
    (pkg_copy / "model-check.toml").write_text('fail-on = "warning"\n', encoding="utf-8")
    code, _, _ = run_cli(["check", pkg_copy, "--env", "none"])
    assert code == 1  # the file's fail-on applies
    code, _, _ = run_cli(["check", pkg_copy, "--env", "none", "--fail-on", "error", "--json", tmp_path / "r.json"])
    assert code == 0 and check_report(tmp_path / "r.json")["fail_on"] == "error"


def test_pyproject_tool_table_through_the_cli(run_cli: RunCli, pkg_copy: Path, tmp_path: Path, core_only: None) -> None:
    (pkg_copy / "README.md").unlink()
    (pkg_copy / "pyproject.toml").write_text('[tool.model-check]\ndisable = ["readme-missing"]\n', encoding="utf-8")
    code, _, _ = run_cli(["check", pkg_copy, "--env", "none", "--json", tmp_path / "r.json"])
    assert code == 0 and findings(check_report(tmp_path / "r.json"), rule="MC101") == []


def test_explicit_config_file(run_cli: RunCli, pkg_copy: Path, tmp_path: Path, core_only: None) -> None:
    (pkg_copy / "README.md").unlink()
    config = tmp_path / "ci.toml"
    config.write_text('[severity]\nMC101 = "warning"\n', encoding="utf-8")
    code, _, _ = run_cli(["check", pkg_copy, "--env", "none", "--config", config, "--json", tmp_path / "r.json"])
    assert code == 0
    assert [f["severity"] for f in findings(check_report(tmp_path / "r.json"), rule="MC101")] == ["warning"]


def test_bad_configuration_is_a_finding_not_exit_2(run_cli: RunCli, pkg_copy: Path, core_only: None) -> None:
    (pkg_copy / "model-check.toml").write_text("this is = not toml\n", encoding="utf-8")
    code, out, err = run_cli(["check", pkg_copy, "--env", "none"])
    assert code == 1 and "MC002" in out and no_traceback(out, err)


# -- model-check rules ------------------------------------------------------------------------
def test_rules_json_lists_every_rule(run_cli: RunCli) -> None:
    code, out, _ = run_cli(["rules", "--format", "json"])
    listed = json.loads(out)
    assert code == 0
    assert [r["id"] for r in listed] == [r.id for r in all_rules()]
    for entry in listed:
        assert {"id", "name", "area", "severity", "title", "rationale", "help"} <= set(entry)
        assert entry["severity"] in ("error", "warning", "info")
        assert entry["rationale"].strip() and "\n" not in entry["rationale"]
    assert set(CORE_RULES) <= {r["id"] for r in listed}


def test_core_rules_cite_the_guideline(run_cli: RunCli) -> None:
    code, out, _ = run_cli(["rules", "--format", "json"])
    core = [r for r in json.loads(out) if r["id"] in CORE_RULES and r["id"] not in ("MC001", "MC002")]
    assert code == 0 and len(core) == len(CORE_RULES) - 2
    assert [r["id"] for r in core if "guideline" not in r["rationale"].lower()] == []


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_rules_text_formats_show_every_rule(run_cli: RunCli, fmt: str) -> None:
    code, out, _ = run_cli(["rules", "--format", fmt])
    assert code == 0
    for rule in all_rules():
        line = next((line for line in out.splitlines() if rule.id in line and rule.name in line), "")
        assert rule.area.value in line and rule.severity.value in line and rule.rationale in line, rule.id


def test_rules_default_format_is_the_table(run_cli: RunCli) -> None:
    assert run_cli(["rules"])[1] == run_cli(["rules", "--format", "table"])[1]


# -- bad input: a finding, never a traceback, never exit 2 -------------------------------------
def _big_readme(path: Path) -> None:
    line = b"- a line of a very long model card\n"
    with path.open("wb") as handle:
        handle.write(line * (50 * 1024 * 1024 // len(line)))


def _replace_readme(content: bytes) -> Callable[[Path], int]:
    return lambda root: (root / "README.md").write_bytes(content)


def _readme_directory(root: Path) -> None:
    (root / "README.md").unlink()
    (root / "README.md").mkdir()


def _readme_outside(root: Path) -> None:
    outside = root.parent / "outside-card.md"
    outside.write_text("# Another card\n", encoding="utf-8")
    (root / "README.md").unlink()
    (root / "README.md").symlink_to(outside)


def _fifo(root: Path) -> None:
    os.mkfifo(root / "labels.json.pipe")


def _empty(root: Path) -> None:
    for entry in sorted(root.rglob("*"), reverse=True):
        entry.rmdir() if entry.is_dir() else entry.unlink()


BAD_INPUTS = {
    "readme-not-utf8": (_replace_readme("# Modèle\n\nLicence: MIT\n".encode("latin-1")), "MC200"),
    "readme-binary": (_replace_readme(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00"), "MC200"),
    "readme-50mb": (lambda root: _big_readme(root / "README.md"), "MC200"),
    "readme-directory": (_readme_directory, "MC101"),
    "readme-symlink-outside": (_readme_outside, "MC109"),
    "fifo": (_fifo, "MC109"),
    "empty-package": (_empty, "MC101"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_a_finding_not_a_crash(run_cli: RunCli, pkg_copy: Path, tmp_path: Path, case: str) -> None:
    breaker, rule = BAD_INPUTS[case]
    breaker(pkg_copy)
    code, out, err = run_cli(["check", pkg_copy, "--env", "none", "--json", tmp_path / "r.json", "--markdown", tmp_path / "r.md"])
    report = check_report(tmp_path / "r.json")
    assert code == 1 and no_traceback(out, err)
    assert rule in {f["rule"] for f in report["findings"]}
    assert [f["message"] for f in findings(report, rule="MC001")] == []


def test_unreadable_file_is_a_finding_not_a_crash(run_cli: RunCli, pkg_copy: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """chmod 000 does not stop root (these tests may run as root): make opening fail instead."""
    real_open = pathlib.Path.open

    def refusing_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.name in ("README.md", "requirements.txt"):
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", refusing_open)
    code, out, err = run_cli(["check", pkg_copy, "--env", "none", "--json", tmp_path / "r.json"])
    report = check_report(tmp_path / "r.json")
    assert code == 1 and no_traceback(out, err)
    assert sorted(f["file"] for f in findings(report, rule="MC109")) == ["README.md", "requirements.txt"]
    assert [f["message"] for f in findings(report, rule="MC001")] == []


@pytest.mark.skipif(os.geteuid() == 0, reason="running as root: chmod 000 does not stop root from reading "
                                              "(test_unreadable_file_is_a_finding_not_a_crash covers it)")
def test_file_without_permission_is_a_finding(run_cli: RunCli, pkg_copy: Path) -> None:
    (pkg_copy / "README.md").chmod(0)
    try:
        code, out, err = run_cli(["check", pkg_copy, "--env", "none"])
    finally:
        (pkg_copy / "README.md").chmod(0o644)
    assert code == 1 and "MC109" in out and no_traceback(out, err)


# -- the package directory is never written to ------------------------------------------------
def test_package_directory_is_never_written(run_cli: RunCli, pkg_copy: Path, tmp_path: Path) -> None:
    (pkg_copy / "model-check.toml").write_text('fail-on = "error"\n', encoding="utf-8")
    before = tree_state(pkg_copy)
    code, out, err = run_cli(["check", pkg_copy, "--env", "none", "--verbose",
                              "--json", tmp_path / "r.json", "--markdown", tmp_path / "r.md"])
    assert code in (0, 1) and no_traceback(out, err)
    check_report(tmp_path / "r.json")
    assert tree_state(pkg_copy) == before
