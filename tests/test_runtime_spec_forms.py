"""Forms of a pinned runtime seen in real packages (issue 11), each with a self-written fixture:
lock files instead of requirements.txt (MC102 -> MC390), `-e .` of a project that pins its own
dependencies (MC305 judged from them), standard-library modules listed as distributions (MC391),
one distribution listed twice (MC392), requirements.txt and environment.yml disagreeing (MC393)."""

from __future__ import annotations

from pathlib import Path

import pytest

from validator.checks.base import Skip
from validator.checks.runtime_files import RuntimeFilesCheck
from validator.checks.runtime_pins import RuntimePinsCheck, runtime_missing
from validator.core.findings import Finding
from validator.core.options import Options
from validator.readers.package import ModelPackage
from validator.readers.runtime_spec import read_lock_files, read_runtime

PYPROJECT = '[project]\nname = "tiny-model"\nversion = "0.1.0"\ndependencies = ["numpy==2.1.0", "pillow==11.0.0"]\n'
UV_LOCK = '''version = 1
requires-python = ">=3.11"

[[package]]
name = "numpy"
version = "2.1.0"
source = { registry = "https://pypi.org/simple" }
sdist = { url = "https://files.example.org/numpy-2.1.0.tar.gz", hash = "sha256:aaaa" }

[[package]]
name = "pillow"
version = "11.0.0"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://files.example.org/pillow-11.0.0.whl", hash = "sha256:bbbb" }]

[[package]]
name = "tiny-model"
version = "0.1.0"
source = { editable = "." }
'''
POETRY_LOCK = '''[[package]]
name = "numpy"
version = "2.1.0"
description = "arrays"
optional = false
python-versions = ">=3.10"
files = [{file = "numpy-2.1.0.tar.gz", hash = "sha256:cccc"}]

[metadata]
lock-version = "2.0"
python-versions = "^3.11"
content-hash = "dddd"
'''
PIXI_LOCK = '''version: 6
environments:
  default:
    channels:
    - url: https://conda.anaconda.org/conda-forge/
packages:
- conda: https://conda.anaconda.org/conda-forge/linux-64/numpy-2.1.0-py311_0.conda
  sha256: eeee
- conda: https://conda.anaconda.org/conda-forge/linux-64/python-3.11.9-h_0.conda
  sha256: ffff
'''
CONDA_LOCK = '''version: 1
metadata:
  platforms: [linux-64]
package:
- name: numpy
  version: 2.1.0
  manager: conda
  platform: linux-64
  url: https://conda.anaconda.org/conda-forge/linux-64/numpy-2.1.0-py311_0.conda
  hash: {md5: 0123, sha256: 4567}
'''


def make(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def run_pins(root: Path) -> list[Finding] | Skip:
    pkg = ModelPackage(root)
    try:
        result = RuntimePinsCheck().run(pkg, Options(env="none"))
        return result if isinstance(result, Skip) else list(result)
    finally:
        pkg.close()


def missing(root: Path) -> list[Finding]:
    pkg = ModelPackage(root)
    try:
        return list(runtime_missing(pkg))
    finally:
        pkg.close()


def runtime_findings(root: Path) -> list[Finding]:
    pkg = ModelPackage(root)
    try:
        result = RuntimeFilesCheck().run(pkg, Options(env="none"))
        return [] if isinstance(result, Skip) else [f for f in result if f.rule not in ("MC385", "MC310")]
    finally:
        pkg.close()


def ids(found: list[Finding] | Skip) -> list[str]:
    assert not isinstance(found, Skip), found
    return [f.rule for f in found]


# -- lock files ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("lock", "text", "project", "tool"), [
    ("uv.lock", UV_LOCK, {"pyproject.toml": PYPROJECT}, "uv export"),
    ("poetry.lock", POETRY_LOCK, {"pyproject.toml": '[tool.poetry]\nname = "tiny"\n[tool.poetry.dependencies]\nnumpy = "2.1.0"\n'}, "poetry export"),
    ("pdm.lock", UV_LOCK.replace("version = 1\n", ""), {"pyproject.toml": PYPROJECT}, "pdm export"),
    ("pixi.lock", PIXI_LOCK, {"pixi.toml": '[workspace]\nname = "tiny"\n'}, "pixi workspace export conda-environment"),
    ("conda-lock.yml", CONDA_LOCK, {}, "conda-lock render"),
])
def test_lock_file_is_the_pinned_runtime(tmp_path: Path, lock: str, text: str, project: dict[str, str], tool: str) -> None:
    root = make(tmp_path, {"README.md": "# tiny\n", lock: text, **project})
    assert missing(root) == []  # MC102 does not fire
    found = run_pins(root)
    assert ids(found) == ["MC390"]
    assert not isinstance(found, Skip)
    message = found[0].message
    assert found[0].file == lock and lock in message and "taken as the package's pinned runtime" in message
    assert "no environment is rebuilt" in message and tool in message


def test_uv_lock_counts_packages_and_hashes(tmp_path: Path) -> None:
    root = make(tmp_path, {"uv.lock": UV_LOCK, "pyproject.toml": PYPROJECT})
    pkg = ModelPackage(root)
    try:
        (lock,) = read_lock_files(pkg)
    finally:
        pkg.close()
    assert (lock.tool, lock.packages, lock.hashed, lock.project, lock.accepted) == ("uv", 3, 2, "pyproject.toml", True)


@pytest.mark.parametrize(("files", "why"), [
    ({"uv.lock": UV_LOCK}, "locks a pyproject.toml the package does not ship"),
    ({"uv.lock": "version = 1\n[[package\n", "pyproject.toml": PYPROJECT}, "is not TOML"),
    ({"poetry.lock": "[metadata]\nlock-version = '2.0'\n", "pyproject.toml": PYPROJECT}, "pins no package"),
    ({"conda-lock.yml": "- [unclosed\n"}, "is not a lock file model-check can read"),
])
def test_lock_file_that_cannot_stand_in_keeps_mc102(tmp_path: Path, files: dict[str, str], why: str) -> None:
    root = make(tmp_path, {"README.md": "# tiny\n", **files})
    (finding,) = missing(root)
    assert finding.rule == "MC102" and why in finding.message
    assert isinstance(run_pins(root), Skip)


def test_no_runtime_and_no_lock_is_mc102(tmp_path: Path) -> None:
    root = make(tmp_path, {"README.md": "# tiny\n", "pyproject.toml": PYPROJECT})
    assert [f.rule for f in missing(root)] == ["MC102"]


def test_requirements_with_a_lock_is_not_mc390(tmp_path: Path) -> None:
    root = make(tmp_path, {"requirements.txt": "numpy==2.1.0\n", "uv.lock": UV_LOCK, "pyproject.toml": PYPROJECT})
    assert missing(root) == [] and ids(run_pins(root)) == []


# -- `-e .` judged by the local project's own dependencies -------------------------------------------------
SETUP_PINNED = '''from setuptools import setup

setup(
    name="tiny-model",
    install_requires=[
        "numpy==2.1.0",
        "torch==2.0",
    ],
)
'''


@pytest.mark.parametrize("files", [
    {"setup.py": SETUP_PINNED},
    {"setup.py": "from setuptools import setup\nREQS = ['numpy==2.1.0']\nsetup(name='tiny', install_requires=REQS)\n"},
    {"pyproject.toml": PYPROJECT},
    {"setup.cfg": "[metadata]\nname = tiny\n[options]\ninstall_requires =\n    numpy==2.1.0\n"},
    {"pyproject.toml": '[tool.poetry]\nname = "tiny"\n[tool.poetry.dependencies]\npython = "^3.11"\nnumpy = "2.1.0"\n'},
    {"pyproject.toml": '[project]\nname = "tiny"\ndynamic = ["dependencies"]\n[tool.setuptools.dynamic]\ndependencies = {file = ["deps.txt"]}\n',
     "deps.txt": "numpy==2.1.0\n"},
])
def test_editable_project_pinning_every_dependency_is_pinned(tmp_path: Path, files: dict[str, str]) -> None:
    root = make(tmp_path, {"requirements.txt": "black==24.1.0\n-e .\n", **files})
    assert runtime_findings(root) == []
    pkg = ModelPackage(root)
    try:
        spec = read_runtime(pkg)
    finally:
        pkg.close()
    assert "numpy" in spec.pinned_names()


def test_editable_project_with_loose_dependencies_keeps_mc305(tmp_path: Path) -> None:
    setup = SETUP_PINNED.replace('"torch==2.0"', '"torch>=2.0"')
    root = make(tmp_path, {"requirements.txt": "-e .\n", "setup.py": setup})
    (finding,) = runtime_findings(root)
    assert finding.rule == "MC305" and finding.line == 1
    assert "'torch>=2.0' (setup.py:7" in finding.message and "Pin each with == in setup.py" in finding.message


def test_loose_dependency_pinned_by_the_requirements_counts(tmp_path: Path) -> None:
    setup = SETUP_PINNED.replace('"torch==2.0"', '"torch"')
    root = make(tmp_path, {"requirements.txt": "torch==2.0.1\n-e .\n", "setup.py": setup})
    assert runtime_findings(root) == []


@pytest.mark.parametrize(("files", "why"), [
    ({"setup.py": "from setuptools import setup\nsetup(name='t', install_requires=find_requirements())\n"},
     "computes install_requires (line 2)"),
    ({"pyproject.toml": '[project]\nname = "t"\ndynamic = ["dependencies"]\n'}, "declares its dependencies dynamic"),
    ({}, "has no pyproject.toml, setup.cfg or setup.py"),
])
def test_editable_project_that_cannot_be_read_keeps_mc305(tmp_path: Path, files: dict[str, str], why: str) -> None:
    root = make(tmp_path, {"requirements.txt": "-e .\n", **files})
    (finding,) = runtime_findings(root)
    assert finding.rule == "MC305" and why in finding.message


def test_setup_py_reading_a_requirements_file(tmp_path: Path) -> None:
    setup = "from setuptools import setup\nsetup(name='t', install_requires=open('deps.txt').read().splitlines())\n"
    root = make(tmp_path, {"requirements.txt": "-e .\n", "setup.py": setup, "deps.txt": "numpy\n"})
    (finding,) = runtime_findings(root)
    assert finding.rule == "MC305" and "'numpy' (deps.txt:1" in finding.message


def test_setup_py_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    setup = f"open({str(marker)!r}, 'w').write('x')\nfrom setuptools import setup\nsetup(install_requires=['numpy==1.0'])\n"
    root = make(tmp_path / "pkg", {"requirements.txt": "-e .\n", "setup.py": setup})
    assert runtime_findings(root) == [] and not marker.exists()


# -- standard-library modules, duplicates, disagreements ----------------------------------------------------
@pytest.mark.parametrize(("files", "where"), [
    ({"requirements.txt": "numpy==2.1.0\npathlib\n"}, ("requirements.txt", 2)),
    ({"requirements.txt": "typing==3.7.4.3\n"}, ("requirements.txt", 1)),
    ({"requirements.txt": "argparse==1.4.0\n"}, ("requirements.txt", 1)),
    ({"environment.yml": "channels: [conda-forge]\ndependencies:\n  - numpy=2.1.0\n  - pip:\n    - pathlib==1.0.1\n"}, ("environment.yml", 5)),
    ({"environment.yml": "channels: [conda-forge]\ndependencies:\n  - anaconda::typing\n"}, ("environment.yml", 3)),
])
def test_stdlib_module_listed_as_a_requirement(tmp_path: Path, files: dict[str, str], where: tuple[str, int]) -> None:
    found = run_pins(make(tmp_path, files))
    assert ids(found) == ["MC391"]
    assert not isinstance(found, Skip)
    assert (found[0].file, found[0].line) == where and "Delete the line" in found[0].message


@pytest.mark.parametrize("text", [
    "DateTime==5.5\n",  # Zope's DateTime, not the datetime module
    'dataclasses==0.8; python_version < "3.7"\n',  # a backport guarded by a marker
    "numpy==2.1.0\n",
])
def test_not_a_stdlib_backport(tmp_path: Path, text: str) -> None:
    assert ids(run_pins(make(tmp_path, {"requirements.txt": text}))) == []


def test_dataclasses_backport_for_python_36_is_right(tmp_path: Path) -> None:
    root = make(tmp_path, {"requirements.txt": "dataclasses==0.8\n", ".python-version": "3.6\n"})
    assert ids(run_pins(root)) == []


def test_conda_c_library_named_like_a_module(tmp_path: Path) -> None:
    root = make(tmp_path, {"environment.yml": "channels: [conda-forge]\ndependencies:\n  - zlib=1.3.1\n  - readline=8.2\n"})
    assert ids(run_pins(root)) == []


def test_duplicate_in_requirements(tmp_path: Path) -> None:
    found = run_pins(make(tmp_path, {"requirements.txt": "wandb\nnumpy==2.1.0\nwandb\n"}))
    assert ids(found) == ["MC392"]
    assert not isinstance(found, Skip)
    finding = found[0]
    assert (finding.file, finding.line, finding.severity.value) == ("requirements.txt", 3, "warning")
    assert "requirements.txt:1 'wandb'" in finding.message


def test_duplicate_with_conflicting_pins_is_an_error(tmp_path: Path) -> None:
    found = run_pins(make(tmp_path, {"requirements.txt": "torch==2.0.0\n-r more.txt\n", "more.txt": "torch==2.1.0\n"}))
    assert ids(found) == ["MC392"]
    assert not isinstance(found, Skip)
    assert found[0].severity.value == "error" and "cannot" in found[0].message
    assert "more.txt:1 'torch==2.1.0'" in found[0].message and "requirements.txt:1 'torch==2.0.0'" in found[0].message


def test_duplicate_in_environment_yml(tmp_path: Path) -> None:
    env = "channels: [conda-forge]\ndependencies:\n  - wandb=0.16.0\n  - numpy=2.1.0\n  - wandb=0.16.0\n"
    found = run_pins(make(tmp_path, {"environment.yml": env}))
    assert ids(found) == ["MC392"]


def test_marker_lines_are_not_duplicates(tmp_path: Path) -> None:
    text = 'numpy==1.26.4; python_version < "3.12"\nnumpy==2.1.0; python_version >= "3.12"\n'
    assert ids(run_pins(make(tmp_path, {"requirements.txt": text}))) == []


def test_local_project_pin_conflicting_with_requirements(tmp_path: Path) -> None:
    root = make(tmp_path, {"requirements.txt": "numpy==2.2.0\n-e .\n", "setup.py": SETUP_PINNED})
    found = run_pins(root)
    assert ids(found) == ["MC392"]
    assert not isinstance(found, Skip)
    assert "setup.py:6" in found[0].message and found[0].severity.value == "error"


def test_requirements_and_environment_disagree_on_a_pin(tmp_path: Path) -> None:
    env = "channels: [conda-forge]\ndependencies:\n  - python=3.11\n  - numpy=1.26.4\n  - pip\n"
    found = run_pins(make(tmp_path, {"requirements.txt": "numpy==2.1.0\n", "environment.yml": env}))
    assert ids(found) == ["MC393"]
    assert not isinstance(found, Skip)
    finding = found[0]
    assert "requirements.txt:1" in finding.message and "environment.yml:4" in finding.message
    assert finding.severity.value == "warning"


def test_conda_prefix_pin_agrees(tmp_path: Path) -> None:
    env = "channels: [conda-forge]\ndependencies:\n  - numpy=2.1\n  - pytorch=2.3.1\n"
    found = run_pins(make(tmp_path, {"requirements.txt": "numpy==2.1.0\ntorch==2.3.1\n", "environment.yml": env}))
    assert ids(found) == []


def test_distribution_only_in_one_file_is_info(tmp_path: Path) -> None:
    env = "channels: [conda-forge]\ndependencies:\n  - python=3.11\n  - numpy=2.1.0\n  - jupyter\n"
    found = run_pins(make(tmp_path, {"requirements.txt": "numpy==2.1.0\ntables==3.9.2\n", "environment.yml": env}))
    assert ids(found) == ["MC393"]
    assert not isinstance(found, Skip)
    assert found[0].severity.value == "info" and "tables (requirements.txt:2)" in found[0].message
    assert "python" not in found[0].message.split("does not")[0].split("installs")[-1]


def test_environment_installing_the_requirements_is_not_reported(tmp_path: Path) -> None:
    env = "channels: [conda-forge]\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n    - -r requirements.txt\n"
    root = make(tmp_path, {"requirements.txt": "numpy==2.1.0\n", "environment.yml": env})
    assert ids(run_pins(root)) == []


def test_same_line_in_a_file_and_its_include_is_not_a_duplicate(tmp_path: Path) -> None:
    root = make(tmp_path, {"requirements.txt": "-r base.txt\nnumpy==2.1.0\n", "base.txt": "numpy==2.1.0\n"})
    assert ids(run_pins(root)) == []
