"""The runner's overlap (issue 16): the environment is verified or built while the static checks run, and the
dynamic checks run side by side; the report and the progress lines keep the plan's order either way."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from validator.checks.base import DynamicCheck, Outcome, Skip, StaticCheck
from validator.core.findings import Area, CheckStatus, Finding
from validator.core.options import Options
from validator.pipeline import environment, runner
from validator.readers.package import ModelPackage
from validator.sandbox.base import Completed, Env, Limits

WAIT_S = 20.0  # far above what either side needs; reached only when the overlap is missing
built = threading.Event()


class WaitsForTheBuild(StaticCheck):
    name, area = "waits for the build", Area.LAYOUT

    def run(self, pkg: ModelPackage, options: Options) -> Iterable[Finding] | Skip:
        if not built.wait(WAIT_S):  # the environment's build runs meanwhile
            raise AssertionError("the environment was not built while the static checks ran")
        return []


both = threading.Barrier(2, timeout=WAIT_S)


class NoRuns:
    """An environment the fake checks never run anything in."""

    kind, description = "venv", "no environment"

    def run(self, argv: Sequence[str], workdir_files: Path, limits: Limits, fetch: Sequence[str] = ()) -> Completed:
        raise AssertionError("nothing runs here")

    def installed(self) -> dict[str, str]:
        return {}


class First(DynamicCheck):
    name, area = "first", Area.PARITY

    def run(self, pkg: ModelPackage, options: Options, env: Env | None) -> Outcome | Skip:
        both.wait()  # the second check runs at the same time, or this times out
        return Outcome()


class Second(DynamicCheck):
    name, area = "second", Area.INFERENCE

    def run(self, pkg: ModelPackage, options: Options, env: Env | None) -> Outcome | Skip:
        both.wait()
        return Skip("nothing to run")


def test_static_checks_overlap_the_build_and_dynamic_checks_run_side_by_side(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "README.md").write_text("# a package\n", encoding="utf-8")
    built.clear()
    both.reset()

    def build(pkg: ModelPackage, options: Options, progress: runner.Progress | None = None) -> environment.EnvironmentStep:
        assert progress is not None
        progress("environment: cached venv")
        built.set()
        return environment.EnvironmentStep(env=NoRuns())

    monkeypatch.setattr(environment, "build_environment", build)
    monkeypatch.setattr(runner, "PLAN", runner.Plan([WaitsForTheBuild], True, [First, Second]))
    lines: list[str] = []
    report = runner.run(tmp_path, Options(env="venv"), progress=lines.append)
    assert lines[:-1] == ["layout: waits for the build", "runtime: environment rebuild", "environment: cached venv",
                          "parity: first", "inference: second"]  # the build's line after the static checks, as before
    assert [(c.name, c.status) for c in report.checks] == [
        ("waits for the build", CheckStatus.PASSED), (environment.NAME, CheckStatus.PASSED),
        ("first", CheckStatus.PASSED), ("second", CheckStatus.SKIPPED)]


dynamic_started = threading.Event()


class WaitsForADynamicCheck(StaticCheck):
    name, area = "waits for a dynamic check", Area.LAYOUT

    def run(self, pkg: ModelPackage, options: Options) -> Iterable[Finding] | Skip:
        if not dynamic_started.wait(WAIT_S):  # the dynamic check starts once the environment is ready
            raise AssertionError("the dynamic checks did not start while the static checks ran")
        return []


class SignalsItsStart(DynamicCheck):
    name, area = "signals its start", Area.PARITY

    def run(self, pkg: ModelPackage, options: Options, env: Env | None) -> Outcome | Skip:
        assert isinstance(env, NoRuns)
        dynamic_started.set()
        return Outcome()


def _cached(pkg: ModelPackage, options: Options, progress: runner.Progress | None = None) -> environment.EnvironmentStep:
    return environment.EnvironmentStep(env=NoRuns())


def test_dynamic_checks_start_as_soon_as_the_environment_is_ready(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "README.md").write_text("# a package\n", encoding="utf-8")
    dynamic_started.clear()
    monkeypatch.setattr(environment, "build_environment", _cached)
    monkeypatch.setattr(runner, "PLAN", runner.Plan([WaitsForADynamicCheck], True, [SignalsItsStart]))
    lines: list[str] = []
    report = runner.run(tmp_path, Options(env="venv"), progress=lines.append)
    assert lines[:-1] == ["layout: waits for a dynamic check", "runtime: environment rebuild", "parity: signals its start"]
    assert [(c.name, c.status) for c in report.checks] == [
        ("waits for a dynamic check", CheckStatus.PASSED), (environment.NAME, CheckStatus.PASSED),
        ("signals its start", CheckStatus.PASSED)]


class Endless(StaticCheck):
    name, area = "endless", Area.LAYOUT

    def run(self, pkg: ModelPackage, options: Options) -> Iterable[Finding] | Skip:
        threading.Event().wait(5)  # past the budget below
        return []


def test_dynamic_checks_started_early_are_not_recorded_when_the_static_checks_are_abandoned(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "README.md").write_text("# a package\n", encoding="utf-8")
    dynamic_started.clear()
    monkeypatch.setattr(environment, "build_environment", _cached)
    monkeypatch.setattr(runner, "PLAN", runner.Plan([Endless], True, [SignalsItsStart]))
    report = runner.run(tmp_path, Options(env="venv"), static_budget=0.5)
    assert dynamic_started.is_set()  # it ran beside the static check
    assert [(c.name, c.status) for c in report.checks] == [
        ("endless", CheckStatus.FAILED), (environment.NAME, CheckStatus.SKIPPED), ("signals its start", CheckStatus.SKIPPED)]
    assert all("time budget" in c.reason for c in report.checks[1:])
    assert report.parity is None and not any(f.area is Area.PARITY for f in report.findings)
