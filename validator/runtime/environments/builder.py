"""What an environment builder is, and what it hands back: an `Env` carrying `BuildInfo`, or a
`BuildFailure`. The venv, conda and docker builders all follow this shape; the environment check
turns the facts they report into findings and the report's `environment` object.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from validator.core.records import EnvCacheRecord
from validator.runtime.environments.cpu_pins import Replacement
from validator.sandbox.base import Env

if TYPE_CHECKING:
    from validator.core.options import Options
    from validator.readers.package import ModelPackage
    from validator.readers.runtime_spec import RuntimeSpec

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuildInfo:
    """Facts about a built environment, for the report."""

    kind: str  # "venv", "conda", "docker"
    runtime_file: str  # the file the environment was built from
    python: str | None  # version of the interpreter the environment runs
    python_requested: str | None = None  # what the package (or --python) asked for
    python_problem: str = ""  # why the requested Python could not be had; "" when it could
    cache_key: str | None = None
    cached: bool = False  # reused from the cache, not built in this run
    build_s: float = 0.0
    torch_backend: str | None = None  # the backend the installer applied (None: the indexes' default build)
    notes: tuple[str, ...] = ()  # what the user should know: honoured configuration, substitutions
    torch_notes: tuple[str, ...] = ()  # the torch build chosen and why, any fallback: shown when torch is installed
    replaced: tuple[Replacement, ...] = ()  # GPU-only pins the build got replaced for a CPU build (cpu_pins)
    peak_disk_bytes: int | None = None  # measured growth of the engine's data during the build (docker); None: not measured
    env_cache: EnvCacheRecord | None = None  # the --env-cache tarball: loaded, saved, rejected


@dataclass(frozen=True)
class BuildFailure:
    """The runtime definition did not build: why, and the tail of the installer's output (unescaped)."""

    reason: str
    output_tail: str = ""
    file: str | None = None
    notes: tuple[str, ...] = ()
    rule: str | None = None  # id of the rule to report it under; None: MC350 (environment-build-failed)
    replaced: tuple[Replacement, ...] = ()  # GPU-only pins replaced for the CPU build that failed
    peak_disk_bytes: int | None = None


def with_replacements(failure: BuildFailure, replaced: Sequence[Replacement], notes: Sequence[str]) -> BuildFailure:
    """A failure of a build that got GPU-only pins replaced: it says so, as the build's notes and findings would."""
    if not replaced and not notes:
        return failure
    return replace(failure, notes=(*notes, *(note for note in failure.notes if note not in notes)),
                   replaced=(*failure.replaced, *replaced))


class BuiltEnv(Env, Protocol):
    info: BuildInfo


class Builder(Protocol):
    """Made without arguments; validator.runtime.environments.select imports the docker one lazily from
    validator/runtime/environments/docker.py as `DockerBuilder`."""

    kind: str

    def unavailable(self) -> str | None:
        """Why this builder cannot work on this machine (tool missing, engine unreachable), or None."""
        ...

    def build(self, pkg: ModelPackage, spec: RuntimeSpec, options: Options,
              progress: Progress | None = None) -> BuiltEnv | BuildFailure:
        ...
