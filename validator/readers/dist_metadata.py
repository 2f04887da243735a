"""The distribution metadata a package declares for itself: its name and license, from pyproject.toml
([project] or [tool.poetry]), setup.cfg ([metadata]) or setup.py (`setup(name=…, license=…)` read with
`ast`, never run).

A card that names no model (its `<h1>` holds only a logo) still belongs to a package with a name;
a `license = "MIT"` in the metadata is one more place that states the license.
"""

from __future__ import annotations

import ast
import configparser
import re
import tomllib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from validator.readers.package import ModelPackage


@dataclass(frozen=True)
class MetadataValue:
    value: str
    file: str
    line: int | None


@dataclass(frozen=True)
class DistMetadata:
    name: MetadataValue | None = None
    license: MetadataValue | None = None


def read_dist_metadata(pkg: ModelPackage) -> DistMetadata:
    """The first of pyproject.toml, setup.cfg, setup.py (at the package root) that names the package."""
    for rel, reader in (("pyproject.toml", _pyproject), ("setup.cfg", _setup_cfg), ("setup.py", _setup_py)):
        if rel not in pkg.files:
            continue
        text = pkg.read_text(rel).text
        if text is None:
            continue
        found = reader(text)
        name, license_value = found["name"], found["license"]
        if name is not None or license_value is not None:
            return DistMetadata(MetadataValue(name, rel, _line(text, "name")) if name else None,
                                MetadataValue(license_value, rel, _line(text, "license")) if license_value else None)
    return DistMetadata()


def _pyproject(text: str) -> dict[str, str | None]:
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        return {"name": None, "license": None}  # the runtime check reports an unreadable pyproject.toml
    tool = data.get("tool")
    for table in (data.get("project"), tool.get("poetry") if isinstance(tool, dict) else None):
        if isinstance(table, dict) and (table.get("name") or table.get("license")):
            return {"name": _text(table.get("name")), "license": _license_value(table.get("license"))}
    return {"name": None, "license": None}


def _license_value(value: Any) -> str | None:
    """`license = "MIT"` (PEP 639) or `{text = "Apache-2.0"}`; `{file = …}` points at the LICENSE file."""
    if isinstance(value, dict):
        value = value.get("text")
    return _text(value)


def _setup_cfg(text: str) -> dict[str, str | None]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return {"name": None, "license": None}
    if not parser.has_section("metadata"):
        return {"name": None, "license": None}
    return {"name": _text(parser.get("metadata", "name", fallback=None)),
            "license": _text(parser.get("metadata", "license", fallback=None))}


def _setup_py(text: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {"name": None, "license": None}
    try:
        module = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return found
    for node in ast.walk(module):
        if isinstance(node, ast.Call) and _called(node.func) == "setup":
            for keyword in node.keywords:
                if keyword.arg in found and isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str):
                    found[keyword.arg] = _text(keyword.value.value)
            break
    return found


def _called(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else ""


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _line(text: str, key: str) -> int | None:
    pattern = re.compile(rf"^\s{{0,8}}{key}\s{{0,8}}[=:]|\b{key}\s{{0,8}}=\s{{0,8}}['\"]")
    return next((n for n, line in enumerate(text.splitlines(), 1) if pattern.search(line)), None)
