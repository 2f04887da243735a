"""Rules of the docker builder (area runtime, MC380-MC389).

Kept apart from validator/environment/docker.py so the rule catalogue holds them without loading the
docker SDK; the environment check imports this module and reports a `BuildFailure` under its `rule`.
"""

from __future__ import annotations

from ..model import Area, Severity
from ..rules import define

RECREATE = "The guideline: 'the runtime can be recreated from the published environment file or container'."

DOCKER_BUILD_FAILED = define(
    "MC380", "docker-build-failed", Area.RUNTIME, Severity.ERROR,
    "The container image does not build",
    RECREATE,
    "Fix the step the build log names (a package version that does not exist, a command that fails, a file the "
    "Dockerfile copies that the package lacks), then check that `docker build .` works in a clean checkout of the package.",
)
DOCKER_ENGINE_UNREACHABLE = define(
    "MC381", "docker-engine-unreachable", Area.RUNTIME, Severity.ERROR,
    "--env docker was asked for, and no Docker engine answers",
    RECREATE + " With --env docker, model-check rebuilds it and runs the package's code in containers; without an "
    "engine neither happens.",
    "Start a Docker engine where model-check runs (`sudo systemctl start docker`, or `sudo dockerd &`; in GitHub "
    "Actions the hosted Ubuntu runners have one), point DOCKER_HOST at a reachable engine, or use --env venv.",
)
DOCKER_BASE_UNAVAILABLE = define(
    "MC382", "docker-base-image-unavailable", Area.RUNTIME, Severity.ERROR,
    "The base image of the generated Dockerfile is neither on the engine nor pullable",
    RECREATE + " model-check builds requirements.txt / environment.yml on an official Python (or micromamba) image; "
    "without it the runtime cannot be recreated in a container.",
    "Pull the image beforehand (`docker pull <image>`), or name one the engine has or can pull with --base-image "
    "(or base-image in model-check.toml).",
)
DOCKER_NO_PYTHON = define(
    "MC383", "docker-image-without-python", Area.RUNTIME, Severity.ERROR,
    "The built image has no Python interpreter model-check can run",
    "The guideline: the inference example runs from start to finish in a clean environment; model-check runs it, "
    "and its probes, with the Python of the published container.",
    "Install Python in the image so that `python` or `python3` is on PATH (or base it on an official Python image).",
)
DOCKER_FETCH_REFUSED = define(
    "MC384", "docker-fetch-refused", Area.RUNTIME, Severity.ERROR,
    "The package's Dockerfile makes the Docker engine fetch something model-check does not let it fetch",
    "The engine fetches `ADD <url>` sources and `COPY --from` images itself, on the host's network, next to "
    "model-check's CI token and the machine's local services, whatever network the build's RUN steps have.",
    "Download files in a RUN step (curl, wget, pip), which runs within the build's limits and network, or ship them "
    "in the package; take `COPY --from` images from a public registry; define every variable an ADD or COPY uses in "
    "the Dockerfile itself.",
)
