"""The top-level modules an environment can import, read from its site-packages as data (never by running
its interpreter): what `import name` finds there.

Each entry of site-packages that Python imports from is one name: a package folder, a `name.py`, a
compiled `name.cpython-…so`. The distributions' `top_level.txt` files add the names they declare, and
setuptools' editable-install finders (`__editable___*_finder.py`) the names in their MAPPING. A `.pth`
file that adds a folder outside site-packages (an editable install of another project) makes the
answer incomplete: `unknown` says so. Reading is bounded: entries counted, files read to 64 KiB,
symlinks not followed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from validator.runtime.environments.installed import read_header, site_packages

MAX_ENTRIES = 200_000
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAPPING_KEY = re.compile(r"""['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*:""")
_NOT_MODULES = (".dist-info", ".egg-info", ".data", ".pth", ".txt", ".json")


@dataclass
class Importable:
    names: set[str] = field(default_factory=set)
    unknown: list[str] = field(default_factory=list)  # why the list may miss names


def importable_modules(prefix: Path) -> Importable:
    """Top-level module names of every site-packages folder of the environment at `prefix`."""
    found = Importable()
    for folder in site_packages(prefix):
        count = 0
        with os.scandir(folder) as entries:
            for entry in entries:
                count += 1
                if count > MAX_ENTRIES:
                    found.unknown.append(f"{folder} has more than {MAX_ENTRIES:,} entries")
                    break
                _entry(found, entry)
    return found


def _entry(found: Importable, entry: os.DirEntry[str]) -> None:
    name = entry.name
    if name.endswith(".dist-info") and entry.is_dir(follow_symlinks=False):
        for line in read_header(Path(entry.path, "top_level.txt")).splitlines():
            if _NAME.fullmatch(line.strip().split("/", 1)[0]):
                found.names.add(line.strip().split("/", 1)[0])
        return
    if name.startswith("__editable__") and name.endswith("_finder.py"):
        found.names.update(_MAPPING_KEY.findall(read_header(Path(entry.path))))
        return
    if name.endswith(".pth"):  # folders it adds to sys.path (editable installs): their entries import too
        for line in read_header(Path(entry.path)).splitlines()[:100]:
            line = line.strip()
            if line and not line.startswith(("#", "import ", "import\t")):
                _listed(found, Path(entry.path).parent / line)
        return
    if name.endswith(_NOT_MODULES) or name.startswith("."):
        return
    if entry.is_dir(follow_symlinks=False):
        if _NAME.fullmatch(name):
            found.names.add(name)
    elif name.endswith((".py", ".pyc", ".pyd")) or ".so" in name:
        stem = name.split(".", 1)[0]
        if _NAME.fullmatch(stem):
            found.names.add(stem)


def _listed(found: Importable, folder: Path) -> None:
    try:
        with os.scandir(folder) as entries:
            for count, entry in enumerate(entries):
                if count >= MAX_ENTRIES:
                    found.unknown.append(f"{folder} has more than {MAX_ENTRIES:,} entries")
                    return
                if entry.is_dir(follow_symlinks=False) and _NAME.fullmatch(entry.name):
                    found.names.add(entry.name)
                elif entry.name.endswith(".py") and _NAME.fullmatch(entry.name[:-3]):
                    found.names.add(entry.name[:-3])
    except OSError:
        return
