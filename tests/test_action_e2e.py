"""End to end: build the action image with a real Docker engine and run it the way the runner
does (`docker run` with INPUT_* variables, the event file, the summary and output files, the
workspace and the docker socket mounted), against the local GitHub stand-in on the host.

Scenarios: a pull request run twice (sticky comments edited, not duplicated), a fork pull request
(read-only token: workflow-command annotations, no crash), and a tag push gated on the version, all
with `env: none`; and `env: docker` on the example (CPU torch from a wheelhouse input, the proxy's CA
from a ca-bundle input): the action container rebuilds the package's environment, runs parity, the
inference example and the notebook in sibling containers of the same engine, run cold and warm.
The engine and the local base image come from tests/docker_engine.sh (docker_fixtures.ensure_engine):
without them the tests skip with the reason, or fail under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from docker_fixtures import TIMES, ensure_engine, unavailable
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
def engine() -> str:
    """The engine's socket on this machine (the default one, or the one tests/docker_engine.sh chose)."""
    ensure_engine()
    if shutil.which("docker") is None:
        unavailable("the docker CLI is not installed")
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        unavailable(f"DOCKER_HOST={host}: the action container needs the engine's unix socket to mount")
    return host.removeprefix("unix://")


@pytest.fixture(scope="module")
def image(engine: str, tmp_path_factory: pytest.TempPathFactory) -> str:
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
        # the engine's socket on this machine (ensure_engine set DOCKER_HOST), where the runner mounts its own
        self.socket = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
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
                "-v", f"{self.socket}:/var/run/docker.sock",
                "-v", f"{self.root / 'home'}:/github/home", "-v", f"{self.root / 'workflow'}:/github/workflow",
                "-v", f"{self.root / 'file_commands'}:/github/file_commands", "-v", f"{self.workspace}:/github/workspace"]
        for key, value in variables.items():
            argv += ["-e", f"{key}={value}"]
        done = _docker(*argv, self.image, timeout=1800)
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
    """env none: the wrong version fails (MC860), the right one too, as nothing was run (MC865); a tag whose
    path prefix names another package does not gate this one."""
    def rules(run: Run) -> set[str]:
        return {f["rule"] for f in json.loads((run.workspace / run.outputs["report"]).read_text(encoding="utf-8"))["findings"]}

    with FakeGitHub() as github:
        runner = Runner(image, tmp_path, github)
        wrong = runner.run("push", {"ref": "refs/tags/v9.9.9", "after": HEAD}, _inputs(WRITE_TOKEN, path="models/example"),
                           "refs/tags/v9.9.9")
        wrong_rules = rules(wrong)
        static = runner.run("push", {"ref": "refs/tags/v0.1.0", "after": HEAD}, _inputs(WRITE_TOKEN, path="models/example"),
                            "refs/tags/v0.1.0")
        static_rules = rules(static)
        other = runner.run("push", {"ref": "refs/tags/models/other-model/v0.1.0", "after": HEAD},
                           _inputs(WRITE_TOKEN, path="models/example"), "refs/tags/models/other-model/v0.1.0")
        other_rules = rules(other)
        conclusions = [r["conclusion"] for r in github.check_runs.values()]
    assert wrong.code == 1, wrong.log
    assert {"MC860", "MC865"} <= wrong_rules and wrong.outputs["status"] == "failed"
    assert static.code == 1, static.log
    assert "MC865" in static_rules and "MC860" not in static_rules and static.outputs["status"] == "failed"
    assert "environment rebuild, native vs ONNX parity and inference example were not run" in static.summary
    assert other.code == 0, other.log
    assert not {r for r in other_rules if r.startswith("MC86")} and other.outputs["status"] == "passed"
    assert "nothing was gated" in other.summary
    assert conclusions == ["failure", "failure", "success"]


# -- env: docker -------------------------------------------------------------------------------------

def _torch_wheelhouse(target: Path) -> bool:
    """The machine's CPU torch 2.13.0 wheel (pip's find-links here) put into `target`, the way a user hands
    the action a wheelhouse; False where there is none (the PyTorch CPU index then serves it)."""
    from validator.runtime.environments.pipconfig import read_pip_settings

    for folder in read_pip_settings().find_links:
        for wheel in sorted(Path(folder.removeprefix("file://")).glob("torch-2.13.0+cpu-*.whl")):
            target.mkdir(parents=True, exist_ok=True)
            try:
                os.link(wheel, target / wheel.name)
            except OSError:
                shutil.copy2(wheel, target / wheel.name)
            return True
    return False


def _remove_images(*prefixes: str) -> None:
    """Remove the environment images (and their notebook images) a run built."""
    listed = _docker("images", "--format", "{{.Repository}}:{{.Tag}}", "model-check-env", timeout=60).stdout.split()
    for name in sorted({n for n in listed if n.startswith(prefixes)}, reverse=True):  # derived ones first
        _docker("rmi", name, timeout=120)


def test_docker_mode_rebuilds_the_environment_and_runs_parity_inference_and_the_notebook_in_sibling_containers(
        image: str, tmp_path: Path) -> None:
    """`env: docker` as a workflow runs it, cold then warm. The action container reaches the engine only
    through the mounted socket: the package, the wheelhouse and the CA bundle (paths of the action
    container, not of this machine) travel to the sibling containers through the engine's API."""
    workspace = tmp_path / "workspace"
    with FakeGitHub() as github:
        github.add_pull(12, HEAD, files=["models/example/inference.py"])
        runner = Runner(image, tmp_path, github)
        (workspace / "certs").mkdir()
        shutil.copy2(HOST_CA, workspace / "certs" / "proxy.pem")
        config = workspace / ".github" / "model-check.toml"
        config.parent.mkdir()
        config.write_text(f'base-image = "{BASE_IMAGE}"\n', encoding="utf-8")  # Docker Hub's image where it answers
        inputs = _inputs(WRITE_TOKEN, path="models/example", env="docker", config=".github/model-check.toml",
                         **{"ca-bundle": "certs/proxy.pem"})
        if _torch_wheelhouse(workspace / "wheels"):
            inputs["wheelhouse"] = "wheels"
        started = time.monotonic()
        cold = runner.run("pull_request", _pr_event(12, "earthcode/models"), inputs, "refs/pull/12/merge")
        cold_s = time.monotonic() - started
        report_path = workspace / "model-check-reports" / "models-example.json"
        report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.is_file() else {}
        environment = report.get("environment") or {}
        if environment.get("cached") is False and environment.get("cache_key"):
            tag = str(environment["cache_key"])
            try:
                started = time.monotonic()
                warm = runner.run("pull_request", _pr_event(12, "earthcode/models"), inputs, "refs/pull/12/merge")
                warm_s = time.monotonic() - started
            finally:
                _remove_images(tag)  # built by this test: removed, with its notebook image
        else:
            started = time.monotonic()
            warm = runner.run("pull_request", _pr_event(12, "earthcode/models"), inputs, "refs/pull/12/merge")
            warm_s = time.monotonic() - started
        TIMES["action, env docker, example " + ("cold" if environment.get("cached") is False else "(image cached)")] = cold_s
        TIMES["action, env docker, example warm"] = warm_s
        warm_report = json.loads(report_path.read_text(encoding="utf-8"))
        comments = github.comments[12]
        runs = list(github.check_runs.values())
        annotations = [a for rid in github.check_runs for a in github.annotations.get(rid, [])]
    assert cold.code == 0, cold.log[-6000:]
    assert warm.code == 0, warm.log[-6000:]
    for run in (cold, warm):
        assert run.outputs["status"] == "passed" and run.outputs["errors"] == "0", run.outputs
        assert run.outputs["report"] == "model-check-reports/models-example.json"
        assert "Traceback" not in run.log
    # the JSON report: rebuilt in a sibling container, parity with its figures, inference and notebook passed
    statuses = {check["name"]: check["status"] for check in report["checks"]}
    assert statuses["environment rebuild"] == statuses["native vs ONNX parity"] == statuses["inference example"] == "passed"
    assert environment["kind"] == "docker" and environment["runtime_file"] == "requirements.txt"
    assert environment["installed"]["torch"] == "2.13.0+cpu", environment["installed"].get("torch")
    notes = "\n".join(environment["notes"])
    assert "certs/proxy.pem" in notes and "(--ca-bundle)" in notes
    assert ("wheelhouse wheels" in notes) == ("wheelhouse" in inputs)
    parity = report["parity"]
    assert parity["passed"] is True and parity["max_abs_diff"] <= 1e-4 and parity["rtol"] == 1e-4
    assert {o["kind"] for o in parity["outputs"]} >= {"native vs ONNX"} and all(o["passed"] for o in parity["outputs"])
    rules = {f["rule"] for f in report["findings"]}
    assert {"MC970", "MC971"} <= rules, rules  # the inference example and the notebook ran
    assert not {r for r in rules if r.startswith(("MC96", "MC95", "MC38"))}, rules
    assert warm_report["environment"]["cached"] is True and warm_report["environment"]["cache_key"] == environment["cache_key"]
    assert {f["rule"] for f in warm_report["findings"]} >= {"MC970", "MC971"}
    # one sticky comment, edited by the second run; one successful check run per run, annotations on the package
    assert len(comments) == 1 and comments[0]["body"].startswith(marker("models/example"))
    assert "environment rebuild" in comments[0]["body"]
    assert [r["conclusion"] for r in runs] == ["success", "success"] and {r["head_sha"] for r in runs} == {HEAD}
    assert all(a["path"].startswith("models/example/") and a["annotation_level"] != "failure" for a in annotations)
    assert "model-check (models/example)" in {r["name"] for r in runs}
