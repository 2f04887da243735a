"""Opening the package of a run before the checks' modules are imported: `model-check check` opens it first,
so that its files hash (background threads, validator.readers.package) while the rest of the command line
is imported, and hands it to runner.run. A repository holding packages (MC011) is not opened: its files
are not hashed."""

from __future__ import annotations

from pathlib import Path

from validator.core.catalogue import rule
from validator.core.options import Options
from validator.readers.discovery import repository_packages
from validator.readers.package import ModelPackage

REPOSITORY_RULE = "repository-not-package"  # MC011


def packages_under(root: Path, options: Options) -> list[str]:
    """The packages under `root` when it is a repository holding them rather than a package (MC011)."""
    if {rule(REPOSITORY_RULE).id, rule(REPOSITORY_RULE).name} & options.disable:
        return []
    return repository_packages(root)


def open_package(root: Path, options: Options) -> ModelPackage | None:
    """The package at `root`, its files hashing from now on; None when `root` is a repository of packages."""
    return None if packages_under(root, options) else ModelPackage(root)
