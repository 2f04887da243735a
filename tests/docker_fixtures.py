"""The Docker engine fixture shared by the docker test modules (a plugin registered in conftest.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from helpers import REPO

if TYPE_CHECKING:
    from docker import DockerClient

BASE = "local/python:3.11-bookworm"
TIMES: dict[str, float] = {}  # measured build and run times, printed at the end of the session
CREATED_TAGS: set[str] = set()  # images this session built (not found cached): removed at its end


@pytest.fixture(scope="session")
def engine() -> Iterator[DockerClient]:
    """A client of a working engine with the local base image; started with tests/docker_engine.sh if needed."""
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

    problem = ready()
    if problem is not None:
        started = subprocess.run(["bash", str(REPO / "tests" / "docker_engine.sh"), "start"], capture_output=True,
                                 text=True, timeout=900)
        problem = ready()
        if problem is not None:
            pytest.skip(f"no Docker engine could be started ({problem}); tests/docker_engine.sh said: "
                        f"{(started.stderr or started.stdout).strip()[-600:]}")
    client = docker.from_env(timeout=120)
    yield client
    for tag in CREATED_TAGS:
        try:
            client.images.remove(tag)
        except docker.errors.APIError:
            pass  # in use by another run, or gone already
    if TIMES:
        print("\nmeasured docker timings: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in TIMES.items()))
