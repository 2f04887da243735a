"""Environments whose interpreter lives on this machine: a venv or conda prefix (`HostEnv`) and a bare
interpreter such as model-check's own (`SandboxedPython`). Every command runs through the sandbox's one
primitive (validator.sandbox.bubblewrap.run_sandboxed), in a scratch copy of the files it works on."""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path, PurePosixPath

from validator.runtime.environments.builder import BuildInfo
from validator.sandbox.base import Completed, Limits
from validator.sandbox.bubblewrap import MIB, remove_tree, run_sandboxed, scratch_copy

MAX_FETCHED_BYTES = 1024 * 1024 * 1024  # result files of a bare interpreter's runs


class HostEnv:
    """A venv or conda prefix: its bin/ first on PATH, the prefix seen read-only."""

    kind: str = "host"
    also_readable: tuple[Path, ...] = ()  # shown read-only beside the prefix (the notebook tool layers)

    def __init__(self, prefix: Path, info: BuildInfo) -> None:
        self.prefix = prefix
        self.info = info
        self.python = prefix / "bin" / "python"
        self.description = f"{self.kind} at {prefix} (Python {info.python})"

    def environment_variables(self) -> dict[str, str]:
        return {"PATH": f"{self.prefix / 'bin'}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
                "PYTHONDONTWRITEBYTECODE": "1"}

    def run(self, argv: Sequence[str], workdir_files: Path, limits: Limits, fetch: Sequence[str] = ()) -> Completed:
        # The prefix is seen read-only: a package must not tamper with a cached environment that
        # later runs (of other packages with the same runtime) reuse. Its bytecode was compiled
        # at build time.
        return run_in_copy(str(self.python), argv, workdir_files, limits, fetch, limits.file_size_mb * MIB,
                           self.environment_variables(), [self.prefix, *self.also_readable])

    def installed(self) -> dict[str, str]:
        raise NotImplementedError


class SandboxedPython:
    """An interpreter as an `Env`: each run in a scratch copy, in the sandbox of package code.

    `host_python()` is model-check's own interpreter, for untrusted files it parses with its own
    libraries (an ONNX graph when the package runtime has no onnxruntime, .pb test vectors): a
    child process with the sandbox's limits, never in-process."""

    kind = "python"

    def __init__(self, python: str, description: str | None = None) -> None:
        self.python = python
        self.description = description or f"Python at {python}"

    def run(self, argv: Sequence[str], workdir_files: Path, limits: Limits, fetch: Sequence[str] = ()) -> Completed:
        return run_in_copy(self.python, argv, workdir_files, limits, fetch, MAX_FETCHED_BYTES)

    def installed(self) -> dict[str, str]:
        """Distributions importable by this interpreter (asked in a child, never imported here)."""
        code = "import json, importlib.metadata as m; print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
        workdir = Path(tempfile.mkdtemp(prefix="model-check-query-"))
        try:
            completed = run_sandboxed([self.python, "-I", "-c", code], workdir, Limits(wall_s=60))
        finally:
            remove_tree(workdir)
        try:
            found = json.loads(completed.stdout)
        except ValueError:
            return {}
        return {str(name).lower(): str(version) for name, version in found.items()} if isinstance(found, dict) else {}


def host_python() -> SandboxedPython:
    return SandboxedPython(sys.executable, f"model-check's Python {sys.version.split()[0]} ({sys.executable})")


def run_in_copy(python: str, argv: Sequence[str], workdir_files: Path, limits: Limits, fetch: Sequence[str],
                fetch_cap: int, env_extra: Mapping[str, str] | None = None, readable: Sequence[Path] = ()) -> Completed:
    """Run argv (argv[0] == "python" means `python`) sandboxed in a scratch copy of `workdir_files`;
    the result carries the caller's argv and the files named in `fetch`, each up to `fetch_cap` bytes."""
    if not argv:
        raise ValueError("empty command")
    command = [python if argv[0] == "python" else argv[0], *argv[1:]]
    workdir = scratch_copy(workdir_files)
    try:
        completed = run_sandboxed(command, workdir, limits, env_extra, readable=readable)
        return replace(completed, argv=tuple(argv), files=fetch_files(workdir, fetch, fetch_cap))
    finally:
        remove_tree(workdir)


def fetch_files(workdir: Path, names: Sequence[str], cap: int) -> dict[str, bytes]:
    """The bytes of the named regular files inside workdir; symlinks, escapes and oversized files are left out."""
    found: dict[str, bytes] = {}
    root = workdir.resolve()
    for name in names:
        rel = PurePosixPath(name)
        if rel.is_absolute() or ".." in rel.parts:
            continue
        try:
            fd = os.open(workdir / rel, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size > cap:
                continue
            parent = (workdir / rel).parent.resolve()
            if parent != root and root not in parent.parents:
                continue  # reached through a symlinked folder leading out
            found[name] = handle.read(cap + 1)[:cap]
    return found
