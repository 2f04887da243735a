"""The options of one run, and what a configuration relaxed or asked for in vain.

validator.pipeline.config builds them (defaults, then the package's configuration bounded by the
caller's, then flags); every layer reads them; nothing here reads a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

from validator.core.findings import Severity

ENV_MODES = ("auto", "venv", "docker", "conda", "none")


@dataclass(frozen=True)
class Options:
    env: str = "auto"
    fail_on: Severity = Severity.ERROR
    rtol: float = 1e-4
    atol: float = 1e-4
    disable: frozenset[str] = frozenset()
    severity: dict[str, Severity] = field(default_factory=dict)
    native: str | None = None  # "module:function" building the native model
    network: bool = False  # package code gets network: the caller's --network, or the package's request allowed
    inference_command: str | None = None
    timeout_s: float = 600.0  # wall-clock limit of one sandboxed step
    memory_mb: int = 8192
    cache_dir: str | None = None
    # torch wheels of rebuilt environments: "auto" (cpu unless an NVIDIA GPU is visible), "default" (the package
    # indexes' own build) or a backend name ("cpu", "cu126"); validator.runtime.environments.torch_backend
    torch_backend: str | None = "auto"
    python: str | None = None  # Python version to build the environment for
    base_image: str | None = None
    build_network: str | None = None  # network of docker image builds; None: the engine's bridge, else "host"
    ca_bundle: str | None = None
    wheelhouse: str | None = None
    # docker: a folder of environment images saved as <key>.tar, loaded (label verified) instead of a rebuild and
    # written after one; the caller's only (a flag, never a package's configuration). runtime/environments/docker_cache
    env_cache: str | None = None
    fresh_env: bool = False  # trust no cached environment (engine image, --env-cache tarball, --cache-dir): release runs
    notebook_timeout_s: float = 300.0
    schema_dir: str | None = None
    allow_package_indexes: bool = False  # the caller lets the package's own index options be followed
    relaxations: tuple[Relaxation, ...] = ()  # rules a configuration disabled or lowered
    refused: tuple[ConfigProblem, ...] = ()  # requests of the package's configuration not granted (MC003)


@dataclass(frozen=True)
class ConfigProblem:
    message: str
    file: str
    line: int | None = None


class RelaxationDict(TypedDict):
    """A relaxation in the JSON report."""

    rule: str
    change: str
    source: str
    file: str
    line: int | None
    origin: str


@dataclass(frozen=True)
class Relaxation:
    """A rule a configuration file disabled or lowered."""

    rule: str  # rule id
    change: str  # "disabled" or "severity error->warning"
    file: str  # package-relative for the package's own file, else the --config path as given
    line: int | None
    origin: str  # "package" (model-check.toml / pyproject.toml) or "--config" (the caller's file)

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def to_dict(self) -> RelaxationDict:
        return {"rule": self.rule, "change": self.change, "source": self.source, "file": self.file, "line": self.line,
                "origin": self.origin}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Relaxation:
        return cls(data["rule"], data["change"], data["file"], data.get("line"), data["origin"])
