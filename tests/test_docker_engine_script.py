"""tests/docker_engine.sh, .ci/docker-engine and the docker fixtures when there is no usable engine.

- Under CI=true a missing engine fails the docker tests (both engine fixtures) and .ci/docker-engine,
  with the engine script's reason; elsewhere the tests skip with it. Run for real: pytest and the
  scripts as subprocesses, DOCKER_HOST pointing at a socket nothing listens on.
- An unusable default socket path (a leftover directory, a stale socket, a file) makes the engine
  script use a private engine on its own socket and say so; a directory standing in for the default
  socket path (MODEL_CHECK_DOCKER_SOCKET) gets a real private engine, started and stopped here
  (MODEL_CHECK_DOCKERD_ROOT for the stop: the machine's engine is never touched).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from docker_fixtures import docker_host
from helpers import REPO

SCRIPT = REPO / "tests" / "docker_engine.sh"
USES_SESSION_ENGINE = "def test_docker(engine):\n    pass\n"
USES_ACTION_ENGINE = "from test_action_e2e import engine  # noqa: F401\n\n\ndef test_action(engine):\n    pass\n"


def _environ(tmp_path: Path, **more: str) -> dict[str, str]:
    """This machine's PATH and nothing of its docker settings, plus `more`."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "TMPDIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), str(REPO)]), **more}
    return env


def _pytest(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_session_engine.py").write_text(USES_SESSION_ENGINE, encoding="utf-8")
    (tmp_path / "test_action_engine.py").write_text(USES_ACTION_ENGINE, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "docker_fixtures", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), str(tmp_path)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)


def test_under_ci_a_missing_engine_fails_the_docker_tests_with_the_reason(tmp_path: Path) -> None:
    nowhere = f"unix://{tmp_path}/nothing-listens.sock"
    failed = _pytest(tmp_path, _environ(tmp_path, CI="true", DOCKER_HOST=nowhere))
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "2 errors" in failed.stdout, failed.stdout
    reason = f"DOCKER_HOST={nowhere} is set but no Docker engine answers there"
    for test in ("test_action_engine.py::test_action", "test_session_engine.py::test_docker"):
        assert f"ERROR {test} - Failed: CI=true and the docker tests cannot run" in failed.stdout, failed.stdout
    assert reason in failed.stdout
    skipped = _pytest(tmp_path, _environ(tmp_path, DOCKER_HOST=nowhere))
    assert skipped.returncode == 0 and "2 skipped" in skipped.stdout, skipped.stdout + skipped.stderr
    assert reason in skipped.stdout


def test_under_ci_the_ci_engine_step_fails_without_an_engine(tmp_path: Path) -> None:
    nowhere = f"unix://{tmp_path}/nothing-listens.sock"
    argv = ["bash", str(REPO / ".ci" / "docker-engine")]
    failed = subprocess.run(argv, env=_environ(tmp_path, CI="true", DOCKER_HOST=nowhere), capture_output=True, text=True,
                            timeout=120)
    assert failed.returncode == 1 and failed.stdout == ""
    assert f"DOCKER_HOST={nowhere} is set but no Docker engine answers" in failed.stderr
    assert "under CI=true the docker tests must run, not skip" in failed.stderr
    elsewhere = subprocess.run(argv, env=_environ(tmp_path, DOCKER_HOST=nowhere), capture_output=True, text=True, timeout=120)
    assert elsewhere.returncode == 0 and elsewhere.stdout == "" and "will be skipped" in elsewhere.stderr


def _where(tmp_path: Path, default_socket: Path, fallback: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), "where"], capture_output=True, text=True, timeout=120,
                          env=_environ(tmp_path, MODEL_CHECK_DOCKER_SOCKET=str(default_socket),
                                       MODEL_CHECK_DOCKERD_FALLBACK_ROOT=str(fallback)))


@pytest.mark.parametrize("leftover", ["directory", "stale socket", "file", "nothing"])
def test_an_unusable_socket_path_gets_a_private_engine_of_its_own(tmp_path: Path, leftover: str) -> None:
    path, fallback = tmp_path / "run" / "docker.sock", tmp_path / "engine"
    path.parent.mkdir()
    if leftover == "directory":
        path.mkdir()
    elif leftover == "stale socket":
        with socket.socket(socket.AF_UNIX) as listener:
            listener.bind(str(path))  # closed without a daemon: nothing listens any more
    elif leftover == "file":
        path.write_text("x", encoding="utf-8")
    done = _where(tmp_path, path, fallback)
    assert done.returncode == 0, done.stderr
    said = {"directory": f"{path} is a directory", "stale socket": f"{path} is a stale socket: no daemon listens on it",
            "file": f"{path} exists and is not a socket"}
    if leftover == "nothing":
        assert done.stdout.splitlines()[0] == f"an engine to start at {path}"
        assert docker_host(done.stdout) == f"unix://{path}"
    else:
        assert said[leftover] in done.stdout and f"a private engine under {fallback}" in done.stdout
        assert "WARNING" in done.stderr and f"DOCKER_HOST=unix://{fallback}/docker.sock" in done.stderr
        assert docker_host(done.stdout) == f"unix://{fallback}/docker.sock"


@pytest.mark.docker
def test_a_directory_at_the_socket_path_gets_a_real_private_engine(tmp_path: Path) -> None:
    """The case met on a clean machine: dockerd cannot listen where a directory stands. The script starts
    its own engine on its own socket, says so, names its DOCKER_HOST, finds it again on the next start."""
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]  # hosted runners: the script itself goes through sudo
    if sudo and (shutil.which("sudo") is None or subprocess.run([*sudo, "true"], capture_output=True).returncode != 0):
        pytest.skip("needs root, or sudo without a password, to start a second engine")
    path = tmp_path / "run" / "docker.sock"
    path.mkdir(parents=True)
    root = Path(tempfile.mkdtemp(prefix="mc-engine-", dir="/tmp"))  # short: containerd's sockets live below it
    env = _environ(tmp_path, MODEL_CHECK_DOCKER_SOCKET=str(path), MODEL_CHECK_DOCKERD_FALLBACK_ROOT=str(root))
    for name in ("MODEL_CHECK_DOCKER_CACHE", "MODEL_CHECK_BASE_IMAGES"):  # the machine's image cache, if any
        if name in os.environ:
            env[name] = os.environ[name]
    host = f"unix://{root}/docker.sock"
    try:
        started = subprocess.run(["bash", str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=900)
        assert started.returncode == 0, started.stderr
        assert f"WARNING: {path} is a directory" in started.stderr and f"DOCKER_HOST={host}" in started.stderr
        assert docker_host(started.stdout) == host
        info = subprocess.run(["docker", "info", "--format", "{{.DockerRootDir}}"], capture_output=True, text=True,
                              timeout=60, env={**env, "DOCKER_HOST": host})
        assert info.returncode == 0 and info.stdout.strip() == f"{root}/data", info.stderr
        images = subprocess.run(["docker", "image", "inspect", "local/python:3.11-bookworm"], capture_output=True,
                                timeout=60, env={**env, "DOCKER_HOST": host})
        assert images.returncode == 0
        again = subprocess.run(["bash", str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0 and docker_host(again.stdout) == host
        assert "starting dockerd" not in again.stderr  # found, not started twice
    finally:  # the private engine only: MODEL_CHECK_DOCKERD_ROOT names it
        subprocess.run(["bash", str(SCRIPT), "stop"], env={**env, "MODEL_CHECK_DOCKERD_ROOT": str(root)},
                       capture_output=True, timeout=300)
        subprocess.run([*sudo, "rm", "-rf", "--one-file-system", str(root)], capture_output=True, timeout=300)
    assert subprocess.run(["docker", "info"], capture_output=True, timeout=60, env={**env, "DOCKER_HOST": host}).returncode != 0
