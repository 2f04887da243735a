"""GPU-only pins replaced for a CPU build (validator/runtime/environments/cpu_pins.py): the forms found in real
requirements files and environment.yml files, what is left alone, that only a cpu build is rewritten, that
the package is never changed, and that the report lists exactly what was replaced (MC395)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import check_report

from validator.core.options import Options
from validator.pipeline.environment import replaced_findings
from validator.readers.package import ModelPackage
from validator.readers.runtime_spec import read_runtime
from validator.runtime.environments.builder import BuildFailure
from validator.runtime.environments.cpu_pins import (
    CpuPins,
    Replacement,
    environment_for_cpu,
    for_environment,
    for_requirements,
    left_in,
    requirements_for_cpu,
    write_derived,
)
from validator.runtime.environments.docker_recipe import make_recipe
from validator.runtime.environments.pipconfig import PipSettings

# requirements.txt line -> what a CPU build gets (None: dropped; the same text: left alone), torch pinned beside it
REQUIREMENT_FORMS = [
    ("torch==2.5.1+cu121", "torch==2.5.1"),
    ("torchvision==0.20.1+cu121", "torchvision==0.20.1"),
    ("torchaudio===2.5.1+cu118", "torchaudio==2.5.1"),
    ("torch==2.4.0+rocm6.1", "torch==2.4.0"),
    ('torch[opt-einsum]==2.5.1+cu124 ; platform_system == "Linux"', 'torch[opt-einsum]==2.5.1; platform_system == "Linux"'),
    ("torch==2.5.1+cu121 --hash=sha256:" + "0" * 64, "torch==2.5.1"),
    ("nvidia-cudnn-cu12==9.1.0.70", None),
    ("nvidia-cublas-cu12==12.4.5.8", None),
    ("nvidia-nccl-cu13==2.30.7", None),
    ("nvidia-cublas==13.1.1.3", None),
    ("triton==3.1.0", None),
    ("pytorch-triton-rocm==3.1.0", None),
    ("cuda-toolkit==13.0.3", None),
    ("cuda-bindings==13.0.3", None),
    ("--extra-index-url https://download.pytorch.org/whl/cu121", "--extra-index-url https://download.pytorch.org/whl/cpu"),
    ("--extra-index-url=https://download.pytorch.org/whl/nightly/cu126", "--extra-index-url https://download.pytorch.org/whl/nightly/cpu"),
    ("--index-url https://download.pytorch.org/whl/rocm6.2", "--index-url https://download.pytorch.org/whl/cpu"),
    ("-f https://download.pytorch.org/whl/torch_stable.html", "-f https://download.pytorch.org/whl/cpu/torch_stable.html"),
    ("-f https://download.pytorch.org/whl/cu118/torch_stable.html", "-f https://download.pytorch.org/whl/cpu/torch_stable.html"),
    # left alone
    ("torch==2.5.1+cpu", "torch==2.5.1+cpu"),
    ("torch==2.5.1", "torch==2.5.1"),
    ("torch>=2.4", "torch>=2.4"),
    ("nvidia-ml-py==12.560.30", "nvidia-ml-py==12.560.30"),
    ("torch-scatter==2.1.2+pt20cu118", "torch-scatter==2.1.2+pt20cu118"),
    ("mylib==1.0+local", "mylib==1.0+local"),
    ("cupy-cuda12x==13.3.0", "cupy-cuda12x==13.3.0"),
    ("numpy==2.4.6", "numpy==2.4.6"),
    ("--extra-index-url https://download.pytorch.org/whl/cpu", "--extra-index-url https://download.pytorch.org/whl/cpu"),
    ("--extra-index-url https://pypi.example.org/simple", "--extra-index-url https://pypi.example.org/simple"),
]


def package(root: Path, **files: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def requirements_pins(root: Path) -> CpuPins:
    pkg = ModelPackage(root)
    try:
        spec = read_runtime(pkg)
        files = [rel for rel in spec.files_read if rel.endswith(".txt")]
        return for_requirements(pkg, spec, files, "cpu")
    finally:
        pkg.close()


@pytest.mark.parametrize(("line", "expected"), REQUIREMENT_FORMS)
def test_each_real_world_form_becomes_its_cpu_equivalent_or_is_left_alone(tmp_path: Path, line: str,
                                                                         expected: str | None) -> None:
    torch = "" if line.startswith(("torch", "--", "-f")) else "torch==2.5.1\n"
    text = f"{torch}{line}\nsix==1.16.0\n"
    pins = requirements_pins(package(tmp_path / "pkg", **{"requirements.txt": text}))
    if expected == line:
        assert pins.replaced == [] and pins.texts == {}
        return
    assert [(item.line, item.original, item.replacement) for item in pins.replaced] == [(2 if torch else 1, line, expected)]
    derived = pins.texts["requirements.txt"]
    assert derived == f"{torch}{expected + chr(10) if expected is not None else ''}six==1.16.0\n"


def test_a_frozen_gpu_environment_becomes_a_cpu_one_and_the_package_is_unchanged(tmp_path: Path) -> None:
    text = ("# pip freeze on a GPU machine\n"
            "--extra-index-url https://download.pytorch.org/whl/cu121\n"
            "filelock==3.16.1\n"
            "numpy==2.1.3\n"
            "nvidia-cublas-cu12==12.1.3.1\n"
            "nvidia-cuda-runtime-cu12==12.1.105\n"
            "nvidia-cudnn-cu12==9.1.0.70 \\\n"
            "    --hash=sha256:" + "1" * 64 + "\n"
            "torch==2.5.1+cu121\n"
            "torchvision==0.20.1+cu121  # vision models\n"
            "triton==3.1.0\n"
            "-r extra.txt\n")
    root = package(tmp_path / "pkg", **{"requirements.txt": text, "extra.txt": "nvidia-nccl-cu12==2.21.5\nsix==1.16.0\n"})
    pins = requirements_pins(root)
    assert [item.shown() for item in pins.replaced] == [
        "requirements.txt:2: --extra-index-url https://download.pytorch.org/whl/cu121 → --extra-index-url https://download.pytorch.org/whl/cpu",
        "requirements.txt:5: nvidia-cublas-cu12==12.1.3.1 → dropped",
        "requirements.txt:6: nvidia-cuda-runtime-cu12==12.1.105 → dropped",
        f"requirements.txt:7: nvidia-cudnn-cu12==9.1.0.70 --hash=sha256:{'1' * 64} → dropped",
        "requirements.txt:9: torch==2.5.1+cu121 → torch==2.5.1",
        "requirements.txt:10: torchvision==0.20.1+cu121 → torchvision==0.20.1",
        "requirements.txt:11: triton==3.1.0 → dropped",
        "extra.txt:1: nvidia-nccl-cu12==2.21.5 → dropped",
    ]
    assert pins.texts["requirements.txt"] == ("# pip freeze on a GPU machine\n"
                                              "--extra-index-url https://download.pytorch.org/whl/cpu\n"
                                              "filelock==3.16.1\nnumpy==2.1.3\n"
                                              "torch==2.5.1\ntorchvision==0.20.1\n-r extra.txt\n")
    assert pins.texts["extra.txt"] == "six==1.16.0\n"
    assert (root / "requirements.txt").read_text(encoding="utf-8") == text  # the package is never changed
    copy = tmp_path / "copy"
    package(copy, **{"requirements.txt": text})
    (copy / "link.txt").symlink_to(root / "extra.txt")
    write_derived(copy, {**pins.texts, "link.txt": "written\n"})
    assert (copy / "requirements.txt").read_text(encoding="utf-8") == pins.texts["requirements.txt"]
    assert not (copy / "link.txt").is_symlink() and (root / "extra.txt").read_text(encoding="utf-8").startswith("nvidia")


def test_companions_stay_without_torch_or_when_the_code_imports_them(tmp_path: Path) -> None:
    jax = package(tmp_path / "jax", **{"requirements.txt": "jax[cuda12]==0.4.35\nnvidia-cudnn-cu12==9.5.1.17\n"})
    assert requirements_pins(jax).replaced == []  # jax's CUDA libraries, not torch's
    code = package(tmp_path / "code", **{"requirements.txt": "torch==2.5.1+cu121\ntriton==3.1.0\n",
                                         "inference.py": "import torch\nimport triton\n"})
    pins = requirements_pins(code)
    assert [item.original for item in pins.replaced] == ["torch==2.5.1+cu121"]
    assert pins.kept == ["requirements.txt:2: triton==3.1.0 was kept for the CPU build: the package's code imports triton"]


def test_only_a_cpu_build_is_rewritten(tmp_path: Path) -> None:
    root = package(tmp_path / "pkg", **{"requirements.txt": "torch==2.5.1+cu121\nnvidia-cudnn-cu12==9.1.0.70\n"})
    pkg = ModelPackage(root)
    try:
        spec = read_runtime(pkg)
        for backend in (None, "cu126", "rocm6.2"):  # default (the indexes' build), an explicit GPU build
            assert for_requirements(pkg, spec, ["requirements.txt"], backend).replaced == []
        assert len(for_requirements(pkg, spec, ["requirements.txt"], "cpu").replaced) == 2
        assert requirements_for_cpu(pkg, ["requirements.txt"], False, frozenset()).replaced[0].original == "torch==2.5.1+cu121"
    finally:
        pkg.close()


ENVIRONMENT = """name: gpu-model
channels:
  - pytorch
  - nvidia
  - conda-forge
dependencies:
  - python=3.11
  - pytorch=2.1.0=py3.11_cuda12.1_cudnn8.9.2_0
  - torchvision==0.16.0
  - pytorch-cuda=12.1
  - cudatoolkit=11.8
  - numpy=1.26.4
  - pip
  - pip:
    - --extra-index-url https://download.pytorch.org/whl/cu121
    - "nvidia-cudnn-cu12==9.1.0.70"  # pulled by torch
    - onnxruntime==1.20.1
    - -r requirements-pip.txt
"""


def test_environment_yml_conda_dependencies_and_pip_section(tmp_path: Path) -> None:
    root = package(tmp_path / "pkg", **{"environment.yml": ENVIRONMENT, "requirements-pip.txt": "triton==2.1.0\nsix==1.16.0\n"})
    pkg = ModelPackage(root)
    try:
        pins = environment_for_cpu(pkg, "environment.yml", read_runtime(pkg), frozenset())
        assert for_environment(pkg, read_runtime(pkg), "environment.yml", None).replaced == []
    finally:
        pkg.close()
    assert [item.shown() for item in pins.replaced] == [
        "environment.yml:8: pytorch=2.1.0=py3.11_cuda12.1_cudnn8.9.2_0 → pytorch=2.1.0",
        "environment.yml:10: pytorch-cuda=12.1 → cpuonly",
        "environment.yml:11: cudatoolkit=11.8 → dropped",
        "environment.yml:15: --extra-index-url https://download.pytorch.org/whl/cu121 → --extra-index-url https://download.pytorch.org/whl/cpu",
        "environment.yml:16: nvidia-cudnn-cu12==9.1.0.70 → dropped",
        "requirements-pip.txt:1: triton==2.1.0 → dropped",
    ]
    derived = pins.texts["environment.yml"]
    assert "  - pytorch=2.1.0\n  - torchvision==0.16.0\n  - cpuonly\n  - numpy=1.26.4\n" in derived
    assert "    - --extra-index-url https://download.pytorch.org/whl/cpu\n    - onnxruntime==1.20.1\n" in derived
    assert "nvidia" not in derived.split("channels")[1].split("dependencies")[1] and "cudatoolkit" not in derived
    assert pins.texts["requirements-pip.txt"] == "six==1.16.0\n"
    import yaml

    assert yaml.safe_load(derived)["channels"] == ["pytorch", "nvidia", "conda-forge"]  # valid YAML, channels kept


def test_conda_cuda_packages_stay_without_pytorch_and_flow_lists_are_edited(tmp_path: Path) -> None:
    cupy = "name: x\ndependencies:\n  - cupy=13.3.0\n  - cudatoolkit=11.8\n  - pytorch-gpu=2.4.1\n"
    root = package(tmp_path / "pkg", **{"environment.yml": cupy})
    pkg = ModelPackage(root)
    try:
        pins = environment_for_cpu(pkg, "environment.yml", read_runtime(pkg), frozenset())
    finally:
        pkg.close()
    # pytorch-gpu is torch: its cudatoolkit goes too (it came for torch's GPU build)
    assert [item.shown() for item in pins.replaced] == ["environment.yml:4: cudatoolkit=11.8 → dropped",
                                                        "environment.yml:5: pytorch-gpu=2.4.1 → pytorch-cpu=2.4.1"]
    flow = "name: x\ndependencies: [numpy=1.26.4, {pip: [torch==2.5.1+cu121, nvidia-cudnn-cu12==9.1.0.70, six==1.16.0]}]\n"
    package(root, **{"environment.yml": flow})
    pkg = ModelPackage(root)
    try:
        pins = environment_for_cpu(pkg, "environment.yml", read_runtime(pkg), frozenset())
    finally:
        pkg.close()
    import yaml

    assert yaml.safe_load(pins.texts["environment.yml"])["dependencies"] == ["numpy=1.26.4", {"pip": ["torch==2.5.1", "six==1.16.0"]}]


def test_the_finding_lists_exactly_the_replacements_per_file() -> None:
    replaced = (Replacement("requirements.txt", 3, "torch==2.5.1+cu121", "torch==2.5.1", "the cu121 build of torch"),
                Replacement("requirements.txt", 7, "nvidia-cudnn-cu12==9.1.0.70", None, "a CUDA library"),
                Replacement("extra.txt", 1, "triton==3.1.0", None, "a GPU compiler"))
    findings = replaced_findings(replaced)
    assert [(f.rule, f.severity.value, f.file, f.line) for f in findings] == [("MC395", "info", "requirements.txt", 3),
                                                                               ("MC395", "info", "extra.txt", 1)]
    assert ("line 3: `torch==2.5.1+cu121` → `torch==2.5.1` (the cu121 build of torch); line 7: "
            "`nvidia-cudnn-cu12==9.1.0.70` → dropped (a CUDA library)") in findings[0].message
    assert "triton" not in findings[0].message and "(the package's file is unchanged)" in findings[0].message


def test_docker_recipes_build_from_the_derived_files_and_leave_a_packages_own_dockerfile_alone(tmp_path: Path) -> None:
    import io
    import tarfile

    text = "torch==2.5.1+cu121\nnvidia-cudnn-cu12==9.1.0.70\nnumpy==2.4.6\n"
    root = package(tmp_path / "pkg", **{"requirements.txt": text})
    pkg = ModelPackage(root)
    try:
        spec = read_runtime(pkg)
        recipe = make_recipe(pkg, spec, Options(env="docker"), {}, PipSettings())  # auto: cpu in containers
        default = make_recipe(pkg, spec, Options(env="docker", torch_backend="default"), {}, PipSettings())
    finally:
        pkg.close()
    assert not isinstance(recipe, BuildFailure) and not isinstance(default, BuildFailure)
    with tarfile.open(fileobj=io.BytesIO(recipe.context.read())) as archive:
        member = archive.extractfile("requirements.txt")
        assert member is not None and member.read().decode() == "torch==2.5.1\nnumpy==2.4.6\n"
    assert [item.replacement for item in recipe.replaced] == ["torch==2.5.1", None]
    assert any(note.startswith("GPU-only pins replaced for a CPU build (--torch-backend auto, which chose cpu)")
               for note in recipe.notes)
    assert default.replaced == () and default.context_sha256 != recipe.context_sha256
    recipe.close()
    default.close()

    package(root, Dockerfile="FROM python:3.11-slim\nCOPY requirements.txt .\n"
                             "RUN pip install --no-cache-dir -r requirements.txt triton==3.1.0\n")
    pkg = ModelPackage(root)
    try:
        spec = read_runtime(pkg)
        own = make_recipe(pkg, spec, Options(env="docker", torch_backend="cpu"), {}, PipSettings())
        assert left_in(pkg, spec, "cpu")
    finally:
        pkg.close()
    assert not isinstance(own, BuildFailure) and own.replaced == ()
    with tarfile.open(fileobj=io.BytesIO(own.context.read())) as archive:
        member = archive.extractfile("requirements.txt")
        assert member is not None and member.read().decode() == text  # the package's own build: as written
    own.close()
    assert any("does not rewrite it" in note and "requirements.txt:1: torch==2.5.1+cu121" in note
               and "Dockerfile:3: triton==3.1.0" in note for note in own.notes)


def test_reports_carry_the_replacements(tmp_path: Path) -> None:
    from validator.core.findings import Severity
    from validator.core.report import Report

    report = Report(str(tmp_path), None, None, Severity.ERROR)
    report.environment = {"kind": "venv", "python": "3.11", "cache_key": None, "cached": False, "build_s": 1.0,
                          "installed": {}, "torch_backend": "cpu", "notes": [],
                          "cpu_replacements": [{"file": "requirements.txt", "line": 1, "original": "torch==2.5.1+cu121",
                                                "replacement": "torch==2.5.1"},
                                               {"file": "requirements.txt", "line": 2, "original": "triton==3.1.0",
                                                "replacement": None}],
                          "peak_disk_bytes": None}
    check_report(report)


@pytest.mark.slow
def test_a_venv_cpu_build_installs_the_derived_requirements_and_reports_them(tmp_path: Path) -> None:
    """Real uv, real torch: the machine's local CPU wheel satisfies torch==2.13.0 (the PyTorch index is
    unreachable here, so the build falls back to the configured indexes and says so)."""
    from validator.pipeline.runner import run

    text = "torch==2.13.0+cu126\nnvidia-cublas-cu12==12.6.4.1\ntriton==3.5.0\nsix==1.16.0\n"
    root = package(tmp_path / "pkg", **{"requirements.txt": text})
    report = run(root, Options(env="venv", torch_backend="cpu", cache_dir=str(tmp_path / "cache")))
    data = check_report(report)
    environment = data["environment"]
    assert not environment.get("error"), data["findings"]
    assert environment["installed"]["torch"] == "2.13.0+cpu" and environment["installed"]["six"] == "1.16.0"
    assert not any(name.startswith("nvidia-") or name == "triton" for name in environment["installed"])
    assert environment["cpu_replacements"] == [
        {"file": "requirements.txt", "line": 1, "original": "torch==2.13.0+cu126", "replacement": "torch==2.13.0"},
        {"file": "requirements.txt", "line": 2, "original": "nvidia-cublas-cu12==12.6.4.1", "replacement": None},
        {"file": "requirements.txt", "line": 3, "original": "triton==3.5.0", "replacement": None}]
    [finding] = [f for f in data["findings"] if f["rule"] == "MC395"]
    assert finding["file"] == "requirements.txt" and finding["line"] == 1
    assert "line 2: `nvidia-cublas-cu12==12.6.4.1` → dropped" in finding["message"]
    assert any(note.startswith("GPU-only pins replaced for a CPU build (--torch-backend cpu)") for note in environment["notes"])
    assert (root / "requirements.txt").read_text(encoding="utf-8") == text  # the package is unchanged

    again = run(root, Options(env="venv", torch_backend="cpu", cache_dir=str(tmp_path / "cache")))
    assert again.environment is not None and again.environment["cached"] is True  # the key covers the replacements
    fresh = run(root, Options(env="venv", torch_backend="cpu", cache_dir=str(tmp_path / "cache"), fresh_env=True))
    assert fresh.environment is not None and fresh.environment["cached"] is False
    assert any(note.startswith("--fresh-env: the cached environment") for note in fresh.environment["notes"])
