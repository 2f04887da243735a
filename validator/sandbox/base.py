"""The interface every environment builder implements (venv via uv, docker, conda).

A builder turns the package's runtime definition into an `Env`; an `Env` runs commands with the
package environment's Python inside the sandbox. All sandbox limits live in `Limits`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Limits:
    wall_s: float = 600.0  # wall-clock limit; the whole process group is killed after it
    cpu_s: int = 1200  # RLIMIT_CPU
    memory_mb: int = 8192  # whole run: a cgroup where the machine has one, plus RLIMIT_AS per process (host) / --memory (docker)
    file_size_mb: int = 2048  # RLIMIT_FSIZE
    processes: int = 1024  # tasks of the run: cgroup pids.max, plus RLIMIT_NPROC (host) / --pids-limit (docker)
    output_bytes: int = 1_000_000  # stdout/stderr kept (head and tail); the rest is dropped
    network: bool = False  # only when the package declared it needs the network


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int | None  # None: killed by the wall-clock limit
    stdout: str  # capped, decoded with errors="replace", secrets redacted; NOT yet escaped for logs or Markdown
    stderr: str
    duration_s: float
    timed_out: bool = False
    killed_by: str | None = None  # "timeout", "memory", "signal 9", …
    network_isolated: bool = True  # False when the sandbox could not cut the network
    files: dict[str, bytes] = field(default_factory=dict)  # result files copied back from the workdir


class Env(Protocol):
    """A rebuilt package environment."""

    kind: str  # "venv", "docker", "conda"
    description: str  # human-readable: interpreter, image, cache key

    def run(self, argv: Sequence[str], workdir_files: Path, limits: Limits,
            fetch: Sequence[str] = ()) -> Completed:
        """Run argv (argv[0] == "python" means the environment's interpreter) in a scratch copy of
        `workdir_files` (the package, plus any probe files the caller added), sandboxed, and
        return its output plus the bytes of the files named in `fetch` (relative to the workdir)."""
        ...

    def installed(self) -> dict[str, str]:
        """Every installed distribution (canonical name -> version)."""
        ...
