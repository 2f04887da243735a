"""Runtime completeness, statically (MC385): the modules inference.py, the notebooks and the package's own
modules import (read with ast, never run), resolved against what the runtime files install.

Fixtures are self-written and reproduce the forms of the study (docs/research/real-packages.md §4
"Imports not covered", §5 ideas 47, 50-52)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import findings, run_static

from validator.readers.imports import import_candidates, provided_by, read_imports
from validator.readers.package import ModelPackage

RUNTIME = "runtime"
RULE = "MC385"


def make_package(root: Path, files: dict[str, str]) -> Path:
    """A minimal package: README, a pinned requirements.txt and the given files."""
    root.mkdir(parents=True, exist_ok=True)
    defaults = {"README.md": "# Acme Mask\n\nA cloud mask.\n", ".python-version": "3.11\n",
                "requirements.txt": "numpy==2.4.6\nonnxruntime==1.32.0\n"}
    for rel, text in {**defaults, **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def notebook(*cells: str, markdown_first: bool = True) -> str:
    """An nbformat 4 notebook, indented as Jupyter writes it (one source line per list item)."""
    body: list[dict[str, Any]] = [{"cell_type": "markdown", "metadata": {}, "source": ["# Demo\n"]}] if markdown_first else []
    for cell in cells:
        lines = cell.splitlines(keepends=True)
        body.append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": lines})
    return json.dumps({"cells": body, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1) + "\n"


def import_findings(root: Path) -> list[dict[str, Any]]:
    return findings(run_static(root, only=[RUNTIME]), rule=RULE)


def test_example_package_imports_are_all_declared(example_pkg: Path) -> None:
    assert import_findings(example_pkg) == []


def test_inference_importing_an_undeclared_module_names_module_and_file_line(tmp_path: Path) -> None:
    root = make_package(tmp_path / "pkg", {"inference.py": "import numpy as np\nimport onnxruntime\n\nimport rasterio\n"})
    found = import_findings(root)
    assert [(f["file"], f["line"], f["severity"]) for f in found] == [("inference.py", 4, "warning")]
    assert "`import rasterio`" in found[0]["message"] and "inference.py:4" in found[0]["message"]
    assert "requirements.txt" in found[0]["message"]


def test_one_finding_per_module_listing_every_importer(tmp_path: Path) -> None:
    root = make_package(tmp_path / "pkg", {
        "inference.py": "import geo_utils\nimport xarray\n",
        "geo_utils.py": "import xarray as xr\nfrom xarray import DataArray\n",
    })
    found = import_findings(root)
    assert len(found) == 1
    assert all(place in found[0]["message"] for place in ("inference.py:2", "geo_utils.py:1", "geo_utils.py:2"))


def test_importing_locations_are_capped(tmp_path: Path) -> None:
    root = make_package(tmp_path / "pkg", {"inference.py": "".join(f"import zarr  # {n}\n" for n in range(9))})
    [finding] = import_findings(root)
    assert "and 4 more" in finding["message"]


@pytest.mark.parametrize(("module", "requirement"), [
    ("sklearn", "scikit-learn==1.5.2"),
    ("PIL", "Pillow==11.0.0"),
    ("cv2", "opencv-python-headless==4.10.0.84"),
    ("yaml", "PyYAML==6.0.2"),
    ("skimage", "scikit-image==0.24.0"),
    ("osgeo", "GDAL==3.9.2"),
    ("dateutil", "python-dateutil==2.9.0"),
    ("pystac_client", "pystac-client==0.8.3"),
    ("google.cloud.storage", "google-cloud-storage==2.18.2"),
    ("onnxruntime", "onnxruntime-gpu==1.20.1"),
])
def test_import_names_that_differ_from_the_distribution_name(tmp_path: Path, module: str, requirement: str) -> None:
    root = make_package(tmp_path / "pkg", {"inference.py": f"import {module}\n",
                                           "requirements.txt": f"{requirement}\n"})
    assert import_findings(root) == []


@pytest.mark.parametrize(("statement", "requirement"), [
    ("from google.cloud import storage", "google-cloud-storage==2.18.2"),
    ("from azure.storage import blob", "azure-storage-blob==12.23.1"),
])
def test_a_namespace_package_imported_with_from_is_provided_by_its_distribution(
        tmp_path: Path, statement: str, requirement: str) -> None:
    """Seen on a real package: `from google.cloud import storage` with google-cloud-storage pinned."""
    root = make_package(tmp_path / "pkg", {"inference.py": statement + "\n", "requirements.txt": requirement + "\n"})
    assert import_findings(root) == []
    bare = make_package(tmp_path / "bare", {"inference.py": statement + "\n", "requirements.txt": "numpy==2.1.3\n"})
    assert [f["rule"] for f in import_findings(bare)] == ["MC385"]


def test_conda_names_count(tmp_path: Path) -> None:
    env = ("name: acme\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n  - pytorch=2.4.0\n"
           "  - conda-forge::rasterio=1.4.1\n  - gdal=3.9.2\n  - py-opencv=4.10.0\n  - pip:\n    - timm==1.0.9\n")
    root = make_package(tmp_path / "pkg", {
        "inference.py": "import torch\nimport rasterio\nfrom osgeo import gdal\nimport cv2\nimport timm\n",
        "environment.yml": env})
    (root / "requirements.txt").unlink()
    assert import_findings(root) == []


def test_stdlib_and_future_imports_are_never_reported(tmp_path: Path) -> None:
    code = "from __future__ import annotations\nimport json, os.path, tomllib\nfrom concurrent import futures\n"
    root = make_package(tmp_path / "pkg", {"inference.py": code})
    assert import_findings(root) == []


def test_optional_imports_are_not_reported(tmp_path: Path) -> None:
    code = ("from typing import TYPE_CHECKING\n"
            "try:\n    import rasterio\nexcept ImportError:\n    rasterio = None\n"
            "try:\n    import zarr\nexcept (ModuleNotFoundError, OSError):\n    zarr = None\n"
            "if TYPE_CHECKING:\n    import xarray\n"
            "import sys\nif sys.version_info < (3, 11):\n    import tomli\n")
    root = make_package(tmp_path / "pkg", {"inference.py": code})
    assert import_findings(root) == []


def test_import_in_a_try_that_does_not_catch_import_errors_is_reported(tmp_path: Path) -> None:
    code = "try:\n    import rasterio\nexcept ValueError:\n    pass\n"
    root = make_package(tmp_path / "pkg", {"inference.py": code})
    assert [f["line"] for f in import_findings(root)] == [2]


def test_sibling_modules_and_packages_of_the_package_are_not_reported(tmp_path: Path) -> None:
    """Study idea 52: inference.py importing a module of its own (flat, a package, src/ layout, relative)."""
    root = make_package(tmp_path / "pkg", {
        "inference.py": "import helpers\nfrom acme_mask import model\nfrom acme.io import read\nimport plugins.tiles\n",
        "helpers.py": "from . import nothing_here\n",
        "acme_mask/__init__.py": "",
        "acme_mask/model.py": "from .layers import Block\nfrom ..top import x\n",
        "acme_mask/layers.py": "import numpy\n",
        "src/acme/__init__.py": "",
        "src/acme/io.py": "import json\n",
        "plugins/tiles.py": "",
    })
    code = read_imports(ModelPackage(root))
    assert [s.module for s in code.external] == ["numpy"]
    assert {"helpers.py", "acme_mask/model.py", "acme_mask/layers.py", "src/acme/io.py"} <= set(code.read)
    assert import_findings(root) == []


def test_modules_of_the_package_that_no_entry_point_imports_are_not_read(tmp_path: Path) -> None:
    """A training script's imports (wandb, lightning) are not the runtime's business."""
    root = make_package(tmp_path / "pkg", {"inference.py": "import numpy\n", "train.py": "import wandb\nimport lightning\n",
                                           "tests/test_x.py": "import pytest\n"})
    assert import_findings(root) == []


def test_a_package_module_imported_by_the_entry_point_is_read(tmp_path: Path) -> None:
    root = make_package(tmp_path / "pkg", {"inference.py": "from acme import run\n",
                                           "acme/__init__.py": "from acme.core import run\n",
                                           "acme/core.py": "import einops\n\ndef run():\n    pass\n"})
    [finding] = import_findings(root)
    assert finding["file"] == "acme/core.py" and finding["line"] == 1 and "einops" in finding["message"]


def test_notebook_imports_name_the_cell_and_line(tmp_path: Path) -> None:
    """Study idea 51: a notebook importing modules only a dev dependency group installs."""
    nb = notebook("%matplotlib inline\n!pip install pystac-client\nimport numpy as np\n",
                  "import matplotlib.pyplot as plt\nfrom pystac_client import Client\n")
    pyproject = ('[project]\nname = "acme"\nversion = "1.0.0"\ndependencies = ["numpy"]\n\n'
                 '[dependency-groups]\nnotebooks = ["matplotlib>=3.8", "pystac-client"]\n')
    root = make_package(tmp_path / "pkg", {"demo.ipynb": nb, "pyproject.toml": pyproject,
                                           "requirements.txt": "numpy==2.4.6\n"})
    found = {f["message"].split("`")[1]: f for f in import_findings(root)}
    assert set(found) == {"import matplotlib", "import pystac_client"}
    plot = found["import matplotlib"]
    assert "demo.ipynb cell 3 line 1" in plot["message"] and plot["file"] == "demo.ipynb"
    assert "only in dependency group 'notebooks' of pyproject.toml" in plot["message"]
    text = (root / "demo.ipynb").read_text(encoding="utf-8").splitlines()
    assert "import matplotlib.pyplot" in text[plot["line"] - 1]  # the line in the .ipynb file itself


def test_notebook_magics_and_kernel_modules_are_not_imports(tmp_path: Path) -> None:
    nb = notebook("%load_ext autoreload\n%autoreload 2\nfrom IPython.display import display\nimport numpy\n",
                  "!pip install rasterio\n")
    root = make_package(tmp_path / "pkg", {"demo.ipynb": nb})
    assert import_findings(root) == []


def test_a_notebook_cell_that_is_not_python_is_skipped_without_a_crash(tmp_path: Path) -> None:
    nb = notebook("def broken(:\n", "import zarr\n")
    root = make_package(tmp_path / "pkg", {"demo.ipynb": nb, "bad.ipynb": "{not json", "inference.py": "import (\n"})
    report = run_static(root, only=[RUNTIME])
    assert "MC001" not in {f["rule"] for f in report["findings"]}
    assert [f["file"] for f in findings(report, rule=RULE)] == ["demo.ipynb"]


def test_runtime_deps_only_in_an_extra(tmp_path: Path) -> None:
    """Study idea 50: onnxruntime only in [project.optional-dependencies] cpu; requirements.txt installs
    the project without the extra."""
    pyproject = ('[project]\nname = "acme"\nversion = "1.0.0"\ndependencies = ["numpy==2.4.6"]\n\n'
                 '[project.optional-dependencies]\ncpu = ["onnxruntime==1.20.1"]\ngpu = ["onnxruntime-gpu==1.20.1"]\n')
    files = {"inference.py": "import numpy\nimport onnxruntime\n", "pyproject.toml": pyproject,
             "acme/__init__.py": "", "requirements.txt": "-e .\n"}
    root = make_package(tmp_path / "pkg", files)
    [finding] = import_findings(root)
    assert "only in extra 'cpu' of pyproject.toml; extra 'gpu' of pyproject.toml" in finding["message"]
    (root / "requirements.txt").write_text("-e .[cpu]\n", encoding="utf-8")
    assert import_findings(root) == []


def test_requirements_installing_the_project_count_its_dependencies(tmp_path: Path) -> None:
    """Study idea 47: `-e .` (with a VCS requirement and no final newline) installs pyproject's dependencies."""
    pyproject = '[project]\nname = "acme"\nversion = "1.0.0"\ndependencies = ["xarray>=2024.1"]\n'
    requirements = f"-e .\nukis-pysat @ git+https://github.com/example/ukis-pysat@{'a' * 40}"
    root = make_package(tmp_path / "pkg", {"inference.py": "import xarray\nimport ukis_pysat\n", "pyproject.toml": pyproject,
                                           "requirements.txt": requirements})
    assert import_findings(root) == []


def test_a_dev_requirements_file_is_named(tmp_path: Path) -> None:
    root = make_package(tmp_path / "pkg", {"inference.py": "import matplotlib\n",
                                           "requirements-dev.txt": "pytest==8.3.3\nmatplotlib==3.9.2\n"})
    [finding] = import_findings(root)
    assert "only in requirements-dev.txt" in finding["message"]


def test_an_opaque_base_image_makes_the_finding_info(tmp_path: Path) -> None:
    root = make_package(tmp_path / "pkg", {"inference.py": "import rasterio\n",
                                           "Dockerfile": "FROM example.org/acme/geo-base:1.2\nCOPY . /app\n"})
    (root / "requirements.txt").unlink()
    [finding] = import_findings(root)
    assert finding["severity"] == "info" and "geo-base" in finding["message"]


def test_known_base_images_provide_their_frameworks(tmp_path: Path) -> None:
    root = make_package(tmp_path / "pkg", {"inference.py": "import torch\nimport numpy\n",
                                           "Dockerfile": "FROM pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime\n"})
    (root / "requirements.txt").unlink()
    assert import_findings(root) == []


def test_the_card_inference_command_script_is_an_entry_point(tmp_path: Path) -> None:
    readme = "# Acme Mask\n\n## Inference\n\n```bash\npython predict.py --input scene.tif\n```\n"
    root = make_package(tmp_path / "pkg", {"README.md": readme, "predict.py": "import rasterio\n"})
    assert [f["file"] for f in import_findings(root)] == ["predict.py"]


def test_no_runtime_file_leaves_it_to_mc102(tmp_path: Path) -> None:
    root = make_package(tmp_path / "pkg", {"inference.py": "import rasterio\n"})
    (root / "requirements.txt").unlink()
    assert import_findings(root) == []


def test_candidates_and_provided_by() -> None:
    assert "scikit-learn" in import_candidates("sklearn")
    assert provided_by("torch", ["pytorch"]) == "pytorch"
    assert provided_by("yaml", ["PyYAML"]) == "PyYAML"
    assert provided_by("odc.stac", ["odc-stac"]) == "odc-stac"
    assert provided_by("rasterio", ["numpy", "torch"]) is None


# -- MC386: with a rebuilt environment, its installed files answer --------------------------------
def fake_prefix(root: Path, entries: dict[str, str]) -> Path:
    """A venv-shaped prefix whose site-packages holds `entries` (path -> text)."""
    site = root / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    for rel, text in entries.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text, encoding="utf-8")
    return root


def run_dynamic(pkg_root: Path, prefix: Path) -> Any:
    from validator.checks.runtime_files import RuntimeImportsCheck
    from validator.core.options import Options
    from validator.runtime.environments.builder import BuildInfo
    from validator.runtime.environments.host_env import HostEnv

    env = HostEnv(prefix, BuildInfo("venv", "requirements.txt", "3.11"))
    return RuntimeImportsCheck().run(ModelPackage(pkg_root), Options(env="venv"), env)


def test_importable_modules_are_read_from_site_packages(tmp_path: Path) -> None:
    from validator.runtime.environments.top_level import importable_modules

    editable = tmp_path / "checkout"
    (editable / "ukis_pysat").mkdir(parents=True)
    prefix = fake_prefix(tmp_path / "env", {
        "numpy/__init__.py": "", "six.py": "", "_cffi_backend.cpython-311-x86_64-linux-gnu.so": "",
        "PyYAML-6.0.2.dist-info/top_level.txt": "_yaml\nyaml\n", "PyYAML-6.0.2.dist-info/METADATA": "Name: PyYAML\n",
        "__editable___acme_1_0_finder.py": "MAPPING = {'acme': '/src/acme'}\n",
        "extra.pth": f"{editable}\n", "distutils-precedence.pth": "import os; x = 1\n",
    })
    names = importable_modules(prefix).names
    assert {"numpy", "six", "_cffi_backend", "yaml", "_yaml", "acme", "ukis_pysat"} <= names
    assert not any(name.endswith(("dist-info", "pth")) for name in names)


def test_module_the_environment_lacks_is_mc386_naming_every_importer(tmp_path: Path) -> None:
    root = make_package(tmp_path / "pkg", {"inference.py": "import numpy\nimport rasterio\n",
                                           "demo.ipynb": notebook("import rasterio\n")})
    prefix = fake_prefix(tmp_path / "env", {"numpy/__init__.py": "", "onnxruntime/__init__.py": ""})
    outcome = run_dynamic(root, prefix)
    assert [(f.rule, f.file, f.line, f.severity.value) for f in outcome.findings] == [("MC386", "inference.py", 2, "error")]
    assert "inference.py:2, demo.ipynb cell 2 line 1" in outcome.findings[0].message


def test_module_a_dependency_installed_is_not_mc386(tmp_path: Path) -> None:
    """Declared or not (MC385 is about the runtime file), a module the environment has imports."""
    root = make_package(tmp_path / "pkg", {"inference.py": "import numpy\nimport yaml\nimport acme_local\n",
                                           "acme_local.py": "import json\n"})
    prefix = fake_prefix(tmp_path / "env", {"numpy/__init__.py": "", "yaml/__init__.py": ""})
    assert run_dynamic(root, prefix).findings == []


def test_a_container_environment_is_skipped_with_the_reason(tmp_path: Path) -> None:
    from validator.checks.base import Skip
    from validator.checks.runtime_files import RuntimeImportsCheck
    from validator.core.options import Options

    class Container:
        kind = "docker"

    root = make_package(tmp_path / "pkg", {"inference.py": "import numpy\n"})
    result = RuntimeImportsCheck().run(ModelPackage(root), Options(env="docker"), Container())  # type: ignore[arg-type]
    assert isinstance(result, Skip) and "docker" in result.reason


def test_setup_py_install_requires_count_when_the_runtime_installs_the_project(tmp_path: Path) -> None:
    setup = 'from setuptools import setup\nsetup(name="acme", install_requires=["xarray>=2024.1", "rioxarray"])\n'
    root = make_package(tmp_path / "pkg", {"inference.py": "import xarray\nimport rioxarray\n", "setup.py": setup,
                                           "requirements.txt": "-e .\n"})
    assert import_findings(root) == []


def test_a_computed_install_requires_makes_the_finding_info(tmp_path: Path) -> None:
    setup = 'from setuptools import setup\nsetup(name="acme", install_requires=open("deps.txt").read().split())\n'
    root = make_package(tmp_path / "pkg", {"inference.py": "import xarray\n", "setup.py": setup,
                                           "requirements.txt": "-e .\n"})
    [finding] = import_findings(root)
    assert finding["severity"] == "info" and "setup.py" in finding["message"]


def test_a_dockerfile_installing_the_project_counts_its_dependencies(tmp_path: Path) -> None:
    pyproject = '[project]\nname = "acme"\nversion = "1.0.0"\ndependencies = ["xarray==2024.9.0"]\n'
    docker = "FROM python:3.11.9-slim\nCOPY . /app\nWORKDIR /app\nRUN pip install --no-cache-dir . && rm -rf /root/.cache\n"
    root = make_package(tmp_path / "pkg", {"inference.py": "import xarray\n", "pyproject.toml": pyproject,
                                           "Dockerfile": docker})
    (root / "requirements.txt").unlink()
    assert import_findings(root) == []


def test_a_module_of_the_package_reached_through_a_sys_path_change_is_its_own(tmp_path: Path) -> None:
    code = 'import sys\nsys.path.append("models/unet")\nimport unet_blocks\n'
    root = make_package(tmp_path / "pkg", {"scripts/inference.py": code, "inference.py": code,
                                           "models/unet/unet_blocks.py": "import numpy\n"})
    assert import_findings(root) == []
