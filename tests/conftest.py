"""Shared fixtures: the example package, a fresh copy of it, the CLI in-process, and a schema
check of every model-check JSON report a test leaves in its tmp_path."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import probe_packages
import pytest
from helpers import EXAMPLE, CliResult, RunCli, check_report

from validator.cli.main import main
from validator.runtime.environments.venv import VenvEnv

pytest_plugins = ["docker_fixtures"]  # the `engine` fixture of the docker test modules


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/* from the current output instead of comparing")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "docker: needs a working Docker engine (tests/docker_engine.sh start)")
    config.addinivalue_line("markers", "slow: takes more than a few seconds (builds environments, runs models)")
    config.addinivalue_line("markers", "no_report_check: the test leaves a deliberately invalid report in tmp_path")


@pytest.fixture(scope="session")
def light_env(tmp_path_factory: pytest.TempPathFactory) -> VenvEnv:
    """One light environment (numpy, torch CPU, onnx, onnxruntime, safetensors; cached) for every
    module that runs probes or inference examples in it: built or verified once per test run."""
    return probe_packages.build_env(tmp_path_factory.mktemp("light-env"), probe_packages.LIGHT)


@pytest.fixture()
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture()
def example_pkg() -> Path:
    """The example package in the repository; read it, never write into it."""
    return EXAMPLE


@pytest.fixture()
def pkg_copy(tmp_path: Path) -> Path:
    """A fresh copy of the example package, free to break."""
    target = tmp_path / "pkg"
    shutil.copytree(EXAMPLE, target)
    return target


@pytest.fixture()
def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """Call `model-check ARGS` in-process: returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at the terminal width; keep lines whole

    def invoke(args: Sequence[str | Path]) -> CliResult:
        capsys.readouterr()  # drop anything printed before
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse usage errors and --version
            code = exc.code if isinstance(exc.code, int) else 2
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


@pytest.fixture(autouse=True)
def _validate_reports_left_in_tmp_path(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test that used tmp_path, validate every model-check JSON report found in it."""
    wanted = "tmp_path" in request.fixturenames and not request.node.get_closest_marker("no_report_check")
    tmp_path: Path | None = request.getfixturevalue("tmp_path") if wanted else None
    yield
    if tmp_path is None:
        return
    for candidate in tmp_path.rglob("*.json"):
        if candidate.is_symlink() or not candidate.is_file() or candidate.stat().st_size > 50 * 1024 * 1024:
            continue
        try:
            data = json.loads(candidate.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError, OSError):
            continue
        if isinstance(data, dict) and isinstance(data.get("tool"), dict) and data["tool"].get("name") == "model-check":
            check_report(data)
