"""Usage papercuts of the command line: report files whose folder is missing are refused before
anything runs (no folder is ever created for them), and `check --help` shows the effective
defaults and the exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import RunCli

from validator.pipeline import runner


@pytest.fixture()
def no_run(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Fails the test if any check runs."""
    ran: list[Path] = []

    def refuse(root: Path, *args: object, **kwargs: object) -> None:
        ran.append(root)
        raise AssertionError("a check ran although the command line was refused")

    monkeypatch.setattr(runner, "run", refuse)
    return ran


@pytest.mark.parametrize("flag", ["--json", "--markdown", "--sarif"])
def test_report_in_a_missing_folder_is_a_usage_error(run_cli: RunCli, example_pkg: Path, tmp_path: Path, flag: str,
                                                      no_run: list[Path]) -> None:
    target = tmp_path / "no" / "such" / "dir" / "r.out"
    code, out, err = run_cli(["check", example_pkg, "--env", "none", flag, target])
    assert code == 2 and no_run == []
    assert f"{flag} {target}: no folder {target.parent} ({tmp_path / 'no'} does not exist)" in err
    assert "create it first" in err and "Traceback" not in err + out
    assert not (tmp_path / "no").exists()  # nothing was created


def test_report_under_a_file_or_onto_a_folder_is_a_usage_error(run_cli: RunCli, example_pkg: Path, tmp_path: Path,
                                                                no_run: list[Path]) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x", encoding="utf-8")
    code, _, err = run_cli(["check", example_pkg, "--json", a_file / "r.json"])
    assert code == 2 and f"({a_file} is a file)" in err
    code, _, err = run_cli(["check", example_pkg, "--sarif", tmp_path])
    assert code == 2 and f"--sarif {tmp_path}: is a folder" in err
    assert no_run == []


def test_publish_refuses_a_missing_report_folder_too(run_cli: RunCli, example_pkg: Path, tmp_path: Path,
                                                     no_run: list[Path]) -> None:
    code, _, err = run_cli(["publish", example_pkg, "--base-url", "https://example.org/m", "--out", tmp_path / "out",
                            "--markdown", tmp_path / "missing" / "r.md"])
    assert code == 2 and f"--markdown {tmp_path / 'missing' / 'r.md'}: no folder {tmp_path / 'missing'};" in err
    assert not (tmp_path / "out").exists() and no_run == []


def test_report_in_an_existing_folder_is_written(run_cli: RunCli, example_pkg: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "PLAN", runner.PLAN.only(("layout",)))
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["check", example_pkg, "--env", "none", "--json", "r.json", "--sarif", "r.sarif"])
    assert code in (0, 1), err
    assert (tmp_path / "r.json").is_file() and (tmp_path / "r.sarif").is_file()


# -- check --help ----------------------------------------------------------------------------------
def help_text(run_cli: RunCli, *command: str) -> str:
    code, out, _ = run_cli([*command, "--help"])
    assert code == 0
    return " ".join(out.split())  # argparse wraps lines: compare words


def test_check_help_shows_the_defaults_a_run_uses(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from validator.core.options import Options

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    text = help_text(run_cli, "check")
    defaults = Options()
    for shown in (f"static only (default: {defaults.env})", f"fails the run (default: {defaults.fail_on.value})",
                  f"relative tolerance of the parity check (default: {defaults.rtol:g})",
                  f"absolute tolerance of the parity check (default: {defaults.atol:g})",
                  f"each sandboxed step (default: {defaults.timeout_s:g};",
                  f"example notebook (default: {defaults.notebook_timeout_s:g};",
                  f"in MiB (default: {defaults.memory_mb};",
                  f"cached (default: {tmp_path / 'xdg' / 'model-check' / 'envs'},"):
        assert shown in text, shown


def test_help_defaults_come_from_the_options_not_from_literals(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    from validator.cli import common
    from validator.core.options import Options

    monkeypatch.setattr(common, "DEFAULTS", Options(timeout_s=123.0, memory_mb=4321, rtol=0.25))
    text = help_text(run_cli, "check")
    assert "(default: 123;" in text and "(default: 4321;" in text and "(default: 0.25)" in text


def test_check_help_lists_the_exit_codes(run_cli: RunCli) -> None:
    from validator.cli.common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE

    code, out, _ = run_cli(["check", "--help"])
    epilog = out[out.index("exit codes:"):]
    assert f"\n  {EXIT_OK}  no finding at or above --fail-on" in epilog
    assert f"\n  {EXIT_FINDINGS}  findings at or above --fail-on" in epilog
    assert f"\n  {EXIT_USAGE}  usage error" in epilog and "failure of model-check itself" in epilog


def test_publish_help_shows_its_own_env_default_and_exit_codes(run_cli: RunCli) -> None:
    text = help_text(run_cli, "publish")
    assert "static only (default: none)" in text
    assert "exit codes: 0 the records were written 1 refused" in text
