"""Find the model packages under a repository: `model-check discover [ROOT]` prints them as JSON,
ready for a CI matrix (`strategy.matrix.package: ${{ fromJSON(...) }}`). The search itself is
validator.readers.discovery (`check` uses it to tell a repository root from a package, MC011).

A folder is a package when it holds a model-check configuration (model-check.toml, or
[tool.model-check] in pyproject.toml), or a model card (README.md) beside model weights. The
search does not go into a package (its sub-folders are part of it), nor into hidden, virtual
environment or cache folders, and does not follow symbolic links.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from validator.readers.discovery import discover

__all__ = ["cmd_discover", "discover", "register"]


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
