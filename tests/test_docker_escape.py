"""The docker path against the attacks a red team made on it (issue 9, class 10), with a real engine.

Each test reproduces one attack and fails on the code before the fix: a RUN step connecting to a
loopback listener of this machine, `ADD http://127.0.0.1:…`, an sdist reading the machine's index
credentials at build time, a fork bomb, a memory hog and a disk filler in RUN, an image
HEALTHCHECK, a probe filling its scratch area, package code with network the caller allowed
reaching the host's loopback, and SIGTERM/SIGINT to a running `model-check check` leaving its
containers behind. Two guard what already held: no credential in the layers of a built image, and
a build that never ends stopped at its wall clock. Packages are
light (stdlib or a tiny wheel) and built on the local base image tests/docker_engine.sh makes; the
engine fixture (test_docker_env) says why when no engine can be started.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from docker_fixtures import BASE
from helpers import REPO
from test_docker_env import check, found, package

from validator.runtime.environments import docker as docker_builder
from validator.runtime.environments.pipconfig import read_pip_settings
from validator.runtime.environments.venv import install_limits

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = pytest.mark.docker

STDLIB_REQUIREMENTS = "# stdlib only\n"


def own_image_package(root: Path, inference: str, dockerfile_tail: str = "", files: dict[str, str] | None = None) -> Path:
    """A package bringing its own Dockerfile on the local Python image."""
    return package(root, inference, requirements=STDLIB_REQUIREMENTS,
                   files={"Dockerfile": f"FROM {BASE}\n{dockerfile_tail}", **(files or {})})


class Listener:
    """A TCP listener on this machine's loopback that counts the connections it accepts."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.socket.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.socket.close()


@pytest.fixture()
def listener() -> Iterator[Listener]:
    found_listener = Listener()
    yield found_listener
    found_listener.close()


def engine_has_bridge(client: DockerClient) -> bool:
    return bool(client.networks.list(names=["bridge"]))


# -- the image build -------------------------------------------------------------------------------

CONNECT = """
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5).close()
    print("connected to the host's loopback")
except OSError as error:
    print("no connection:", error)
"""


def test_a_run_step_does_not_reach_a_loopback_listener_of_this_machine(engine: DockerClient, tmp_path: Path,
                                                                      listener: Listener) -> None:
    if engine_has_bridge(engine):
        pytest.skip("this engine has a bridge network: a RUN step there has a loopback of its own; the attack needs "
                    "an engine without one (dockerd --bridge=none, as tests/docker_engine.sh starts)")
    pkg = own_image_package(tmp_path / "pkg", "print('ran')\n", f"COPY connect.py /\nRUN python3 /connect.py {listener.port}\n",
                            files={"connect.py": CONNECT})
    report = check(pkg)
    time.sleep(0.5)
    assert listener.connections == 0, "a RUN step reached a loopback listener of this machine"
    environment = report.environment
    assert environment is not None and environment.get("kind") == "docker", report.findings
    assert any("the image build had no network" in note for note in environment["notes"])


def test_a_build_given_the_hosts_network_says_so_plainly(engine: DockerClient, tmp_path: Path, listener: Listener) -> None:
    """Asked for with --build-network host, the build's RUN steps can reach this machine's loopback: the report says so."""
    pkg = own_image_package(tmp_path / "pkg", "print('ran')\n", f"COPY connect.py /\nRUN python3 /connect.py {listener.port}\n",
                            files={"connect.py": CONNECT})
    report = check(pkg, build_network="host")
    notes = report.environment.get("notes", []) if report.environment else []
    assert any("the image build had the host's network (loopback reachable)" in note for note in notes), notes


class Recorder(http.server.ThreadingHTTPServer):
    """An HTTP server on loopback that records every request path (and its Authorization header)."""

    def __init__(self, files: dict[str, bytes], credentials: str | None = None) -> None:
        self.files, self.credentials = files, credentials
        self.requests: list[tuple[str, bool]] = []
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Recorder

    def do_GET(self) -> None:
        expected = f"Basic {base64.b64encode(self.server.credentials.encode()).decode()}" if self.server.credentials else None
        authorized = expected is None or self.headers.get("Authorization") == expected
        self.server.requests.append((self.path, authorized))
        body = self.server.files.get(self.path.split("#")[0]) if authorized else None
        self.send_response(200 if body is not None else 401 if not authorized else 404)
        if not authorized:
            self.send_header("WWW-Authenticate", 'Basic realm="test"')
        if self.path.startswith("/simple/"):
            self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args: object) -> None:
        pass


def test_add_of_a_loopback_url_is_refused_and_never_fetched(engine: DockerClient, tmp_path: Path) -> None:
    server = Recorder({"/x": b"payload\n"})
    try:
        pkg = own_image_package(tmp_path / "pkg", "print('ran')\n", f"ADD {server.url}/x /x\n")
        report = check(pkg)
    finally:
        server.shutdown()
    refused = found(report, "MC384")
    assert refused and "Dockerfile:2" in refused[0].message and "fetched by the Docker engine itself" in refused[0].message
    assert server.requests == [], "the engine fetched the package's ADD URL"
    assert not found(report, "MC970")


def _wheel(name: str, version: str, module: str) -> bytes:
    buffer = io.BytesIO()
    dist = f"{name.replace('-', '_')}-{version}"
    with zipfile.ZipFile(buffer, "w") as wheel:
        wheel.writestr(f"{name.replace('-', '_')}/__init__.py", module)
        wheel.writestr(f"{dist}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        wheel.writestr(f"{dist}.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr(f"{dist}.dist-info/RECORD", "")
    return buffer.getvalue()


# An sdist with an in-tree build backend: building it runs this code, which copies the password of the
# index URL pip was given into the package it builds.
LEAKING_BACKEND = '''
import os, zipfile
def _secret():
    url = os.environ.get("PIP_INDEX_URL", "")
    return url.split("://", 1)[-1].split("@", 1)[0].partition(":")[2]
def get_requires_for_build_wheel(config_settings=None):
    return []
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = "mc_leak-0.1-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as wheel:
        wheel.writestr("mc_leak/__init__.py", "LEAKED = %r\\n" % _secret())
        wheel.writestr("mc_leak-0.1.dist-info/METADATA", "Metadata-Version: 2.1\\nName: mc-leak\\nVersion: 0.1\\n")
        wheel.writestr("mc_leak-0.1.dist-info/WHEEL", "Wheel-Version: 1.0\\nGenerator: x\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
        wheel.writestr("mc_leak-0.1.dist-info/RECORD", "")
    return name
'''


def _sdist() -> bytes:
    buffer = io.BytesIO()
    files = {
        "mc_leak-0.1/pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "leak_backend"\nbackend-path = ["."]\n',
        "mc_leak-0.1/leak_backend.py": LEAKING_BACKEND,
        "mc_leak-0.1/PKG-INFO": "Metadata-Version: 2.1\nName: mc-leak\nVersion: 0.1\n",
    }
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _index(files: dict[str, bytes]) -> dict[str, bytes]:
    """A PEP 503 simple index of `files` (file name -> bytes)."""
    pages: dict[str, bytes] = {}
    by_project: dict[str, list[str]] = {}
    for name in files:
        by_project.setdefault(name.split("-")[0].replace("_", "-"), []).append(name)
    for project, names in by_project.items():
        links = "".join(f'<a href="/files/{n}#sha256={hashlib.sha256(files[n]).hexdigest()}">{n}</a>' for n in names)
        pages[f"/simple/{project}/"] = f"<html><body>{links}</body></html>".encode()
    pages.update({f"/files/{name}": data for name, data in files.items()})
    return pages


@pytest.fixture()
def credentialed_index(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Recorder, str]]:
    """A loopback index that wants a password, named by PIP_INDEX_URL in model-check's environment."""
    secret = f"pw{uuid.uuid4().hex}"
    server = Recorder(_index({"mc_cred-0.1-py3-none-any.whl": _wheel("mc-cred", "0.1", "GREETING = 'from the index'\n"),
                              "mc_leak-0.1.tar.gz": _sdist()}), credentials=f"mcuser:{secret}")
    monkeypatch.setenv("PIP_INDEX_URL", f"http://mcuser:{secret}@127.0.0.1:{server.server_address[1]}/simple")
    read_pip_settings.cache_clear()
    yield server, secret
    server.shutdown()
    read_pip_settings.cache_clear()


def test_install_time_code_never_sees_the_index_credentials(engine: DockerClient, tmp_path: Path,
                                                          credentialed_index: tuple[Recorder, str]) -> None:
    server, secret = credentialed_index
    pkg = package(tmp_path / "pkg", "import mc_leak\nprint('leaked', mc_leak.LEAKED)\n", requirements="mc-leak==0.1\n")
    report = check(pkg)
    failed = found(report, "MC380")
    assert failed and "as wheels" in failed[0].message, report.findings
    assert secret not in json.dumps(report.to_dict())
    assert not [path for path, _ in server.requests if path.endswith(".tar.gz")], "the sdist was fetched: its code could run"
    assert not found(report, "MC970")


def test_index_credentials_are_in_no_build_argument_layer_or_image_config(engine: DockerClient, tmp_path: Path,
                                                                          credentialed_index: tuple[Recorder, str]) -> None:
    server, secret = credentialed_index
    pkg = package(tmp_path / "pkg", "import mc_cred\nprint(mc_cred.GREETING)\n", requirements="mc-cred==0.1\n")
    report = check(pkg)
    ran = found(report, "MC970")
    assert ran and "from the index" in ran[0].message, report.findings
    assert any(authorized for path, authorized in server.requests if path.endswith(".whl"))  # the download had them
    assert report.environment is not None
    tag = report.environment["cache_key"]
    assert tag, report.environment
    history = subprocess.run(["docker", "history", "--no-trunc", tag], capture_output=True, text=True, check=True).stdout
    config = subprocess.run(["docker", "image", "inspect", tag], capture_output=True, text=True, check=True).stdout
    saved = subprocess.run(["docker", "save", tag], capture_output=True, check=True).stdout
    assert secret not in history and secret not in config
    assert secret.encode() not in saved, "the password is in a layer of the image"
    assert secret not in json.dumps(report.to_dict())


FORK_BOMB = """
import os, sys, time
children = 0
while children < 3000:
    try:
        pid = os.fork()
    except OSError as error:
        print(f"fork refused after {children} children: {error}", flush=True)
        break
    if pid == 0:
        time.sleep(20)
        os._exit(0)
    children += 1
print(f"forked {children} children", flush=True)
sys.exit(3)
"""


def test_a_fork_bomb_in_a_run_step_is_bounded(engine: DockerClient, tmp_path: Path) -> None:
    pkg = own_image_package(tmp_path / "pkg", "print('ran')\n", "COPY bomb.py /\nRUN python3 /bomb.py\n",
                            files={"bomb.py": FORK_BOMB})
    report = check(pkg)
    failed = found(report, "MC380")
    assert failed, report.findings
    message = failed[0].message
    assert "forked 3000 children" not in message
    if "fork refused after" in message:
        children = int(message.split("fork refused after ")[1].split()[0])
        assert children < docker_builder.BUILD_PROCESSES
    else:  # started before its limit landed: stopped by the watcher
        assert "processes, more than the limit" in message, message


def limit_builds(monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    """Lower the builder's limits for one test (its defaults are minutes and gigabytes)."""
    original = install_limits
    monkeypatch.setattr(docker_builder, "install_limits", lambda options: replace(original(options), **changes))


def test_a_memory_hog_in_a_run_step_is_bounded(engine: DockerClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    limit_builds(monkeypatch, memory_mb=256)
    hog = 'RUN ["python3", "-c", "chunks = [bytearray(64 << 20) for _ in range(32)]; print(\'allocated\', 2, \'GiB\')"]\n'
    report = check(own_image_package(tmp_path / "pkg", "print('ran')\n", hog))
    failed = found(report, "MC380")
    assert failed and "allocated 2 GiB" not in failed[0].message, report.findings
    assert "non-zero code: 137" in failed[0].message or "MemoryError" in failed[0].message, failed[0].message


def test_a_run_step_filling_the_disk_is_stopped(engine: DockerClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    limit_builds(monkeypatch, file_size_mb=64)
    filler = ('RUN ["python3", "-c", "import time\\nfor i in range(160):\\n    open(f\'/fill-{i}\', \'wb\').write(bytes(1 << 20))'
              '\\nprint(\'wrote 160 MiB\', flush=True)\\ntime.sleep(600)"]\n')
    started = time.monotonic()
    report = check(own_image_package(tmp_path / "pkg", "print('ran')\n", filler))
    failed = found(report, "MC380")
    assert failed and "a build step wrote more than 64 MiB" in failed[0].message, report.findings
    # The step sleeps 600 s after writing: far below that means it was stopped (a bound, not a speed test).
    assert time.monotonic() - started < 300


def test_a_build_past_its_wall_clock_is_stopped_and_leaves_no_container(engine: DockerClient, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    marker = f"sleep-{uuid.uuid4().hex[:8]}"
    limit_builds(monkeypatch, wall_s=8.0)
    pkg = own_image_package(tmp_path / "pkg", "print('ran')\n", f'RUN ["sh", "-c", "sleep 600 # {marker}"]\n')
    started = time.monotonic()
    report = check(pkg)
    assert time.monotonic() - started < 300  # the step sleeps 600 s: stopped, not waited for
    failed = found(report, "MC380")
    assert failed and "did not finish within 8 s" in failed[0].message, report.findings
    time.sleep(1)
    left = [c for c in engine.containers.list(all=True) if marker in " ".join(c.attrs["Config"].get("Cmd") or [])]
    assert left == []


# -- probe containers ------------------------------------------------------------------------------

def test_the_images_healthcheck_never_runs(engine: DockerClient, tmp_path: Path) -> None:
    healthcheck = 'HEALTHCHECK --interval=1s --timeout=2s CMD ["python3", "-c", ' \
                  '"open(\'/workspace/package/healthcheck-ran\', \'w\').write(\'x\')"]\n'
    code = "import os, time\ntime.sleep(5)\nprint('healthcheck ran:', os.path.exists('healthcheck-ran'))\n"
    report = check(own_image_package(tmp_path / "pkg", code, healthcheck))
    ran = found(report, "MC970")
    assert ran and "healthcheck ran: False" in ran[0].message, report.findings


def test_a_probe_writing_past_its_scratch_area_gets_a_finding(engine: DockerClient, tmp_path: Path) -> None:
    code = ("import os\nwritten = 0\ntry:\n"
            "    for index in range(48):  # 3 GiB in 64 MiB files, more than the 2 GiB scratch allowance\n"
            "        with open(f'fill-{index}', 'wb') as handle:\n"
            "            for _ in range(64):\n"
            "                handle.write(bytes(1 << 20))\n"
            "                written += 1\n"
            "except OSError as error:\n    print('write failed after', written, 'MiB:', error, flush=True)\n"
            "print('wrote', written, 'MiB', flush=True)\n")
    report = check(own_image_package(tmp_path / "pkg", code))
    failed = found(report, "MC950")
    assert failed and "scratch area" in failed[0].message and "is full" in failed[0].message, report.findings
    assert not found(report, "MC970")


def test_network_the_caller_allows_is_never_the_hosts(engine: DockerClient, tmp_path: Path, listener: Listener) -> None:
    if engine_has_bridge(engine):
        pytest.skip("this engine has a bridge network, which package code may get when the caller allows network; "
                    "the attack needs an engine without one (dockerd --bridge=none)")
    code = CONNECT.replace("int(sys.argv[1])", str(listener.port))
    report = check(own_image_package(tmp_path / "pkg", code), network=True)
    time.sleep(0.5)
    assert listener.connections == 0
    assert any("never gets network" in note for note in (report.environment.get("notes", []) if report.environment else []))


# -- stopping model-check --------------------------------------------------------------------------

@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_stopping_model_check_removes_its_containers(engine: DockerClient, tmp_path: Path, stop: signal.Signals) -> None:
    pkg = own_image_package(tmp_path / "pkg", "import time\nprint('sleeping', flush=True)\ntime.sleep(100000)\n")
    environ = {name: os.environ[name] for name in ("PATH", "HOME", "DOCKER_HOST", "SSL_CERT_FILE") if name in os.environ}
    before = {c.id for c in engine.containers.list(all=True)}
    images = {i.id for i in engine.images.list(filters={"label": "model-check"})}
    process = subprocess.Popen([sys.executable, "-m", "validator.cli", "check", str(pkg), "--env", "docker",
                                "--base-image", BASE, "--json", str(tmp_path / "report.json")],
                               cwd=REPO, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        container_id, run_id = _running_inference(engine, process, before)
        process.send_signal(stop)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for image in engine.images.list(filters={"label": "model-check"}):
            if image.id is not None and image.id not in images:  # built by the model-check under test
                engine.images.remove(image.id, force=True)
    left = [c.id for c in engine.containers.list(all=True, filters={"label": "model-check"}) if c.id == container_id]
    assert left == [], "the package's container outlived model-check"
    selector: dict[str, str | list[str] | bool] = {"label": f"model-check.run={run_id}"}
    assert engine.containers.list(all=True, filters=selector) == []
    assert engine.volumes.list(filters=selector) == []
    assert process.returncode != 0


def _running_inference(client: DockerClient, process: subprocess.Popen[bytes],
                       before: set[str | None]) -> tuple[str | None, str | None]:
    """The id and model-check.run label of the container (not among `before`) running the package's inference.py."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
        for container in client.containers.list(filters={"label": "model-check"}):
            if container.id not in before and "inference.py" in (container.attrs["Config"].get("Cmd") or []):
                time.sleep(1)  # let it start for good
                return container.id, container.labels.get("model-check.run")
        time.sleep(0.5)
    raise AssertionError("the inference container never started")
