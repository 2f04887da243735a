"""The docker builder: the package's runtime as a container image, built by a Docker engine through
the docker SDK (`--env docker`; `auto` picks it when the runtime is a Dockerfile and an engine answers).

- What is built: validator/environment/docker_recipe.py (the package's Dockerfile, or one generated
  for requirements.txt / environment.yml on a base image), sent as a tar build context.
- Cache: the image is tagged `model-check-env:<key>`, the key a hash of the build context, the
  Dockerfile's path, the ids of its base images and the build arguments; an image with that tag is
  reused. The install stage of generated builds (which holds the CA bundle) is removed afterwards.
- Builds run package-supplied code too (RUN steps, sdists): with a memory limit and a wall clock,
  on the engine's build network: the default bridge, or `host` when the engine has no bridge
  (Options.build_network chooses otherwise).
- Probes and the inference example run in locked-down containers (docker_sandbox.DockerEnv).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from docker.client import DockerClient, from_env
from docker.errors import APIError, ImageNotFound
from docker.utils import parse_repository_tag

from ..config import Options
from ..package import ModelPackage
from ..runtime_spec import RuntimeSpec
from .builder import BuildFailure, BuildInfo, Progress
from .docker_recipe import Recipe, make_recipe
from .docker_rules import DOCKER_BASE_UNAVAILABLE, DOCKER_BUILD_FAILED, DOCKER_ENGINE_UNREACHABLE, DOCKER_NO_PYTHON
from .docker_sandbox import ENGINE_ERRORS, MAX_CPUS, USER, DockerEnv
from .dockerfile_gen import KEY_ARG
from .sandbox import MIB
from .venv import install_limits

CACHE_FORMAT = "model-check-docker-1"  # change it when what an image holds changes for the same inputs
IMAGE_REPOSITORY = "model-check-env"
LABELS = {"model-check": "1"}
API_TIMEOUT_S = 120
TAIL_LINES = 40
LOG_LINES_KEPT = 400
LOG_LINE_CHARS = 2000
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # the classic builder colours a step's stderr
BOOKKEEPING = (" ---> ", "Removing intermediate container")  # build log lines that say nothing about a failure


def engine_client(environ: Mapping[str, str], timeout: float | None = API_TIMEOUT_S) -> DockerClient:
    """A client for the engine DOCKER_HOST (or the default socket) names; raises DockerException."""
    return from_env(environment=dict(environ), timeout=timeout)


class DockerBuilder:
    kind = "docker"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = dict(os.environ if environ is None else environ)

    def unavailable(self) -> str | None:
        try:
            client = engine_client(self.environ, timeout=15)
            client.ping()
            client.close()
        except ENGINE_ERRORS as exc:
            where = self.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
            return (f"no Docker engine answers at {where} ({_first_line(exc)}): start one (`sudo systemctl start docker`, "
                    "or `sudo dockerd &`), set DOCKER_HOST to a reachable engine, or use --env venv")
        return None

    def build(self, pkg: ModelPackage, spec: RuntimeSpec, options: Options,
              progress: Progress | None = None) -> DockerEnv | BuildFailure:
        started = time.monotonic()
        try:
            client = engine_client(self.environ)
            engine = client.info()
        except ENGINE_ERRORS as exc:
            return BuildFailure(f"no Docker engine answers ({_first_line(exc)})", rule=DOCKER_ENGINE_UNREACHABLE.id)
        recipe = make_recipe(pkg, spec, options, self.environ)
        if isinstance(recipe, BuildFailure):
            return recipe
        try:
            return self._image_env(client, engine, recipe, options, started, progress or (lambda _message: None))
        except ENGINE_ERRORS as exc:
            return BuildFailure(f"the Docker engine failed while preparing the image ({_first_line(exc)})",
                                file=recipe.runtime_file, rule=DOCKER_ENGINE_UNREACHABLE.id)
        finally:
            recipe.close()

    def _image_env(self, client: DockerClient, engine: dict[str, Any], recipe: Recipe, options: Options,
                   started: float, say: Progress) -> DockerEnv | BuildFailure:
        """The image of `recipe`, from the cache or built now, as an environment."""
        network = options.build_network or default_build_network(client)
        notes = list(recipe.notes)
        if network == "host" and not options.build_network:
            notes.append("the image build used the host's network (this engine has no bridge network)")
        key = cache_key(recipe, base_image_ids(client, recipe.base_images))
        tag = f"{IMAGE_REPOSITORY}:{key}"
        cached = _image_exists(client, tag)
        if cached:
            say(f"environment: cached image {tag}")
        else:
            if recipe.generated and (problem := ensure_image(client, recipe.base_images[0])):
                return BuildFailure(f"the base image {recipe.base_images[0]} is not on this engine and cannot be "
                                    f"pulled: {problem}", file=recipe.runtime_file, notes=tuple(notes),
                                    rule=DOCKER_BASE_UNAVAILABLE.id)
            say(f"environment: docker build ({recipe.describe()})")
            failure = self._build_image(client, recipe, tag, key, network, options)
            if failure is not None:
                return BuildFailure(failure.reason, failure.output_tail, failure.file, tuple(notes), failure.rule)
        env = DockerEnv(client, lambda: engine_client(self.environ, timeout=None), tag, network, LABELS,
                        cpus=float(min(int(engine.get("NCPU") or 1), MAX_CPUS)))
        facts = env.inspect(recipe.interpreters)
        if isinstance(facts, str):
            return BuildFailure(f"the image built from {recipe.describe()} has no Python that runs ({facts})",
                                file=recipe.runtime_file, notes=tuple(notes), rule=DOCKER_NO_PYTHON.id)
        requested = recipe.python_requested
        problem = ""
        if requested and not (facts.version == requested or facts.version.startswith(requested + ".")):
            problem = f"the image runs Python {facts.version}"
            if options.base_image and recipe.generated:
                problem += f" (--base-image {options.base_image})"
        notes.append("package code runs in containers of the image: no network, read-only root, all capabilities "
                     f"dropped, no-new-privileges, user {USER}, memory/pids/CPU limits, no host variables or mounts")
        env.info = BuildInfo("docker", recipe.runtime_file, facts.version, requested, problem, tag, cached,
                             time.monotonic() - started, recipe.torch_backend, tuple(notes))
        env.description = f"docker image {tag} ({recipe.describe()}; Python {facts.version} at {facts.interpreter})"
        return env

    def _build_image(self, client: DockerClient, recipe: Recipe, tag: str, key: str, network: str,
                     options: Options) -> BuildFailure | None:
        limits = install_limits(options)
        deadline = time.monotonic() + limits.wall_s
        log = BuildLog()
        memory = limits.memory_mb * MIB
        try:
            stream = client.api.build(
                fileobj=recipe.context, custom_context=True, dockerfile=recipe.dockerfile, tag=tag, rm=True,
                forcerm=True, pull=False, decode=True, network_mode=network, timeout=limits.wall_s,
                buildargs={**recipe.build_args, KEY_ARG: key} if recipe.keyed_stages else dict(recipe.build_args),
                labels={**LABELS, "model-check.key": key, "model-check.runtime-file": recipe.runtime_file},
                container_limits={"memory": memory, "memswap": memory},
            )
            try:
                for chunk in stream:
                    log.add(chunk)
                    if log.error or time.monotonic() > deadline:
                        break
            finally:
                stream.close()  # closing the connection cancels a build still running
        except ENGINE_ERRORS as exc:
            if time.monotonic() < deadline and not _is_timeout(exc):
                return BuildFailure(f"the Docker engine failed while building ({_first_line(exc)})", log.tail(),
                                    recipe.runtime_file, rule=DOCKER_BUILD_FAILED.id)
            log.error = log.error or "timeout"
        finally:
            if recipe.keyed_stages:
                _remove_untagged_stages(client, key)
        if log.error == "timeout" or (not log.error and time.monotonic() > deadline):
            return BuildFailure(f"building the image from {recipe.describe()} did not finish within {limits.wall_s:g} s",
                                log.tail(), recipe.runtime_file, rule=DOCKER_BUILD_FAILED.id)
        if log.error:
            return BuildFailure(f"the image does not build from {recipe.describe()}: {log.error}", log.tail(),
                                recipe.runtime_file, rule=DOCKER_BUILD_FAILED.id)
        if not _image_exists(client, tag):
            return BuildFailure(f"the build of {recipe.describe()} ended without an image", log.tail(),
                                recipe.runtime_file, rule=DOCKER_BUILD_FAILED.id)
        return None


class BuildLog:
    """The engine's build output: the last lines kept, the first error noted."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.partial = ""
        self.error = ""

    def add(self, chunk: Any) -> None:
        if not isinstance(chunk, dict):
            return
        if chunk.get("error"):
            self.error = str(chunk["error"]).strip()[:LOG_LINE_CHARS] or "the build failed"
            self._lines(str(chunk["error"]) + "\n")
        elif isinstance(chunk.get("stream"), str):
            self._lines(chunk["stream"])

    def _lines(self, text: str) -> None:
        text = self.partial + ANSI_ESCAPE.sub("", text)
        *complete, self.partial = text.split("\n")
        self.lines += [line.rstrip()[:LOG_LINE_CHARS] for line in complete if not line.startswith(BOOKKEEPING)]
        del self.lines[:-LOG_LINES_KEPT]
        self.partial = self.partial[-LOG_LINE_CHARS:]

    def tail(self, lines: int = TAIL_LINES) -> str:
        shown = [line for line in self.lines + [self.partial] if line.strip()]
        return "\n".join(shown[-lines:])


def default_build_network(client: DockerClient) -> str:
    """The engine's default build network when it has a bridge; `host` when it has none (dockerd --bridge=none)."""
    try:
        has_bridge = bool(client.networks.list(names=["bridge"]))
    except ENGINE_ERRORS:
        has_bridge = True
    return "default" if has_bridge else "host"


def base_image_ids(client: DockerClient, images: Iterable[str]) -> dict[str, str | None]:
    """The engine's id of each base image (None when absent), so a rebuilt base image means a rebuilt environment."""
    ids: dict[str, str | None] = {}
    for image in images:
        try:
            ids[image] = client.images.get(image).id
        except (ImageNotFound, APIError):
            ids[image] = None
    return ids


def cache_key(recipe: Recipe, base_ids: Mapping[str, str | None]) -> str:
    material = {
        "format": CACHE_FORMAT,
        "context": recipe.context_sha256,
        "dockerfile": recipe.dockerfile,
        "bases": dict(sorted(base_ids.items())),
        "build_args": sorted(recipe.build_args.items()),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:32]


def ensure_image(client: DockerClient, image: str) -> str | None:
    """None when the engine has `image` or could pull it; else why not."""
    if _image_exists(client, image):
        return None
    repository, tag = parse_repository_tag(image)
    try:
        client.images.pull(repository, tag=tag or "latest")
    except ENGINE_ERRORS as exc:
        return _first_line(exc)
    return None


def _image_exists(client: DockerClient, image: str) -> bool:
    try:
        client.images.get(image)
    except ImageNotFound:
        return False
    return True


def _remove_untagged_stages(client: DockerClient, key: str) -> None:
    """The untagged images a build labelled with its key left: a generated build's install stage, the
    steps of a failed build (they hold the CA bundle and wheelhouse)."""
    try:
        client.images.prune(filters={"dangling": True, "label": f"model-check.key={key}"})
    except ENGINE_ERRORS:
        pass


def _is_timeout(exc: BaseException) -> bool:
    return "timed out" in str(exc).lower() or "timeout" in type(exc).__name__.lower()


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "explanation", None) or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:500]
