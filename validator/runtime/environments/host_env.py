"""An environment whose interpreter lives on this machine (a venv or a conda prefix): commands run
in the sandbox, in a scratch copy of the files they work on, with the prefix's bin/ first on PATH."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path, PurePosixPath

from validator.runtime.environments.builder import BuildInfo
from validator.sandbox.base import Completed, Limits
from validator.sandbox.bubblewrap import MIB, remove_tree, run_sandboxed, scratch_copy


class HostEnv:
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
        if not argv:
            raise ValueError("empty command")
        command = [str(self.python) if argv[0] == "python" else argv[0], *argv[1:]]
        workdir = scratch_copy(workdir_files)
        try:
            # The prefix is seen read-only: a package must not tamper with a cached environment that
            # later runs (of other packages with the same runtime) reuse. Its bytecode was compiled
            # at build time.
            completed = run_sandboxed(command, workdir, limits, self.environment_variables(), readable=[self.prefix, *self.also_readable])
            return replace(completed, argv=tuple(argv), files=fetch_files(workdir, fetch, limits.file_size_mb * MIB))
        finally:
            remove_tree(workdir)

    def installed(self) -> dict[str, str]:
        raise NotImplementedError


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
