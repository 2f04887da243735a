"""Progress without a terminal: plain lines with the elapsed time, the build's own lines (redacted, never a
workflow command), a line while a step is silent, and under GitHub Actions a group per step that stays
inside the entrypoint's stop-commands."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO

from validator.cli.progress import LogProgress
from validator.core.progress import OutputLine
from validator.github.annotations import stop_commands
from validator.github.log_groups import STOP_TOKEN_ENV, GroupedLog
from validator.runtime.environments.docker import BuildLog

BASE = REPO / "tests" / "rules" / "base"
TOKEN = "0123456789abcdef0123456789abcdef"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _printer(groups: GroupedLog | None = None) -> tuple[LogProgress, list[str], FakeClock]:
    lines: list[str] = []
    clock = FakeClock()
    return LogProgress("models/x", lambda text: lines.extend(text.splitlines()), clock, groups), lines, clock


def test_progress_lines_carry_the_elapsed_time_and_the_build_output() -> None:
    progress, lines, clock = _printer()
    progress("layout: package layout")
    clock.now += 12.34
    progress("environment: docker build (requirements.txt)")
    progress(OutputLine("Step 3/7 : RUN pip install -r requirements.txt"))
    progress(OutputLine("Downloading torch  10%\rDownloading torch 100%\r"))
    progress(OutputLine("   "))  # blank lines are left out
    clock.now += 60
    progress.finish()
    assert lines == ["[    0.0s] models/x: layout: package layout",
                     "[   12.3s] models/x: environment: docker build (requirements.txt)",
                     "  | Step 3/7 : RUN pip install -r requirements.txt",
                     "  | Downloading torch 100%",
                     "[   72.3s] models/x: checks done"]


def test_a_silent_step_gets_a_line_every_heartbeat() -> None:
    progress, lines, clock = _printer()
    progress("environment: uv venv (Python 3.11), wheels only")
    clock.now += 29
    progress.heartbeat()
    assert len(lines) == 1
    clock.now += 2
    progress.heartbeat()
    assert lines[-1] == "[   31.0s] models/x: still running: environment: uv venv (Python 3.11), wheels only (for 31 s)"
    clock.now += 10
    progress(OutputLine("Resolved 12 packages"))
    clock.now += 25
    progress.heartbeat()
    assert lines[-1] == "  | Resolved 12 packages"  # a line came 25 s ago: no heartbeat yet


def test_package_output_never_becomes_a_workflow_command() -> None:
    """A build line with `::error::`, a stop token guess or `##[`, and a token-shaped secret."""
    progress, lines, _ = _printer()
    progress("environment: docker build (Dockerfile)")
    secret = "ghp_" + "a1B2" * 9
    for text in ("::error file=README.md::forged", f"::{TOKEN}::", "   ::warning::indented", "x ##[error]old style",
                 f"token {secret}", "two\n::notice::lines"):
        progress(OutputLine(text))
    progress("inference: ::error::in a step name")
    for line in lines:
        assert not line.lstrip().startswith("::") and "##[" not in line, line
    assert secret not in "\n".join(lines) and "[REDACTED]" in "\n".join(lines)


def test_build_log_lines_reach_the_progress_as_they_come() -> None:
    seen: list[str] = []
    log = BuildLog(seen.append)
    log.add({"stream": "Step 1/2 : FROM python\n ---> 1234\nStep 2/2 : RUN pip"})
    assert seen == ["Step 1/2 : FROM python"] and all(isinstance(line, OutputLine) for line in seen)
    log.add({"stream": " install x\n::error::from a RUN step\n"})
    assert seen[1:] == ["Step 2/2 : RUN pip install x", "::error::from a RUN step"]  # escaped where shown
    log.add({"error": "The command returned a non-zero code: 1"})
    assert seen[-1] == "The command returned a non-zero code: 1" and log.error


def test_sandboxed_output_reaches_a_listener_line_by_line() -> None:
    from validator.sandbox.bubblewrap import LineTap

    seen: list[str] = []
    tap = LineTap(64, seen.append)
    for chunk in (b"Resolved 3 ", b"packages\nDownloading t", b"orch\n", b"\xff\n", b"no newline yet"):
        tap.add(chunk)
    assert seen == ["Resolved 3 packages", "Downloading torch", "\ufffd"]
    assert tap.text() == "Resolved 3 packages\nDownloading torch\n\ufffd\nno newline yet"  # kept as before

    def broken(_line: str) -> None:
        raise OSError("stderr closed")

    quiet = LineTap(64, broken)
    quiet.add(b"a line\n")  # a listener that fails costs the run nothing
    assert quiet.text() == "a line\n"


def test_groups_switch_inside_the_callers_stop_commands() -> None:
    written: list[str] = []
    groups = GroupedLog(written.append, TOKEN)
    progress, lines, clock = _printer(groups)
    progress("layout: package layout")
    clock.now += 1
    progress(OutputLine("::error::from the package"))
    progress("runtime: environment rebuild\n::error::title")
    progress.finish()
    assert written == [
        f"::{TOKEN}::\n::group::[    0.0s] models/x: layout: package layout\n::stop-commands::{TOKEN}\n",
        f"::{TOKEN}::\n::endgroup::\n::group::[    1.0s] models/x: runtime: environment rebuild \u200b::error::title\n"
        f"::stop-commands::{TOKEN}\n",
        f"::{TOKEN}::\n::endgroup::\n::stop-commands::{TOKEN}\n"]
    assert lines == ["  | \u200b::error::from the package", "[    1.0s] models/x: checks done"]


def test_group_titles_are_escaped_and_a_bad_token_refused() -> None:
    written: list[str] = []
    GroupedLog(written.append).group("50% of a\r\nb ##[x]")
    assert written == ["::group::50%25 of a b #\u200b#[x]\n"]
    with pytest.raises(ValueError):
        GroupedLog(written.append, "::x::\n")


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`model-check check` as CI runs it: stdout and stderr are pipes, not a terminal."""
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
            "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "validator.cli", "check", str(BASE), "--env", "none", *args],
                          capture_output=True, text=True, env={**base, **env}, timeout=600, stdin=subprocess.DEVNULL)


def test_the_cli_without_a_terminal_prints_progress_lines(tmp_path: Path) -> None:
    done = _cli({}, "--json", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stderr
    steps = re.findall(r"^\[ *(\d+\.\d)s\] .*base: (.+)$", done.stderr, flags=re.M)
    assert [step for _, step in steps][:2] == ["layout: package layout", "layout: weights in the package"]
    assert steps[-1][1] == "checks done" and "runtime: environment rebuild" in [step for _, step in steps]
    times = [float(t) for t, _ in steps]
    assert times == sorted(times)
    assert "::" not in done.stderr and "passed" in done.stdout and "[" not in done.stdout.splitlines()[0]
    quiet = _cli({}, "--quiet")
    assert quiet.stderr == "" and quiet.stdout.startswith("passed")


def test_the_cli_under_github_actions_groups_each_step_inside_the_entrypoints_stop_commands(tmp_path: Path) -> None:
    """As entrypoint.py runs it: the log (stdout and stderr) reads commands only in the group switches."""
    lines: list[str] = []
    with stop_commands(lines.append) as token:
        done = _cli({"GITHUB_ACTIONS": "true", STOP_TOKEN_ENV: token})
        lines += done.stderr.splitlines() + done.stdout.splitlines()
    assert done.returncode == 0, done.stderr
    log = "\n".join(lines)
    switches = re.findall(rf"^::{token}::\n((?:::(?:end)?group::.*\n)+)::stop-commands::{token}$", log, flags=re.M)
    assert len(switches) >= 15 and "layout: package layout" in switches[0]
    assert switches[-1] == "::endgroup::\n"  # the last group ends before the report
    # outside the switches every line is inert: commands are stopped with the token, and no line starts one
    outside = re.sub(rf"^::{token}::\n(?:::(?:end)?group::.*\n)+::stop-commands::{token}$", "", log, flags=re.M)
    assert [line for line in outside.splitlines() if line.lstrip().startswith("::")] == \
        [f"::stop-commands::{token}", f"::{token}::"]
    assert outside.index("checks done") < outside.index("passed")


@pytest.mark.slow
def test_a_venv_build_shows_the_installers_own_lines(tmp_path: Path) -> None:
    """uv's lines, as they come, under the environment step (a one-requirement package; uv's cache serves it)."""
    import shutil

    pkg = tmp_path / "pkg"
    shutil.copytree(BASE, pkg, ignore=shutil.ignore_patterns("model.*", "inference.py", "test_data", "stac-item.json"))
    (pkg / "requirements.txt").write_text("numpy==2.4.6\n", encoding="utf-8")
    passed = {name: os.environ[name] for name in ("UV_CACHE_DIR", "XDG_CACHE_HOME", "PIP_CONFIG_FILE") if name in os.environ}
    done = subprocess.run([sys.executable, "-m", "validator.cli", "check", str(pkg), "--env", "venv", "--cache-dir",
                           str(tmp_path / "envs")], capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL,
                          env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
                               "PYTHONPATH": str(REPO), **passed})
    assert done.returncode in (0, 1), done.stderr[-3000:]
    lines = done.stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if re.search(r"pkg: environment: uv venv .*wheels only$", line))
    installer = [line for line in lines[start + 1:] if line.startswith("  | ")]
    assert any("numpy" in line for line in installer), lines[start:start + 20]
