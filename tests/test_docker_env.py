"""The docker builder (validator/runtime/environments/docker*.py) against a real Docker engine.

Packages are light (numpy + onnxruntime from PyPI, a model.onnx made with onnx.helper): the
containers cannot see this machine's local torch wheel. Images are built on the local base image
tests/docker_engine.sh makes (Docker Hub is unreachable here). Images this session built are
removed at its end; containers and volumes are removed by the environment itself, which the tests
check through the labels it puts on them.

The engine is shared with other test runs: nothing here stops it, prunes it, or removes anything it
did not create. Docker tests are skipped only when no engine can be started (the reason is shown).
"""

from __future__ import annotations

import io
import json
import socket
import tarfile
import time
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from docker_fixtures import BASE, CREATED_TAGS, TIMES
from helpers import check_report

from validator.core.findings import Finding, Severity
from validator.core.options import Options
from validator.core.report import Report
from validator.pipeline import runner
from validator.readers.package import ModelPackage
from validator.readers.runtime_spec import read_runtime
from validator.runtime.environments.builder import BuildFailure
from validator.runtime.environments.dockerfile_gen import CA_FILE, requirements_dockerfile, with_build_inputs
from validator.sandbox.base import Limits

if TYPE_CHECKING:
    from docker import DockerClient

LIGHT = "numpy==2.4.6\nonnxruntime==1.32.0\n"

README = """# Tiny ONNX model

| Field | Value |
| --- | --- |
| Model name | Tiny ONNX model |
| Version | v0.0.1 |
| License | Apache-2.0 |

## Inputs

| Field | Value |
| --- | --- |
| Input shape | `N,3` |
| Data type | float32 |

## How to run inference

```bash
python inference.py
```
"""

ONNX_INFERENCE = """
import numpy as np
import onnxruntime as ort

session = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
print("logits", session.run(None, {"input": np.ones((2, 3), np.float32)})[0].tolist())
"""


def check(path: Path, timing: str | None = None, **options: Any) -> Report:
    """model-check on `path` through the runner (environment check -> probes -> inference check)."""
    started = time.monotonic()
    report = runner.run(path, Options(**{"env": "docker", "base_image": BASE, **options}))
    if timing:
        TIMES[timing] = time.monotonic() - started
    check_report(report)
    environment = report.environment
    if environment and environment.get("kind") == "docker" and not environment.get("cached") and (tag := environment.get("cache_key")):
        CREATED_TAGS.add(tag)
    return report


def found(report: Report, rule: str) -> list[Finding]:
    return [f for f in report.findings if f.rule == rule]


def leftovers(client: DockerClient, label: str) -> list[str | None]:
    containers = client.containers.list(all=True, filters={"label": label})
    volumes = client.volumes.list(filters={"label": label})
    return [c.id for c in containers] + [v.name for v in volumes]


# -- packages ---------------------------------------------------------------------------------------

def write_onnx(path: Path) -> None:
    """logits = input @ w, input (batch, 3) -> (batch, 2)."""
    import onnx
    from onnx import TensorProto, helper

    weights = helper.make_tensor("w", TensorProto.FLOAT, [3, 2], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    graph = helper.make_graph([helper.make_node("MatMul", ["input", "w"], ["logits"])], "tiny",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])], [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def package(root: Path, inference: str, requirements: str = LIGHT, onnx: bool = False,
            files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "README.md").write_text(README, encoding="utf-8")
    (root / "requirements.txt").write_text(requirements, encoding="utf-8")
    (root / "inference.py").write_text(inference, encoding="utf-8")
    if onnx:
        write_onnx(root / "model.onnx")
    for name, text in (files or {}).items():
        (root / name).write_text(text, encoding="utf-8")
    return root


# -- builds -----------------------------------------------------------------------------------------

@pytest.mark.docker
def test_generated_dockerfile_builds_the_requirements_and_runs_inference(engine: DockerClient, tmp_path: Path) -> None:
    import numpy as np

    pkg = package(tmp_path / "pkg", ONNX_INFERENCE, onnx=True)
    (pkg / "test_data").mkdir()
    np.save(pkg / "test_data" / "input_0.npy", np.ones((1, 3), np.float32))
    np.save(pkg / "test_data" / "output_0.npy", np.array([[6.0, 9.0]], np.float32))
    report = check(pkg, "requirements image, build + check")
    environment = report.environment
    assert environment is not None and environment["kind"] == "docker", report.findings
    assert environment["runtime_file"] == "requirements.txt"
    assert environment["installed"]["numpy"] == "2.4.6" and environment["installed"]["onnxruntime"] == "1.32.0"
    assert str(environment["python"]).startswith("3.11")
    ran = found(report, "MC970")
    assert ran and "logits [[6.0, 9.0], [6.0, 9.0]]" in ran[0].message
    assert not [f for f in report.findings if f.rule.startswith(("MC38", "MC95", "MC350", "MC90"))]
    parity = report.parity  # the ONNX probe ran in a container, with the image's onnxruntime
    assert parity is not None and parity.get("passed") is True and "package environment's onnxruntime" in parity["onnx_runtime"]
    assert any("package code runs in containers" in note for note in environment["notes"])

    (pkg / "README.md").write_text(README + "\nEdited.\n", encoding="utf-8")  # not in the build context
    again = check(pkg, "requirements image, cached check")
    assert again.environment and again.environment["cached"] is True
    assert again.environment["cache_key"] == environment["cache_key"]
    assert found(again, "MC970")


NOTEBOOK_CELLS = [
    "import os, socket, sys\nimport numpy as np\nimport onnxruntime as ort",
    # the sandbox of the inference example: user nobody, read-only root, no network interface but lo
    "assert os.getuid() == 65534 and not os.access('/opt', os.W_OK)\n"
    "assert [name for _, name in socket.if_nameindex()] == ['lo'], socket.if_nameindex()",
    # the kernel tools come from their own layer, appended: the environment's packages come first
    "import ipykernel\nassert ipykernel.__file__.startswith('/opt/model-check-notebook-tools/'), ipykernel.__file__\n"
    "assert sys.path[-1] == '/opt/model-check-notebook-tools' and np.__file__.startswith('/opt/venv/')",
    "session = ort.InferenceSession('model.onnx', providers=['CPUExecutionProvider'])\n"
    "print(session.run(None, {'input': np.ones((1, 3), np.float32)})[0].tolist())",
]


@pytest.mark.docker
def test_a_notebook_runs_in_a_docker_environment_with_the_kernel_tools_in_a_layer_of_their_own(
        engine: DockerClient, tmp_path: Path) -> None:
    pkg = package(tmp_path / "pkg", ONNX_INFERENCE, onnx=True)  # the same runtime as above: the same cached image
    cells: list[dict[str, Any]] = [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None, "outputs": [], "source": text}
             for i, text in enumerate(NOTEBOOK_CELLS)]
    notebook = {"nbformat": 4, "nbformat_minor": 5, "cells": cells,
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}}
    (pkg / "example_inference.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    report = check(pkg, "notebook in a docker environment")
    environment = report.environment
    assert environment is not None and environment["kind"] == "docker", report.findings
    tag = str(environment["cache_key"])
    derived = [name for image in engine.images.list(name="model-check-env") for name in image.tags
               if name.startswith(f"{tag}-notebook-")]
    CREATED_TAGS.update(derived)
    ran = found(report, "MC971")
    assert ran and "4 code cells" in ran[0].message, [f"{f.rule} {f.message}" for f in report.findings]
    assert not [f for f in report.findings if f.rule.startswith("MC96")], report.findings
    assert "ipykernel" not in environment["installed"]  # the package's environment is not changed
    assert len(derived) == 1
    layers = engine.images.get(derived[0]).history()
    assert engine.images.get(tag).id in {layer["Id"] for layer in layers}  # one layer on top of the environment
    assert engine.images.get(derived[0]).labels["model-check.run"] == ""  # not removed as a run's leftover
    again = check(pkg, "notebook in a docker environment, cached")
    assert found(again, "MC971") and [name for image in engine.images.list(name="model-check-env")
                                      for name in image.tags if name.startswith(f"{tag}-notebook-")] == derived


@pytest.mark.docker
def test_the_packages_own_dockerfile_is_built_under_auto(engine: DockerClient, tmp_path: Path) -> None:
    dockerfile = (f"FROM {BASE}\n"
                  "RUN python3 -m venv /opt/app && /opt/app/bin/pip install --no-cache-dir numpy==2.4.6\n"
                  "ENV PATH=/opt/app/bin:$PATH\n"
                  'ENTRYPOINT ["/bin/false"]\n')  # model-check runs its own command, not the image's entrypoint
    inference = "import numpy, sys\nprint('numpy', numpy.__version__, 'at', sys.executable)\n"
    pkg = package(tmp_path / "pkg", inference, requirements="numpy==2.4.6\n", files={"Dockerfile": dockerfile})
    # its RUN step downloads: on an engine without a bridge network that takes the host's network, asked for here
    report = check(pkg, "own Dockerfile, build + check", env="auto", build_network="host")
    environment = report.environment
    assert environment is not None and environment.get("kind") == "docker", report.findings
    assert environment["runtime_file"] == "Dockerfile"
    ran = found(report, "MC970")
    assert ran and "numpy 2.4.6 at /opt/app/bin/python" in ran[0].message


@pytest.mark.docker
def test_a_dockerfile_that_does_not_build_is_an_error_with_the_log_tail(engine: DockerClient, tmp_path: Path) -> None:
    marker = f"marker-{uuid.uuid4().hex[:8]}"
    dockerfile = f"FROM local/bookworm:min\nRUN echo {marker} && exit 3\n"
    pkg = package(tmp_path / "pkg", "print('never runs')\n", files={"Dockerfile": dockerfile})
    report = check(pkg)
    failures = found(report, "MC380")
    assert len(failures) == 1 and failures[0].severity is Severity.ERROR
    assert marker in failures[0].message and "non-zero code: 3" in failures[0].message
    assert failures[0].file == "Dockerfile"
    assert not found(report, "MC970")  # nothing ran without an environment


@pytest.mark.docker
def test_missing_base_image_of_a_generated_dockerfile_is_reported(engine: DockerClient, tmp_path: Path) -> None:
    pkg = package(tmp_path / "pkg", "print('x')\n")
    report = check(pkg, base_image=f"local/model-check-absent-{uuid.uuid4().hex[:8]}:1")
    assert found(report, "MC382"), report.findings


@pytest.mark.docker
def test_wheelhouse_installs_without_network(engine: DockerClient, tmp_path: Path) -> None:
    wheelhouse = tmp_path / "wheels"
    wheelhouse.mkdir()
    with zipfile.ZipFile(wheelhouse / "mc_hello-0.1-py3-none-any.whl", "w") as wheel:
        wheel.writestr("mc_hello/__init__.py", "GREETING = 'hello from the wheelhouse'\n")
        wheel.writestr("mc_hello-0.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: mc-hello\nVersion: 0.1\n")
        wheel.writestr("mc_hello-0.1.dist-info/WHEEL",
                       "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr("mc_hello-0.1.dist-info/RECORD", "mc_hello/__init__.py,,\n")
    pkg = package(tmp_path / "pkg", "import mc_hello\nprint(mc_hello.GREETING)\n", requirements="mc-hello==0.1\n")
    report = check(pkg, "wheelhouse image, build + check", wheelhouse=str(wheelhouse), build_network="none")
    ran = found(report, "MC970")
    assert ran and "hello from the wheelhouse" in ran[0].message, report.findings


@pytest.mark.docker
def test_a_python_version_the_image_does_not_run_is_a_warning(engine: DockerClient, tmp_path: Path) -> None:
    pkg = package(tmp_path / "pkg", "print('ok')\n", files={".python-version": "3.12\n"})
    report = check(pkg)
    warnings = found(report, "MC351")
    assert warnings and "3.12" in warnings[0].message and f"--base-image {BASE}" in warnings[0].message


# -- the sandbox of package code --------------------------------------------------------------------

@pytest.mark.docker
def test_no_connection_reaches_a_loopback_listener_of_the_host(engine: DockerClient, tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        code = (f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=5)\n"
                "s.sendall(b'leak')\nprint('connected')\n")
        report = check(package(tmp_path / "pkg", code), "sandbox run: loopback socket")
        listener.settimeout(1.0)
        with pytest.raises(socket.timeout):
            listener.accept()
    assert found(report, "MC953"), report.findings  # refused: the container has only its own loopback
    assert not found(report, "MC970")
    assert report.environment is not None and report.environment.get("kind") == "docker"


@pytest.mark.docker
def test_github_token_is_not_visible(engine: DockerClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"ghp_modelcheck{uuid.uuid4().hex}"
    monkeypatch.setenv("GITHUB_TOKEN", secret)
    monkeypatch.setenv("ACTIONS_RUNTIME_TOKEN", secret)
    code = ("import os, glob\nseen = repr(dict(os.environ))\n"
            "for path in glob.glob('/proc/*/environ'):\n"
            "    try:\n        seen += open(path, 'rb').read().decode('latin-1')\n    except OSError:\n        pass\n"
            "print('GITHUB_TOKEN' in seen, seen)\n")
    report = check(package(tmp_path / "pkg", code), "sandbox run: environment")
    ran = found(report, "MC970")
    assert ran and "False" in ran[0].message
    assert secret not in json.dumps(report.to_dict())


@pytest.mark.docker
def test_sleeping_forever_is_stopped_by_the_wall_clock(engine: DockerClient, tmp_path: Path) -> None:
    code = "import time\nprint('sleeping', flush=True)\ntime.sleep(100000)\n"
    report = check(package(tmp_path / "pkg", code), "sandbox run: sleep (5 s limit)", timeout_s=5)
    stopped = found(report, "MC951")
    assert stopped and "stopped after 5 s" in stopped[0].message and "sleeping" in stopped[0].message


@pytest.mark.docker
def test_unbounded_allocation_is_stopped_by_the_memory_limit(engine: DockerClient, tmp_path: Path) -> None:
    code = "chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))\n"
    report = check(package(tmp_path / "pkg", code), "sandbox run: allocation (256 MiB)", memory_mb=256)
    stopped = found(report, "MC952")
    assert stopped and "256 MiB" in stopped[0].message, report.findings


FORK_BOMB = """
import os, sys, time
children = 0
while True:
    try:
        pid = os.fork()
    except OSError as error:
        print(f"fork refused after {children} children: {error}", flush=True)
        sys.exit(3)
    if pid == 0:  # every child forks on, as a bomb does, until it is refused too
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(1000)
    children += 1
"""


@pytest.mark.docker
def test_a_fork_bomb_is_bounded_by_the_pids_limit(engine: DockerClient, tmp_path: Path) -> None:
    report = check(package(tmp_path / "pkg", FORK_BOMB), "sandbox run: fork bomb")
    failed = found(report, "MC950")
    assert failed and "fork refused after" in failed[0].message, report.findings
    children = int(failed[0].message.split("fork refused after ")[1].split()[0])
    assert children < Limits().processes


@pytest.mark.docker
def test_containers_and_volumes_are_removed_and_files_come_back(engine: DockerClient, tmp_path: Path) -> None:
    """Directly through the Env: killed at the deadline, nothing left behind, only safe files fetched."""
    from validator.runtime.environments.docker import DockerBuilder

    pkg_root = package(tmp_path / "pkg", "print('x')\n")
    pkg = ModelPackage(pkg_root)
    try:
        env = DockerBuilder().build(pkg, read_runtime(pkg), Options(env="docker", base_image=BASE))
    finally:
        pkg.close()
    assert not isinstance(env, BuildFailure), env
    info = env.info
    assert info is not None
    if not info.cached and info.cache_key:
        CREATED_TAGS.add(info.cache_key)
    work = tmp_path / "work"
    work.mkdir()
    (work / "input.txt").write_text("input\n")
    code = ("import os\nopen('result.json', 'w').write('{\"ok\": true}')\nos.symlink('/etc/passwd', 'link')\n"
            "os.mkdir('folder')\nprint(open('input.txt').read().strip(), os.getuid(), flush=True)\n"
            "os.fork() or __import__('time').sleep(100000)\n__import__('time').sleep(100000)\n")
    done = env.run(["python", "-c", code], work, Limits(wall_s=8), fetch=["result.json", "link", "folder", "../etc/passwd",
                                                                        "input.txt", "absent"])
    assert done.timed_out and done.killed_by == "timeout" and done.returncode is None
    assert done.stdout.startswith("input 65534")
    assert done.files == {"result.json": b'{"ok": true}', "input.txt": b"input\n"}
    assert (work / "input.txt").read_text() == "input\n" and not (work / "result.json").exists()
    assert leftovers(engine, f"model-check.env-run={env.run_id}") == []


# -- without an engine ------------------------------------------------------------------------------

def test_no_engine_under_env_docker_is_an_error_saying_how_to_start_one(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    report = runner.run(package(tmp_path / "pkg", "print('x')\n"), Options(env="docker"))
    check_report(report)
    errors = found(report, "MC381")
    assert len(errors) == 1 and errors[0].severity is Severity.ERROR
    assert "start one" in errors[0].message and "no-engine.sock" in errors[0].message
    assert report.environment is None


def test_no_engine_under_auto_falls_back_to_venv_with_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    pkg = package(tmp_path / "pkg", "print('ran in a venv')\n", requirements="numpy==2.4.6\n",
                  files={"Dockerfile": f"FROM {BASE}\n"})
    report = runner.run(pkg, Options(env="auto", cache_dir=str(tmp_path / "cache")))
    check_report(report)
    assert report.environment is not None and report.environment.get("kind") == "venv"
    assert any("includes a Dockerfile, but no Docker engine answers" in note for note in report.machine_notes), report.notes
    assert not found(report, "MC381")


# -- what is built (no engine needed) ---------------------------------------------------------------

def test_ca_bundle_and_wheelhouse_reach_every_stage_of_the_packages_dockerfile() -> None:
    original = "ARG BASE=x\nFROM $BASE AS build\nRUN pip install \\\n    numpy\nFROM build\nCOPY . /app\n"
    changed = with_build_inputs(original, ca=True, wheelhouse=True).splitlines()
    froms = [i for i, line in enumerate(changed) if line.startswith("FROM")]
    assert len(froms) == 2
    injected = ("# added by", "ARG MODEL_CHECK_KEY", "LABEL model-check.key", "COPY .model-check-build", "ARG PIP_",
                "ARG SSL_", "ARG REQUESTS_", "ARG CURL_")
    for index in froms:
        added = changed[index + 1: index + 12]
        assert "LABEL model-check.key=$MODEL_CHECK_KEY" in added
        assert f"COPY {CA_FILE} /etc/model-check/ca-bundle.pem" in added
        assert "ARG PIP_CERT=/etc/model-check/ca-bundle.pem" in added
        assert "ARG PIP_FIND_LINKS=/etc/model-check/wheelhouse" in added
    assert [line for line in changed if not line.startswith(injected)] == original.splitlines()
    assert with_build_inputs(original, ca=False, wheelhouse=False) == original


def test_generated_dockerfile_installs_downloaded_wheels_without_index_settings() -> None:
    text = requirements_dockerfile("python:3.11-slim-bookworm", "requirements.txt")
    install, final = text.split("\nFROM python:3.11-slim-bookworm\n")
    assert '"--no-index", "--only-binary=:all:", "--find-links", "/tmp/model-check/.model-check-build/downloaded"' in install
    assert "PIP_INDEX_URL" not in text and "ca-bundle.pem" not in text and "ARG PIP" not in text
    assert "COPY --from=install /opt/venv /opt/venv" in final


def test_the_build_context_hash_follows_the_runtime_files_only(tmp_path: Path) -> None:
    from validator.runtime.environments.docker_recipe import make_recipe

    def context_of(root: Path) -> tuple[str, list[str]]:
        pkg = ModelPackage(root)
        try:
            recipe = make_recipe(pkg, read_runtime(pkg), Options(env="docker", base_image=BASE), environ={})
        finally:
            pkg.close()
        assert not isinstance(recipe, BuildFailure)
        with tarfile.open(fileobj=io.BytesIO(recipe.context.read())) as archive:
            names = archive.getnames()
        recipe.close()
        return recipe.context_sha256, names

    root = package(tmp_path / "pkg", "print('x')\n")
    first, names = context_of(root)
    assert sorted(n for n in names if not n.startswith(".model-check-build")) == ["requirements.txt"]
    (root / "README.md").write_text("changed", encoding="utf-8")
    assert context_of(root)[0] == first
    (root / "requirements.txt").write_text("numpy==2.4.5\n", encoding="utf-8")
    assert context_of(root)[0] != first

    (root / "Dockerfile").write_text(f"FROM {BASE}\nCOPY . /app\n", encoding="utf-8")
    (root / ".dockerignore").write_text("# comment\nsecret*\n", encoding="utf-8")
    (root / "secret.txt").write_text("not for the image", encoding="utf-8")
    _, names = context_of(root)
    assert "Dockerfile" in names and "inference.py" in names and "secret.txt" not in names


def test_environment_yml_gets_a_micromamba_dockerfile(tmp_path: Path) -> None:
    from validator.runtime.environments.docker_recipe import make_recipe

    root = tmp_path / "pkg"
    root.mkdir()
    (root / "environment.yml").write_text("channels: [conda-forge]\ndependencies:\n  - python=3.11\n  - numpy=2.4.6\n")
    pkg = ModelPackage(root)
    try:
        recipe = make_recipe(pkg, read_runtime(pkg), Options(env="docker"), environ={})
    finally:
        pkg.close()
    assert not isinstance(recipe, BuildFailure)
    with tarfile.open(fileobj=recipe.context) as archive:
        member = archive.extractfile(recipe.dockerfile)
        assert member is not None
        dockerfile = member.read().decode()
    recipe.close()
    assert recipe.runtime_file == "environment.yml" and recipe.python_requested == "3.11"
    assert recipe.base_images[0].startswith("mambaorg/micromamba:")
    assert '["micromamba", "create", "--yes", "--prefix", "/opt/venv", "--file", "environment.yml"]' in dockerfile


def test_fetches_a_dockerfile_makes_the_engine_do_are_judged() -> None:
    from validator.runtime.environments.docker_fetches import refused_fetches

    dockerfile = "\n".join([
        "ARG URL=http://127.0.0.1:8080/x",
        "FROM local/python:3.11-bookworm AS build",
        "ARG URL",
        "ENV REGISTRY=mirror.internal.example:5000",
        "ADD $URL /x",                                     # 5: remote ADD, through a variable
        "ADD --chown=$UID:$GID local.txt /y",              # local source: fine, whatever the flags
        "COPY --from=${REGISTRY}/tools /bin/tool /bin/",   # 7: a registry that resolves to a private address
        "COPY --from=build /a /b",                         # a stage of this file
        'ADD ["https://example.com/model.onnx", "/m"]',    # 9: any remote ADD, public or not
        "ADD $FROM_THE_BASE_IMAGE /z",                     # 10: a variable the file does not define
        "ONBUILD ADD git@github.com:x/y.git /z",           # 11: triggered by a later stage
        "COPY --from=docker.io/library/python:3.11 /usr/bin/python3 /p",  # a public registry
        "COPY . /app",
    ])

    def resolve(host: str) -> list[str]:
        return {"mirror.internal.example": ["10.1.2.3"], "docker.io": ["198.51.100.7"]}[host]

    refused = refused_fetches(dockerfile, resolve)
    assert [item.line for item in refused] == [5, 7, 9, 10, 11]
    assert "fetched by the Docker engine itself" in refused[0].reason and "127.0.0.1:8080" in refused[0].reason
    assert "10.1.2.3, a private-use address" in refused[1].reason
    assert "$FROM_THE_BASE_IMAGE" in refused[3].reason
