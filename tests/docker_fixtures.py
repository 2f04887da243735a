"""The Docker engine fixture shared by the docker test modules (a plugin registered in conftest.py).

`ensure_engine()` is what every docker fixture calls: an engine with the local base images, started
with tests/docker_engine.sh when none answers. The script names the engine to use (its last line
on stdout, `export DOCKER_HOST=...`: another socket when the default one is unusable); this process
then uses it, and so do the subprocesses it starts. Without an engine the docker tests skip with the
reason, except under CI=true, where they fail with it: CI does not pass without the docker tests.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

import pytest
from helpers import REPO

if TYPE_CHECKING:
    from docker import DockerClient

BASE = "local/python:3.11-bookworm"
TIMES: dict[str, float] = {}  # measured build and run times, printed at the end of the session
CREATED_TAGS: set[str] = set()  # images this session built (not found cached): removed at its end


def docker_host(stdout: str) -> str | None:
    """The DOCKER_HOST the engine script named on stdout (`export DOCKER_HOST=...`), if any."""
    for line in reversed(stdout.strip().splitlines()):
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and words[1].startswith("DOCKER_HOST="):
            return words[1].removeprefix("DOCKER_HOST=")
    return None


def unavailable(reason: str) -> NoReturn:
    """Skip, or under CI=true fail, for want of an engine."""
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"CI=true and the docker tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def ensure_engine() -> None:
    """A working engine with the local base images, DOCKER_HOST set to it in this process; skip or fail if none."""
    import docker

    def ready() -> str | None:
        try:
            client = docker.from_env(timeout=30)
            client.ping()
            client.images.get(BASE)
            client.images.get("local/bookworm:min")
        except Exception as exc:  # any failure: try to start one, then say why not
            return f"{type(exc).__name__}: {exc}"
        return None

    if ready() is None:
        return
    try:
        started = subprocess.run(["bash", str(REPO / "tests" / "docker_engine.sh"), "start"], capture_output=True,
                                 text=True, timeout=900, env=dict(os.environ))
    except subprocess.TimeoutExpired:
        unavailable("tests/docker_engine.sh start did not finish within 900 s")
    host = docker_host(started.stdout) if started.returncode == 0 else None
    if host:
        os.environ["DOCKER_HOST"] = host  # the engine the script chose, for this process and its children
    problem = ready()
    if problem is not None:
        said = "\n".join(started.stderr.strip().splitlines()[-8:]) or started.stdout.strip()[-600:]
        unavailable(f"no Docker engine could be started ({problem}); tests/docker_engine.sh start "
                    f"(exit {started.returncode}) said:\n{said}")


@pytest.fixture(scope="session")
def engine() -> Iterator[DockerClient]:
    """A client of a working engine with the local base image; started with tests/docker_engine.sh if needed."""
    import docker

    ensure_engine()
    client = docker.from_env(timeout=120)
    yield client
    for tag in CREATED_TAGS:
        try:
            client.images.remove(tag)
        except docker.errors.APIError:
            pass  # in use by another run, or gone already
    if TIMES:
        print("\nmeasured docker timings: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in TIMES.items()))
