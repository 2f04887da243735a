"""Configuration (MC002): model-check.toml or [tool.model-check] in pyproject.toml disables rules,
changes severities and sets options; flags win over it; a bad file is a finding, not a crash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import _run, findings, rules_fired, run_configured

from validator.core.findings import Severity
from validator.core.options import Options
from validator.pipeline.config import configure, merge, read_package_config

CORE = ["layout", "model-card", "runtime"]


def configured(root: Path, toml: str, name: str = "model-check.toml", **flags: Any) -> dict[str, Any]:
    (root / name).write_text(toml, encoding="utf-8")
    return run_configured(root, only=CORE, **flags)


def test_no_configuration_means_defaults(example_pkg: Path) -> None:
    loaded = read_package_config(example_pkg)
    assert (loaded.values, loaded.source, loaded.problems) == ({}, None, [])
    assert merge(loaded.values, {}) == Options()


def test_configuration_source_is_noted_in_the_report(pkg_copy: Path) -> None:
    report = configured(pkg_copy, 'fail-on = "error"\n')
    assert "configuration read from model-check.toml" in report["notes"]
    assert "MC002" not in rules_fired(report)


@pytest.mark.parametrize("key", ["MC104", "onnx-missing"])
def test_disable_a_rule_by_id_or_name(pkg_copy: Path, key: str) -> None:
    (pkg_copy / "model.onnx").unlink()
    assert "MC104" in rules_fired(run_configured(pkg_copy, only=CORE))
    report = configured(pkg_copy, f'disable = ["{key}"]\n')
    assert "MC104" not in rules_fired(report)


def test_disabling_an_error_lets_the_package_pass(pkg_copy: Path) -> None:
    (pkg_copy / "requirements.txt").write_text("numpy\n", encoding="utf-8")
    assert run_configured(pkg_copy, only=CORE)["status"] == "failed"
    assert configured(pkg_copy, 'disable = ["requirement-unpinned"]\n')["status"] == "passed"


@pytest.mark.parametrize("key", ["MC310", "python-version-unstated"])
def test_change_a_severity_by_id_or_name(pkg_copy: Path, key: str) -> None:
    (pkg_copy / ".python-version").unlink()
    report = configured(pkg_copy, f'[severity]\n{key} = "error"\n')
    assert [(f["rule"], f["severity"]) for f in findings(report, rule="MC310")] == [("MC310", "error")]
    assert report["status"] == "failed" and report["summary"]["error"] == 1


def test_severity_can_be_lowered(pkg_copy: Path) -> None:
    (pkg_copy / "requirements.txt").write_text("numpy\n", encoding="utf-8")
    report = configured(pkg_copy, '[severity]\nrequirement-unpinned = "warning"\n')
    assert [f["severity"] for f in findings(report, rule="MC301")] == ["warning"]
    assert report["status"] == "passed"


def test_fail_on_warning_from_the_file(pkg_copy: Path) -> None:
    (pkg_copy / "model.onnx").unlink()
    report = configured(pkg_copy, 'fail-on = "warning"\n')
    assert report["fail_on"] == "warning" and report["status"] == "failed"


def test_flags_win_over_the_file(pkg_copy: Path) -> None:
    (pkg_copy / "model.onnx").unlink()
    report = configured(pkg_copy, 'fail-on = "warning"\nenv = "docker"\n', fail_on=Severity.ERROR, env="none")
    assert report["fail_on"] == "error" and report["status"] == "passed"
    assert "static run (--env none): no package code was executed" in report["notes"]


def test_unset_flags_do_not_override_the_file() -> None:
    options = merge({"fail_on": Severity.WARNING, "rtol": 0.01}, {"fail_on": None, "rtol": None, "atol": 0.001})
    assert (options.fail_on, options.rtol, options.atol) == (Severity.WARNING, 0.01, 0.001)


def test_pyproject_tool_table_is_read(pkg_copy: Path) -> None:
    (pkg_copy / "model.onnx").unlink()
    report = configured(pkg_copy, '[project]\nname = "demo"\n\n[tool.model-check]\ndisable = ["MC104"]\n', name="pyproject.toml")
    assert "MC104" not in rules_fired(report)
    assert "configuration read from pyproject.toml" in report["notes"]


def test_the_callers_configuration_file_is_a_note_about_the_machine(pkg_copy: Path, tmp_path: Path) -> None:
    """--config names a file of the machine that runs model-check: the note stays out of the PR comment."""
    caller = tmp_path / "ci-settings" / "model-check.toml"
    caller.parent.mkdir()
    caller.write_text('fail-on = "error"\n', encoding="utf-8")
    loaded = read_package_config(pkg_copy, explicit=caller)
    report = _run(pkg_copy, configure(loaded, {"env": "none"}, False), loaded, CORE)
    assert any(note.startswith("configuration read from") and "ci-settings" in note for note in report["machine_notes"])
    assert not any("configuration read from" in note for note in report["notes"])


def test_pyproject_without_the_table_is_ignored(pkg_copy: Path) -> None:
    report = configured(pkg_copy, '[project]\nname = "demo"\n\n[tool.ruff]\nline-length = 100\n', name="pyproject.toml")
    assert "MC002" not in rules_fired(report)
    assert not any("configuration read from" in note for note in report.get("notes", []))


def test_model_check_toml_wins_over_pyproject(pkg_copy: Path) -> None:
    (pkg_copy / "pyproject.toml").write_text('[tool.model-check]\nfail-on = "warning"\n', encoding="utf-8")
    (pkg_copy / "model-check.toml").write_text('fail-on = "error"\n', encoding="utf-8")
    assert read_package_config(pkg_copy).values == {"fail_on": Severity.ERROR}


def test_model_check_toml_may_use_the_tool_table_too(pkg_copy: Path) -> None:
    (pkg_copy / "model-check.toml").write_text('[tool.model-check]\nfail-on = "warning"\n', encoding="utf-8")
    assert read_package_config(pkg_copy).values == {"fail_on": Severity.WARNING}


def test_every_documented_option_is_read(pkg_copy: Path) -> None:
    (pkg_copy / "model-check.toml").write_text(
        'env = "venv"\nfail-on = "warning"\nrtol = 0.001\natol = 0\ndisable = ["MC104"]\nnative = "inference:load_model"\n'
        'network = true\ninference-command = "python inference.py"\ntimeout = 60\nmemory-mb = 2048\n'
        'torch-backend = "cpu"\npython = "3.11"\nbase-image = "python:3.11-slim"\nnotebook-timeout = 30\n'
        '[severity]\nMC310 = "warning"\n', encoding="utf-8")
    loaded = read_package_config(pkg_copy)
    assert loaded.problems == []
    options = merge(loaded.values, {})
    assert (options.env, options.fail_on, options.rtol, options.atol) == ("venv", Severity.WARNING, 0.001, 0.0)
    assert (options.disable, options.severity) == (frozenset({"MC104"}), {"MC310": Severity.WARNING})
    assert (options.native, options.network, options.inference_command) == ("inference:load_model", True, "python inference.py")
    assert (options.timeout_s, options.memory_mb, options.notebook_timeout_s) == (60.0, 2048, 30.0)
    assert (options.torch_backend, options.python, options.base_image) == ("cpu", "3.11", "python:3.11-slim")


# -- MC002: a configuration that cannot be used ----------------------------------------------
@pytest.mark.parametrize(("toml", "words"), [
    ('fail-on = "warning"\nthis is = not toml\n', "line 2"),
    ('colour = "blue"\n', "unknown key 'colour'"),
    ('env = "kubernetes"\n', "env must be one of"),
    ('fail-on = "info"\n', "fail-on must be"),
    ("rtol = 2\n", "rtol must be a number"),
    ("atol = true\n", "atol must be a number"),
    ('disable = "MC104"\n', "disable must be a list"),
    ('disable = ["MC999"]\n', "'MC999' is not a rule"),
    ('[severity]\nMC104 = "fatal"\n', "must be error, warning or info"),
    ('[severity]\nno-such-rule = "info"\n', "'no-such-rule' is not a rule"),
    ("severity = 3\n", "severity must be a table"),
    ("network = 1\n", "network must be true or false"),
    ("timeout = -5\n", "timeout must be a number of seconds"),
    ("memory-mb = 12\n", "memory-mb must be a whole number"),
    ('native = ""\n', "native must be a non-empty string"),
])
def test_bad_configuration_is_mc002(pkg_copy: Path, toml: str, words: str) -> None:
    report = configured(pkg_copy, toml)
    problems = findings(report, rule="MC002")
    assert len(problems) == 1, [f["message"] for f in problems]
    assert problems[0]["file"] == "model-check.toml" and problems[0]["severity"] == "error"
    assert words in problems[0]["message"]
    assert report["status"] == "failed"
    assert {c["name"] for c in report["checks"]} >= {"package layout", "model card", "runtime definition"}


def test_invalid_toml_points_at_its_line(pkg_copy: Path) -> None:
    report = configured(pkg_copy, 'fail-on = "warning"\n\nthis is = not toml\n')
    assert [(f["file"], f["line"]) for f in findings(report, rule="MC002")] == [("model-check.toml", 3)]


def test_config_that_is_not_utf8_is_mc002(pkg_copy: Path) -> None:
    (pkg_copy / "model-check.toml").write_bytes(b'env = "\xff"\n')
    report = run_configured(pkg_copy, only=CORE)
    assert [f["file"] for f in findings(report, rule="MC002")] == ["model-check.toml"]


def test_good_keys_still_apply_next_to_a_bad_one(pkg_copy: Path) -> None:
    (pkg_copy / "model.onnx").unlink()
    report = configured(pkg_copy, 'disable = ["MC104"]\ncolour = "blue"\n')
    assert rules_fired(report) == {"MC002"}
