"""Find the model packages under a repository: `model-check discover [ROOT]` prints them as JSON,
ready for a CI matrix (`strategy.matrix.package: ${{ fromJSON(...) }}`).

A folder is a package when it holds a model-check configuration (model-check.toml, or
[tool.model-check] in pyproject.toml), or a model card (README.md) beside model weights. The
search does not go into a package (its sub-folders are part of it), nor into hidden, virtual
environment or cache folders, and does not follow symbolic links.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from validator.core.package_paths import SKIPPED_DIRS

WEIGHT_SUFFIXES = (".safetensors", ".onnx", ".pt", ".pth", ".ckpt", ".bin", ".h5", ".keras", ".tflite", ".pb", ".gguf")
MAX_DEPTH = 12


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
        for entry in entries:
            if entry.is_dir(follow_symlinks=False) and not entry.name.startswith(".") and entry.name not in SKIPPED_DIRS:
                stack.append((Path(entry.path), depth + 1))
    return sorted(found)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("discover", help="list the model packages under a folder as JSON (for a CI matrix)")
    parser.add_argument("root", nargs="?", default=".", help="the folder to search (default: .)")
    parser.add_argument("--format", choices=("list", "matrix"), default="list",
                        help='list: ["a", "b"]; matrix: {"package": ["a", "b"]} (default: list)')
    parser.set_defaults(handler=cmd_discover)


def cmd_discover(args: argparse.Namespace) -> int:
    from validator.cli.common import EXIT_OK, UsageError

    root = Path(args.root)
    if not root.is_dir():
        raise UsageError(f"{args.root}: not a directory")
    packages = discover(root)
    # One line of ASCII JSON: safe to append to $GITHUB_OUTPUT as `packages=<this>`.
    print(json.dumps(packages if args.format == "list" else {"package": packages}, ensure_ascii=True))
    return EXIT_OK
