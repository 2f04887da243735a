"""The action's files: action.yml against GitHub's action metadata schema, the workflows (ours and
the documented examples) against the workflow schema (both vendored by check-jsonschema), pinned
third-party actions, minimal permissions, the Dockerfile and its pinned requirements."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from helpers import REPO
from packaging.markers import default_environment
from packaging.requirements import Requirement

ACTION = REPO / "action.yml"
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
DOCS = REPO / "docs" / "workflows.md"
INPUTS = {"path", "env", "fail-on", "comment", "annotations", "sarif", "rtol", "atol", "config", "github-token", "torch-backend",
          "allow-network", "allow-package-indexes", "ca-bundle", "wheelhouse", "env-cache", "attest"}
OUTPUTS = {"status", "errors", "warnings", "report", "attestation", "predicate", "subjects"}
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _schema_check(schema: str, files: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, files)],
                          capture_output=True, text=True, timeout=120)


def _doc_workflows(tmp_path: Path) -> list[Path]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.S)
    paths = []
    for i, block in enumerate(blocks):
        path = tmp_path / f"doc-{i}.yml"
        path.write_text(block, encoding="utf-8")
        paths.append(path)
    return paths


def _load(path: Path) -> dict[str, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:  # YAML 1.1 reads the key `on` as true
        data["on"] = data.pop(True)
    return data


def test_action_metadata_is_valid() -> None:
    result = _schema_check("vendor.github-actions", [ACTION])
    assert result.returncode == 0, result.stdout + result.stderr


def test_action_inputs_and_outputs() -> None:
    action = _load(ACTION)
    assert set(action["inputs"]) == INPUTS
    assert set(action["outputs"]) == OUTPUTS
    for name, spec in {**action["inputs"], **action["outputs"]}.items():
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", name), name
        assert len(spec.get("description", "")) > 20, name
    assert action["inputs"]["github-token"]["default"] == "${{ github.token }}"
    assert action["inputs"]["path"]["default"] == "." and action["inputs"]["comment"]["default"] == "true"
    assert action["inputs"]["torch-backend"]["default"] == "cpu"
    assert action["runs"] == {"using": "docker", "image": "Dockerfile"}
    assert set(action["branding"]) == {"icon", "color"}


def test_entrypoint_reads_exactly_the_declared_inputs() -> None:
    source = (REPO / "entrypoint.py").read_text(encoding="utf-8")
    read = set(re.findall(r'get\("([a-z-]+)"', source))
    assert read == INPUTS


def test_docs_document_every_input_and_output() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for name in INPUTS | OUTPUTS:
        assert f"`{name}`" in text, name


def test_workflows_are_valid(tmp_path: Path) -> None:
    files = WORKFLOWS + _doc_workflows(tmp_path)
    assert len(files) >= 3 + 5
    result = _schema_check("vendor.github-workflows", files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflow_schema_check_is_not_vacuous(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    stepz: []\n", encoding="utf-8")
    assert _schema_check("vendor.github-workflows", [bad]).returncode != 0


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


@pytest.mark.parametrize("source", ["repository", "docs"])
def test_pinned_actions_minimal_permissions_no_interpolation_in_shell(source: str, tmp_path: Path) -> None:
    files = WORKFLOWS if source == "repository" else _doc_workflows(tmp_path)
    for path in files:
        workflow = _load(path)
        text = path.read_text(encoding="utf-8")
        assert "pull_request_target" not in text, path
        assert "permissions" in workflow, f"{path}: no top-level permissions"
        assert workflow["permissions"] in ({"contents": "read"}, {}), path
        for step in _steps(workflow):
            uses = step.get("uses")
            if uses and not uses.startswith(("./", "earthcode/model-check@")):
                assert PINNED.match(uses), f"{path}: {uses} is not pinned by a full commit SHA"
                assert re.search(re.escape(uses) + r" # v\d", text), f"{path}: {uses} has no version comment"
            assert "${{" not in step.get("run", ""), f"{path}: expression pasted into shell text: {step['run']!r}"
            if uses and uses.startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, path


def test_self_test_runs_the_action_on_the_example_and_the_broken_package() -> None:
    workflow = _load(REPO / ".github" / "workflows" / "self-test.yml")
    local = [s for s in _steps(workflow) if s.get("uses") == "./"]
    paths = {s["with"]["path"] for s in local}
    assert paths == {"examples/goes-cloud-regime", "tests/fixtures/broken-package"}
    for path in paths:
        assert (REPO / path).is_dir()
    broken = REPO / "tests" / "fixtures" / "broken-package"
    for file in broken.rglob("*"):
        if file.is_file():
            file.read_text(encoding="utf-8")  # text files only


def test_ci_runs_the_test_suite() -> None:
    """ci.yml runs .ci/run, which runs the whole suite, the Docker tests included: their engine comes
    first, and under CI=true (set by GitHub) a missing engine fails the run instead of skipping them."""
    workflow = _load(REPO / ".github" / "workflows" / "ci.yml")
    step = next(s for s in _steps(workflow) if s.get("run") == "bash .ci/run")
    assert step["env"]["MODEL_CHECK_BASE_IMAGES"] == "hub"
    run = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    pytest = re.findall(r"^python -m pytest.*$", run, flags=re.M)
    assert "pip install -q -e '.[test,lint]'" in run and pytest and all(" -m " not in line[16:] for line in pytest)
    assert run.index("bash .ci/docker-engine") < run.index("\npython -m pytest")
    engine = (REPO / ".ci" / "docker-engine").read_text(encoding="utf-8")
    assert 'elif [ "${CI:-}" = true ]; then' in engine and "exit 1" in engine


def test_dockerfile_is_pinned_and_configurable() -> None:
    parser = DockerfileParser(path=str(REPO / "Dockerfile"))
    instructions = [(i["instruction"], i["value"]) for i in parser.structure if i["instruction"] != "COMMENT"]
    assert instructions[0] == ("ARG", "BASE_IMAGE=python:3.11-slim-bookworm")
    froms = [value for kind, value in instructions if kind == "FROM"]
    assert froms and all(value.startswith("${BASE_IMAGE}") for value in froms)
    assert ("ENTRYPOINT", '["/opt/model-check/bin/python", "/app/entrypoint.py"]') in instructions
    runs = " ".join(value for kind, value in instructions if kind == "RUN")
    assert "--require-hashes" in runs and "pip check" in runs and "docker.io" in runs


def _lock() -> dict[str, str]:
    text = (REPO / "docker" / "requirements.txt").read_text(encoding="utf-8")
    return {name.lower().replace("_", "-"): version for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, flags=re.M)}


def test_image_requirements_cover_the_dependencies() -> None:
    """docker/requirements.txt pins every dependency of pyproject.toml (regenerate it when they change)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lock = _lock()
    host = {key: str(value) for key, value in default_environment().items()}
    environment = host | {"python_version": "3.11", "sys_platform": "linux", "platform_system": "Linux"}
    stale = []
    for text in project["dependencies"]:
        requirement = Requirement(text)
        if requirement.marker and not requirement.marker.evaluate(environment):
            continue
        pinned = lock.get(requirement.name.lower().replace("_", "-"))
        if pinned is None or not requirement.specifier.contains(pinned, prereleases=True):
            stale.append(f"{text} (pinned: {pinned})")
    assert not stale, "docker/requirements.txt is stale, see its header: " + ", ".join(stale)
    assert "setuptools" in lock  # the build backend, for --no-build-isolation
