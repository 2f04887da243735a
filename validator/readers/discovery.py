"""Where the model packages of a folder are: `model-check discover` lists them, and `check` tells a
repository root holding packages from a package (MC011).

A folder is a package when it holds a model-check configuration (model-check.toml, or
[tool.model-check] in pyproject.toml), or a model card (README.md) beside model weights. The
search does not go into a package (its sub-folders are part of it), nor into hidden, virtual
environment or cache folders, and does not follow symbolic links.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from validator.core.package_paths import SKIPPED_DIRS

WEIGHT_SUFFIXES = (".safetensors", ".onnx", ".pt", ".pth", ".ckpt", ".bin", ".h5", ".keras", ".tflite", ".pb", ".gguf")
MAX_DEPTH = 12
# Scripts at a folder's top that are a package's inference code (the guideline names inference.py).
ENTRY_POINT_NAMES = frozenset({"inference.py", "predict.py", "infer.py", "run_inference.py"})
# Packages found under these folders are test data of the repository, not what it publishes.
TEST_DIRS = frozenset({"tests", "test", "testdata", "fixtures"})
MAX_ENTRIES = 200_000  # entries the repository test looks at before it stops (and says: a package)


def _has_tool_table(pyproject: Path) -> bool:
    try:
        return "[tool.model-check]" in pyproject.read_text(encoding="utf-8", errors="replace")[:1_000_000]
    except OSError:
        return False


def is_package(folder: Path, names: set[str]) -> bool:
    if "model-check.toml" in names:
        return True
    if "pyproject.toml" in names and _has_tool_table(folder / "pyproject.toml"):
        return True
    has_card = any(n.lower() == "readme.md" for n in names)
    return has_card and any(n.lower().endswith(WEIGHT_SUFFIXES) for n in names)


def _searched(entry: os.DirEntry[str]) -> bool:
    return entry.is_dir(follow_symlinks=False) and not entry.name.startswith(".") and entry.name not in SKIPPED_DIRS


def discover(root: Path) -> list[str]:
    """Package folders under `root`, relative to it (POSIX, '.' for root itself), sorted."""
    found: list[str] = []
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        files = {e.name for e in entries if e.is_file(follow_symlinks=False)}
        if is_package(folder, files):
            found.append(folder.relative_to(root).as_posix() if folder != root else ".")
            continue
        if depth >= MAX_DEPTH:
            continue
        stack += [(Path(entry.path), depth + 1) for entry in entries if _searched(entry)]
    return sorted(found)


def repository_packages(root: Path) -> list[str]:
    """The packages under `root` when `root` is a repository holding them rather than a package:
    discover finds packages below it (outside test folders), no file outside those packages (and test
    folders) is a model artefact, and `root` holds no inference script. Empty otherwise, and whenever
    in doubt."""
    found = [rel for rel in discover(root)  # ['.'] when root itself is one
             if rel != "." and not TEST_DIRS & {part.lower() for part in PurePosixPath(rel).parts}]
    if not found:
        return []
    packages = {root / rel for rel in found}
    stack: list[tuple[Path, int]] = [(root, 0)]
    seen = 0
    while stack:
        folder, depth = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return []
        seen += len(entries)
        if seen > MAX_ENTRIES:
            return []
        for entry in entries:
            name = entry.name.lower()
            if entry.is_file(follow_symlinks=False) and (name.endswith(WEIGHT_SUFFIXES) or (depth == 0 and name in ENTRY_POINT_NAMES)):
                return []  # the root has a model or inference code of its own: a package
            if (depth < MAX_DEPTH and _searched(entry) and entry.name.lower() not in TEST_DIRS
                    and Path(entry.path) not in packages):
                stack.append((Path(entry.path), depth + 1))
    return found

