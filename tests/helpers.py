"""Helpers shared by the tests: run model-check on a folder, validate its report, pick findings.

Every report a test produces goes through `check_report`, which validates it against the JSON
Schema shipped in validator/schemas (the JSON report contract, schema_version 1).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

from onnx import TensorProto, helper

from validator.core.options import Options
from validator.core.report import Report, validate_report
from validator.pipeline import runner
from validator.pipeline.config import LoadedConfig, configure, read_package_config

CliResult = tuple[int, str, str]  # exit code, stdout, stderr
RunCli = Callable[[Sequence[str | Path]], CliResult]

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "goes-cloud-regime"


def check_report(report: Report | dict[str, Any] | Path | str) -> dict[str, Any]:
    """Validate a report (object, dict, or path of a JSON file) against the schema; return its dict."""
    if isinstance(report, Report):
        data = report.to_dict()
    elif isinstance(report, dict):
        data = report
    else:
        data = json.loads(Path(report).read_text(encoding="utf-8"))
    validate_report(data)
    return data


def copy_example(target: Path) -> Path:
    """A fresh copy of the example package at `target`."""
    shutil.copytree(EXAMPLE, target)
    return target


def run_static(root: Path, only: Sequence[str] | None = None, **options: Any) -> dict[str, Any]:
    """Run the checks with --env none (plus `options`) and return the validated JSON report.

    `only` limits the run to the checks of those areas (the others are not run at all), which keeps
    the tests of one area fast and independent of the checks other areas add."""
    options.setdefault("env", "none")
    return _run(root, Options(**options), None, only)


def run_configured(root: Path, only: Sequence[str] | None = None, allow_network: bool = False, **flags: Any) -> dict[str, Any]:
    """Like the CLI: the package's model-check.toml / [tool.model-check], bounded by `flags` (config.configure)."""
    flags.setdefault("env", "none")
    loaded = read_package_config(root)
    return _run(root, configure(loaded, flags, allow_network), loaded, only)


def _run(root: Path, options: Options, config: LoadedConfig | None, only: Sequence[str] | None) -> dict[str, Any]:
    plan = runner.PLAN if only is None else runner.PLAN.only(only)
    with mock.patch.object(runner, "PLAN", plan):
        return check_report(runner.run(root, options, config))


def findings(report: dict[str, Any], rule: str | None = None, area: str | None = None) -> list[dict[str, Any]]:
    return [f for f in report["findings"]
            if (rule is None or f["rule"] == rule) and (area is None or f["area"] == area)]


def rules_fired(report: dict[str, Any], area: str | None = None) -> set[str]:
    return {f["rule"] for f in findings(report, area=area)}


def replace_in(path: Path, old: str, new: str, count: int = 1) -> None:
    """Replace text in a file, failing loudly when the text is not there (the example changed)."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= count, f"{old!r} not found {count} time(s) in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def card_lines(readme: Path) -> list[str]:
    return readme.read_text(encoding="utf-8").splitlines()


def line_of(path: Path, needle: str) -> int:
    """1-based number of the first line of `path` containing `needle`."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} is not in {path.name}")


def remove_section(readme: Path, heading: str) -> None:
    """Delete a Markdown section (its heading line up to the next heading of the same or higher level)."""
    lines = card_lines(readme)
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    assert start is not None, f"heading {heading!r} not found in {readme.name}"
    level = len(heading) - len(heading.lstrip("#"))
    end = start + 1
    while end < len(lines):
        stripped = lines[end].lstrip()
        if stripped.startswith("#"):
            other = len(stripped) - len(stripped.lstrip("#"))
            if other <= level:
                break
        end += 1
    readme.write_text("\n".join(lines[:start] + lines[end:]) + "\n", encoding="utf-8")


def remove_lines_containing(path: Path, *needles: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    for needle in needles:
        assert any(needle in line for line in lines), f"{needle!r} not found in {path.name}"
    kept = [line for line in lines if not any(needle in line for needle in needles)]
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")


def tree_state(root: Path) -> dict[str, tuple[str, int, float, str]]:
    """Every entry below `root`: kind, size, mtime and (for files) sha256; to prove nothing was written."""
    import hashlib
    import os

    state: dict[str, tuple[str, int, float, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            info = path.lstat()
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                state[rel] = ("symlink", 0, info.st_mtime, os.readlink(path))
            elif path.is_dir():
                state[rel] = ("dir", 0, info.st_mtime, "")
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest() if os.access(path, os.R_OK) else "unreadable"
                state[rel] = ("file", info.st_size, info.st_mtime, digest)
    state["."] = ("dir", 0, root.stat().st_mtime, "")
    return state


def nested_onnx_bytes(depth: int) -> bytes:
    """A model whose If nodes nest `depth` subgraphs, encoded by hand (onnx.helper refuses deep ones)."""

    def varint(value: int) -> bytes:
        out = bytearray()
        while True:
            byte, value = value & 0x7F, value >> 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                return bytes(out)

    def field(number: int, payload: bytes) -> bytes:
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1]).SerializeToString()
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "leaf", [],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])]).SerializeToString()
    for level in range(depth):
        attribute = field(1, b"then_branch") + varint(20 << 3) + varint(5) + field(6, graph)
        node = field(1, b"cond") + field(2, b"y") + field(4, b"If") + field(5, attribute)
        graph = field(1, node) + field(2, f"g{level}".encode()) + field(12, y)
    opset = helper.make_opsetid("", 17).SerializeToString()
    return varint(1 << 3) + varint(8) + field(7, graph) + field(8, opset)
