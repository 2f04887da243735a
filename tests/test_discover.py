"""`model-check discover`: the package folders of a repository, as one line of JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import REPO, RunCli, check_report

from validator.cli.discover import discover
from validator.readers.discovery import repository_packages


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


# -- a repository root given to `check` (MC011) ------------------------------------------------------
def _repository(root: Path) -> Path:
    """A repository as users lay one out: its own README and CI files, two packages in sub-folders."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "README.md").write_text("# Our models\n\nTODO: {insert_description_here}\n", encoding="utf-8")
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text("on: push\n", encoding="utf-8")
    (root / "scripts").mkdir()
    (root / "scripts" / "train.py").write_text("print('train')\n", encoding="utf-8")
    _package(root / "models" / "a")
    (root / "models" / "b").mkdir(parents=True)
    (root / "models" / "b" / "model-check.toml").write_text('env = "none"\n', encoding="utf-8")
    _package(root / "tests" / "fixtures" / "tiny")  # test data of the repository: not listed
    return root


def test_repository_packages_lists_the_packages_of_a_repository_root(tmp_path: Path) -> None:
    assert repository_packages(_repository(tmp_path / "repo")) == ["models/a", "models/b"]


@pytest.mark.parametrize("own", ["model.safetensors", "inference.py", "weights/model.pt"])
def test_a_root_with_a_model_or_inference_script_of_its_own_is_a_package(tmp_path: Path, own: str) -> None:
    root = _repository(tmp_path / "repo")
    (root / own).parent.mkdir(parents=True, exist_ok=True)
    (root / own).write_bytes(b"\0")
    assert repository_packages(root) == []


def test_a_package_and_a_folder_without_packages_are_not_repositories(tmp_path: Path) -> None:
    assert repository_packages(_package(tmp_path / "pkg")) == []
    (tmp_path / "empty").mkdir()
    assert repository_packages(tmp_path / "empty") == []
    only_fixtures = tmp_path / "tool"
    _package(only_fixtures / "tests" / "fixtures" / "tiny")
    (only_fixtures / "README.md").write_text("# a tool\n", encoding="utf-8")
    assert repository_packages(only_fixtures) == []


def test_check_on_a_repository_root_reports_mc011_and_runs_nothing_else(run_cli: RunCli, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    root = _repository(tmp_path / "repo")
    monkeypatch.chdir(root)
    code, out, _ = run_cli(["check", ".", "--env", "none", "--json", tmp_path / "r.json"])
    report = check_report(tmp_path / "r.json")
    assert code == 1 and report["status"] == "failed"
    assert [f["rule"] for f in report["findings"]] == ["MC011"]  # nothing about the repository's own README
    message = report["findings"][0]["message"]
    assert "2 package(s) under it: models/a/, models/b/" in message
    assert "Run `model-check check models/a/`" in message and "tiny" not in message
    assert {c["status"] for c in report["checks"]} == {"skipped"} and report["artefacts"] == []
    assert "MC011" in out and "models/a/" in out
    code, out, _ = run_cli(["check", "models/a", "--env", "none", "-q"])  # what the message says to run
    assert "MC011" not in out


def test_mc011_can_be_disabled_by_the_caller(run_cli: RunCli, tmp_path: Path) -> None:
    root = _repository(tmp_path / "repo")
    config = tmp_path / "caller.toml"
    config.write_text('disable = ["MC011"]\n', encoding="utf-8")
    code, _, _ = run_cli(["check", root, "--env", "none", "--config", config, "--json", tmp_path / "r.json"])
    rules = {f["rule"] for f in check_report(tmp_path / "r.json")["findings"]}
    assert "MC011" not in rules and "MC101" not in rules and rules  # checked as a package: its README is the card
