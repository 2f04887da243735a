"""Probe scripts (run with the package environment's Python) and how to stage a run of one.

A probe run needs one folder: the package's files plus, under `_model_check/`, the probe script,
its plan and its input arrays. `Staging` builds that folder (hard links to the package's regular
files where it can); the environment then copies it into its own scratch directory, so package code
never sees, let alone writes, the package or this folder. Results come back as files named in `fetch`: a JSON result and one .npz of arrays.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from validator.readers.package import ModelPackage
from validator.runtime.environments.host_env import fetch_files
from validator.sandbox.base import Completed, Limits
from validator.sandbox.bubblewrap import remove_tree, run_sandboxed, scratch_copy

PROBE_DIR = "_model_check"  # inside the staged workdir; probe files, plans, inputs, results
MAX_RESULT_BYTES = 2 * 1024 * 1024
MAX_FETCHED_BYTES = 1024 * 1024 * 1024


def script(name: str) -> Path:
    """Path of a probe script shipped with model-check (e.g. "native_probe.py")."""
    return Path(__file__).with_name(name)


class Staging:
    """A temporary workdir: the package's regular files, plus probe files under PROBE_DIR."""

    def __init__(self, pkg: ModelPackage) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="model-check-stage-"))
        for rel in pkg.files:
            target = self.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            try:  # a hard link is enough: package code only ever sees the environment's own copy
                os.link(pkg.path(rel), target)
            except OSError:
                shutil.copyfile(pkg.path(rel), target)
        (self.root / PROBE_DIR).mkdir(exist_ok=True)

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def add_script(self, name: str) -> str:
        shutil.copyfile(script(name), self.root / PROBE_DIR / name)
        return f"{PROBE_DIR}/{name}"

    def add_json(self, name: str, data: Any) -> str:
        (self.root / PROBE_DIR / name).write_text(json.dumps(data, indent=1), encoding="utf-8")
        return f"{PROBE_DIR}/{name}"

    def add_array(self, name: str, array: np.ndarray) -> str:
        np.save(self.root / PROBE_DIR / name, array, allow_pickle=False)
        return f"{PROBE_DIR}/{name}"


def read_result(files: dict[str, bytes], rel: str) -> dict[str, Any] | None:
    """The JSON result a probe wrote, or None when it wrote none (or something unreadable)."""
    data = files.get(rel)
    if data is None or len(data) > MAX_RESULT_BYTES:
        return None
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def read_arrays(files: dict[str, bytes], rel: str) -> dict[str, np.ndarray]:
    """The arrays of an .npz a probe wrote (never unpickled); empty when missing or unreadable."""
    data = files.get(rel)
    if data is None:
        return {}
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (ValueError, OSError, EOFError):
        return {}


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
        command = [self.python if argv and argv[0] == "python" else argv[0], *argv[1:]]
        workdir = scratch_copy(workdir_files)
        try:
            completed = run_sandboxed(command, workdir, limits)
            return replace(completed, argv=tuple(argv), files=fetch_files(workdir, fetch, MAX_FETCHED_BYTES))
        finally:
            remove_tree(workdir)

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
