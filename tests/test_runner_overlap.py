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
