"""`model-check discover`: the package folders of a repository, as one line of JSON."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import REPO, RunCli

from validator.cli.discover import discover


def _package(folder: Path, weights: str = "model.onnx") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text("# a model\n", encoding="utf-8")
    (folder / weights).write_bytes(b"\0")
    return folder


def _tree(root: Path) -> Path:
    _package(root / "models" / "a")
    _package(root / "models" / "a" / "nested", "w.safetensors")  # part of models/a
    (root / "models" / "b").mkdir(parents=True)
    (root / "models" / "b" / "model-check.toml").write_text('env = "none"\n', encoding="utf-8")
    (root / "models" / "c").mkdir()
    (root / "models" / "c" / "pyproject.toml").write_text('[tool.model-check]\nenv = "none"\n', encoding="utf-8")
    (root / "models" / "plain").mkdir()
    (root / "models" / "plain" / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    _package(root / ".hidden" / "x")
    _package(root / "node_modules" / "y")
    (root / "docs").mkdir()
    (root / "docs" / "README.md").write_text("# docs, no weights\n", encoding="utf-8")
    (root / "link").symlink_to(root / "models" / "a", target_is_directory=True)
    return root


def test_finds_packages_and_does_not_descend_into_them(tmp_path: Path) -> None:
    assert discover(_tree(tmp_path)) == ["models/a", "models/b", "models/c"]


def test_root_itself_can_be_the_package(tmp_path: Path) -> None:
    assert discover(_package(tmp_path / "repo")) == ["."]


def test_this_repository() -> None:
    found = discover(REPO)
    assert "examples/goes-cloud-regime" in found and "tests/fixtures/broken-package" in found


def test_cli_prints_one_line_of_ascii_json(run_cli: RunCli, tmp_path: Path) -> None:
    _tree(tmp_path)
    _package(tmp_path / 'evil"\nname\u00e9')
    code, out, _ = run_cli(["discover", str(tmp_path)])
    assert code == 0 and out.count("\n") == 1 and out.isascii()
    assert json.loads(out) == ['evil"\nname\u00e9', "models/a", "models/b", "models/c"]
    code, out, _ = run_cli(["discover", str(tmp_path / "models"), "--format", "matrix"])
    assert json.loads(out) == {"package": ["a", "b", "c"]}
    code, _, err = run_cli(["discover", str(tmp_path / "nowhere")])
    assert code == 2 and "not a directory" in err
