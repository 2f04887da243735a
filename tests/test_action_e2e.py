"""End to end: build the action image with a real Docker engine and run it the way the runner
does (`docker run` with INPUT_* variables, the event file, the summary and output files, the
workspace and the docker socket mounted), against the local GitHub stand-in on the host.

Scenarios: a pull request run twice (sticky comments edited, not duplicated), a fork pull request
(read-only token: workflow-command annotations, no crash), and a tag push gated on the version.
The engine and the local base image come from tests/docker_engine.sh; without them the tests skip
with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from github_server import READ_TOKEN, WRITE_TOKEN, FakeGitHub
from helpers import EXAMPLE, REPO
from test_github_outputs_summary import parse_outputs

from validator.github.comment import marker

pytestmark = pytest.mark.docker

BASE_IMAGE = "local/python:3.11-bookworm"
IMAGE = "model-check-action:e2e"
BROKEN = REPO / "tests" / "fixtures" / "broken-package"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
HEAD = "e" * 40


def _docker(*args: str, timeout: float = 600, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}  # the engine here has no buildx plugin
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, env=env, **kwargs)


@pytest.fixture(scope="module")
def engine() -> Iterator[None]:
    if shutil.which("docker") is None and os.geteuid() != 0:
        pytest.skip("no docker CLI and not root: tests/docker_engine.sh cannot install one")
    was_up = shutil.which("docker") is not None and _docker("info", timeout=60).returncode == 0
    started = subprocess.run(["bash", str(REPO / "tests" / "docker_engine.sh"), "start"], capture_output=True, text=True,
                             timeout=1800)
    if started.returncode != 0:
        pytest.skip("no Docker engine: tests/docker_engine.sh start failed: " + started.stderr.strip()[-600:])
    yield
    if not was_up:
        subprocess.run(["bash", str(REPO / "tests" / "docker_engine.sh"), "stop"], capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def image(engine: None, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The action image, built from the repository's Dockerfile on the local base image. Behind
    this machine's TLS-intercepting proxy the build trusts the host's CA bundle, handed over the
    way the Dockerfile documents for users: docker/ca-certificates/."""
    context = tmp_path_factory.mktemp("action-context")
    for name in ("Dockerfile", ".dockerignore", "entrypoint.py", "pyproject.toml", "README.md"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, context / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "validator", context / "validator", ignore=ignore)
    shutil.copytree(REPO / "docker", context / "docker", ignore=ignore)
    if HOST_CA.is_file():
        shutil.copy2(HOST_CA, context / "docker" / "ca-certificates" / "host-bundle.crt")
    built = _docker("build", "--network", "host", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "-t", IMAGE, str(context),
                    timeout=1800)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return IMAGE


@dataclass
class Run:
    code: int
    log: str
    outputs: dict[str, str]
    summary: str
    workspace: Path


class Runner:
    """Runs the action container with the mounts and variables the Actions runner gives it."""

    def __init__(self, image: str, root: Path, server: FakeGitHub) -> None:
        self.image, self.root, self.server = image, root, server
        self.workspace = root / "workspace"
        for sub in ("home", "workflow", "file_commands"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        shutil.copytree(EXAMPLE, self.workspace / "models" / "example")
        shutil.copytree(BROKEN, self.workspace / "models" / "broken")

    def run(self, event_name: str, event: dict[str, Any], inputs: dict[str, str], ref: str) -> Run:
        step = uuid.uuid4().hex
        (self.root / "workflow" / "event.json").write_text(json.dumps(event), encoding="utf-8")
        summary, output = self.root / "file_commands" / f"step_summary_{step}", self.root / "file_commands" / f"set_output_{step}"
        summary.touch()
        output.touch()
        variables = {
            "HOME": "/github/home", "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": "/github/workflow/event.json", "GITHUB_WORKSPACE": "/github/workspace",
            "GITHUB_STEP_SUMMARY": f"/github/file_commands/{summary.name}", "GITHUB_OUTPUT": f"/github/file_commands/{output.name}",
            "GITHUB_REPOSITORY": self.server.repository, "GITHUB_API_URL": self.server.url, "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_SHA": "9" * 40, "GITHUB_REF": ref, "GITHUB_RUN_ID": "4711", "GITHUB_RUN_ATTEMPT": "1",
            **{f"INPUT_{name.upper()}": value for name, value in inputs.items()},
        }
        argv = ["run", "--rm", "--network", "host", "--workdir", "/github/workspace",
                "-v", "/var/run/docker.sock:/var/run/docker.sock",
                "-v", f"{self.root / 'home'}:/github/home", "-v", f"{self.root / 'workflow'}:/github/workflow",
                "-v", f"{self.root / 'file_commands'}:/github/file_commands", "-v", f"{self.workspace}:/github/workspace"]
        for key, value in variables.items():
            argv += ["-e", f"{key}={value}"]
        done = _docker(*argv, self.image, timeout=900)
        return Run(done.returncode, done.stdout + done.stderr, parse_outputs(output.read_text(encoding="utf-8")),
                   summary.read_text(encoding="utf-8"), self.workspace)


def _inputs(token: str, **more: str) -> dict[str, str]:
    return {"path": "models/*", "env": "none", "fail-on": "error", "comment": "true", "annotations": "true",
            "sarif": "", "rtol": "", "atol": "", "config": "", "github-token": token, "torch-backend": "cpu", **more}


def _pr_event(number: int, head_repo: str) -> dict[str, Any]:
    return {"action": "synchronize", "number": number,
            "pull_request": {"number": number, "head": {"sha": HEAD, "repo": {"full_name": head_repo}},
                             "base": {"repo": {"full_name": "earthcode/models"}}}}


def test_pull_request_sticky_comments_across_two_runs(image: str, tmp_path: Path) -> None:
    with FakeGitHub() as github:
        github.add_pull(8, HEAD, files=["models/broken/README.md"])
        runner = Runner(image, tmp_path, github)
        first = runner.run("pull_request", _pr_event(8, "earthcode/models"), _inputs(WRITE_TOKEN, sarif="model-check.sarif"),
                           "refs/pull/8/merge")
        assert first.code == 1, first.log  # the broken package fails the step
        comments = {c["body"].split("\n", 1)[0]: c["id"] for c in github.comments[8]}
        assert set(comments) == {marker("models/broken"), marker("models/example")}
        second = runner.run("pull_request", _pr_event(8, "earthcode/models"), _inputs(WRITE_TOKEN), "refs/pull/8/merge")
        assert second.code == 1, second.log
        assert {c["body"].split("\n", 1)[0]: c["id"] for c in github.comments[8]} == comments  # edited, not duplicated
        patched = [r.path for r in github.requests if r.method == "PATCH" and "/issues/comments/" in r.path]
        assert sorted(patched) == sorted(f"/repos/earthcode/models/issues/comments/{i}" for i in comments.values())
        runs = list(github.check_runs.values())
        assert len(runs) == 4 and {r["head_sha"] for r in runs} == {HEAD}
        assert sorted(r["conclusion"] for r in runs) == ["failure", "failure", "success", "success"]
        broken_run = next(rid for rid, r in github.check_runs.items() if r["name"] == "model-check (models/broken)")
        assert all(a["path"].startswith("models/broken/") for a in github.annotations[broken_run])
    assert first.outputs["status"] == "failed" and int(first.outputs["errors"]) > 0
    reports = first.outputs["report"].split("\n")
    assert reports == ["model-check-reports/models-broken.json", "model-check-reports/models-example.json"]
    assert json.loads((first.workspace / reports[1]).read_text(encoding="utf-8"))["status"] == "passed"
    assert json.loads((first.workspace / "model-check.sarif").read_text(encoding="utf-8"))["version"] == "2.1.0"
    assert "## model-check: `models/example`" in first.summary and "## model-check: `models/broken`" in first.summary
    assert "::error " not in first.log  # the check runs carry the annotations


def test_fork_pull_request_falls_back_to_annotations(image: str, tmp_path: Path) -> None:
    with FakeGitHub() as github:
        github.add_pull(9, HEAD, files=["models/broken/README.md"], head_repo="someone/models")
        result = Runner(image, tmp_path, github).run("pull_request", _pr_event(9, "someone/models"), _inputs(READ_TOKEN),
                                                     "refs/pull/9/merge")
        assert github.comments[9] == [] and github.check_runs == {}
        refused = [(r.method, r.path) for r in github.requests if r.method == "POST"]
        assert refused.count(("POST", "/repos/earthcode/models/check-runs")) == 2
    assert result.code == 1, result.log
    assert "Traceback" not in result.log
    errors = [line for line in result.log.splitlines() if line.startswith("::error ")]
    assert len(errors) == 10 and all("file=models/" in line for line in errors)
    assert errors[0].startswith("::error file=models/broken/README.md")  # files the PR changed come first
    assert "not shown as annotations" in result.log
    assert "read\\-only" in result.summary and "left out" in result.summary
    assert result.outputs["status"] == "failed"


def test_tag_push_is_gated_on_the_version(image: str, tmp_path: Path) -> None:
    with FakeGitHub() as github:
        runner = Runner(image, tmp_path, github)
        wrong = runner.run("push", {"ref": "refs/tags/v9.9.9", "after": HEAD}, _inputs(WRITE_TOKEN, path="models/example"),
                           "refs/tags/v9.9.9")
        report = json.loads((wrong.workspace / wrong.outputs["report"]).read_text(encoding="utf-8"))
        right = runner.run("push", {"ref": "refs/tags/v0.1.0", "after": HEAD}, _inputs(WRITE_TOKEN, path="models/example"),
                           "refs/tags/v0.1.0")
        conclusions = [r["conclusion"] for r in github.check_runs.values()]
    assert wrong.code == 1, wrong.log
    assert "MC860" in {f["rule"] for f in report["findings"]} and report["status"] == "failed"
    assert wrong.outputs["status"] == "failed"
    assert right.code == 0, right.log
    assert right.outputs["status"] == "passed"
    assert conclusions == ["failure", "success"]
