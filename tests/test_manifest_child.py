"""A cached folder's manifest compared in a child process (validator.runtime.environments.manifest): the same
answer as the comparison in model-check's own process, for a folder that matches and for each way it can
change; the same answer again when the child cannot run."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from validator.runtime.environments.manifest import difference, difference_in_child, record

RECORD = "record.json"


def _folder(root: Path) -> Path:
    (root / "lib" / "pkg").mkdir(parents=True)
    (root / "lib" / "pkg" / "__init__.py").write_text("x = 1\n")
    (root / "bin").mkdir()
    (root / "bin" / "python").symlink_to("/usr/bin/python3")
    (root / RECORD).write_text(json.dumps({"manifest": record(root, frozenset({RECORD}))}))
    return root


def _append(root: Path) -> None:
    with open(root / "lib" / "pkg" / "__init__.py", "a") as handle:
        handle.write("import os\n")


def _relink(root: Path) -> None:
    (root / "bin" / "python").unlink()
    (root / "bin" / "python").symlink_to("/bin/sh")


CHANGES: dict[str, Callable[[Path], object]] = {
    "unchanged": lambda root: None,
    "a file written": _append,
    "a .pth file added": lambda root: (root / "lib" / "evil.pth").write_text("import os\n"),
    "a file removed": lambda root: (root / "lib" / "pkg" / "__init__.py").unlink(),
    "a link retargeted": _relink,
    "a mode changed": lambda root: os.chmod(root / "lib" / "pkg" / "__init__.py", 0o777),
}


@pytest.mark.parametrize("change", CHANGES)
def test_the_child_answers_as_this_process_does(tmp_path: Path, change: str) -> None:
    root = _folder(tmp_path / "env")
    CHANGES[change](root)
    recorded = json.loads((root / RECORD).read_text())["manifest"]
    expected = difference(root, recorded, frozenset({RECORD}))
    assert (expected is None) == (change == "unchanged")
    assert difference_in_child(root, root / RECORD, "manifest", frozenset({RECORD})) == expected


def test_without_the_child_the_comparison_runs_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _folder(tmp_path / "env")
    _append(root)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))  # the child cannot start
    assert difference_in_child(root, root / RECORD, "manifest", frozenset({RECORD})) == \
        "lib/pkg/__init__.py changed after the build (size, modification time)"


def test_an_unreadable_record_is_a_difference(tmp_path: Path) -> None:
    root = _folder(tmp_path / "env")
    (root / RECORD).write_text("{not json")
    assert difference_in_child(root, root / RECORD, "manifest", frozenset({RECORD})) == "its manifest is missing or unreadable"
