"""Which builder rebuilds a package's runtime: --env names one; `auto` picks by the runtime files.

auto: a Dockerfile with a reachable engine -> docker; else requirements.txt -> venv; else
environment.yml -> conda. A builder that cannot work here yields the reason instead, which the
environment check reports as a skip (never as a pass).
"""

from __future__ import annotations

import importlib

from validator.core.options import Options
from validator.readers.package import ModelPackage
from validator.runtime.environments.builder import Builder
from validator.runtime.environments.conda import CondaBuilder
from validator.runtime.environments.venv import VenvBuilder


def select_builder(pkg: ModelPackage, options: Options) -> Builder | str:
    """The builder for this package, or why none can rebuild its runtime here."""
    requirements = pkg.find("requirements.txt")
    conda_file = pkg.find("environment.yml", "environment.yaml")
    dockerfile = pkg.find("Dockerfile")
    if options.env == "venv":
        return _ready(VenvBuilder()) if requirements else "--env venv installs from requirements.txt, and the package has none"
    if options.env == "conda":
        return _ready(CondaBuilder()) if conda_file else "--env conda builds from environment.yml, and the package has none"
    if options.env == "docker":
        return docker_builder()
    docker_reason = ""
    if dockerfile:
        docker = docker_builder()
        if not isinstance(docker, str):
            return docker
        docker_reason = docker
    if requirements:
        return _ready(VenvBuilder())
    if conda_file:
        return _ready(CondaBuilder())
    if dockerfile:
        return f"the runtime is a Dockerfile, and {docker_reason}"
    return "there is no runtime definition to rebuild (see MC102)"


def docker_builder() -> Builder | str:
    """The docker builder (validator/runtime/environments/docker.py) when present and its engine is reachable."""
    try:
        module = importlib.import_module(f"{__package__}.docker")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__package__}.docker":
            return "this model-check has no docker builder"
        return f"the docker builder cannot be loaded: {exc}"
    return _ready(module.DockerBuilder())


def _ready(builder: Builder) -> Builder | str:
    reason = builder.unavailable()
    return builder if reason is None else reason
