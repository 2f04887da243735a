"""Probe scripts (run with the package environment's Python) and how to stage a run of one.

A probe run needs one folder: the package's files plus, under `_model_check/`, the probe script,
its plan and its input arrays. `Staging` builds that folder (hard links to the package's regular
files where it can); the environment then copies it into its own scratch directory, so package code
never sees, let alone writes, the package or this folder. Results come back as files named in `fetch`: a JSON result
(checked against its TypedDict in validator.runtime.probes.protocol) and one .npz of arrays.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from validator.readers.package import ModelPackage
from validator.runtime.probes.protocol import Shape, conform

if TYPE_CHECKING:  # numpy is imported where arrays are handled (CLI start-up: issue 16)
    import numpy as np

PROBE_DIR = "_model_check"  # inside the staged workdir; probe files, plans, inputs, results
MAX_RESULT_BYTES = 2 * 1024 * 1024


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

    def add_json(self, name: str, data: Mapping[str, object]) -> str:
        (self.root / PROBE_DIR / name).write_text(json.dumps(data, indent=1), encoding="utf-8")
        return f"{PROBE_DIR}/{name}"

    def add_array(self, name: str, array: np.ndarray) -> str:
        import numpy as np

        np.save(self.root / PROBE_DIR / name, array, allow_pickle=False)
        return f"{PROBE_DIR}/{name}"


def read_result(files: Mapping[str, bytes], rel: str, shape: type[Shape]) -> Shape | None:
    """The JSON result a probe wrote, as much of it as matches `shape` (validator.runtime.probes.protocol);
    None when it wrote none, something unreadable, or a result without the keys `shape` requires."""
    data = files.get(rel)
    if data is None or len(data) > MAX_RESULT_BYTES:
        return None
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return conform(value, shape)


def read_arrays(files: Mapping[str, bytes], rel: str) -> dict[str, np.ndarray]:
    """The arrays of an .npz a probe wrote (never unpickled); empty when missing or unreadable."""
    import numpy as np

    data = files.get(rel)
    if data is None:
        return {}
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (ValueError, OSError, EOFError):
        return {}
