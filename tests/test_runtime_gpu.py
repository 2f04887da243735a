"""MC394 (runtime-gpu-only-pins): GPU-only builds pinned in runtime files and lock files, one finding per
file, and information only when the model card says inference needs a GPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from validator.checks.base import Skip
from validator.checks.runtime_gpu import card_states_gpu
from validator.checks.runtime_pins import RuntimePinsCheck
from validator.core.findings import Finding, Severity
from validator.core.options import Options
from validator.readers.package import ModelPackage

FROZEN_ON_A_GPU = """numpy==2.4.6
torch==2.4.0+cu121
nvidia-cublas-cu12==12.1.3.1
nvidia-cudnn-cu12==9.1.0.70
nvidia-nccl-cu12==2.20.5
triton==3.0.0
"""
UV_LOCK = '''version = 1
requires-python = ">=3.11"

[[package]]
name = "torch"
version = "2.4.0"
source = { registry = "https://pypi.org/simple" }
dependencies = [
    { name = "nvidia-cublas-cu12", marker = "platform_machine == 'x86_64' and sys_platform == 'linux'" },
]

[[package]]
name = "nvidia-cublas-cu12"
version = "12.1.3.1"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "nvidia-cudnn-cu12"
version = "9.1.0.70"
source = { registry = "https://pypi.org/simple" }
'''
PIXI_LOCK = '''version: 6
packages:
- pypi: https://files.pythonhosted.org/packages/ab/cd/nvidia_cublas_cu12-12.1.3.1-py3-none-manylinux1_x86_64.whl
- conda: https://conda.anaconda.org/conda-forge/linux-64/numpy-2.1.0-py311_0.conda
'''


def make(root: Path, files: dict[str, str]) -> Path:
    for rel, text in {"README.md": "# Tiny model\n\nRuns on the CPU.\n", **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def gpu_findings(root: Path) -> list[Finding]:
    pkg = ModelPackage(root)
    try:
        result = RuntimePinsCheck().run(pkg, Options(env="none"))
        assert not isinstance(result, Skip), result
        return [f for f in result if f.rule == "MC394"]
    finally:
        pkg.close()


def test_one_warning_per_file_lists_the_pins_and_points_at_the_first(tmp_path: Path) -> None:
    [finding] = gpu_findings(make(tmp_path, {"requirements.txt": FROZEN_ON_A_GPU}))
    assert finding.severity is Severity.WARNING and (finding.file, finding.line) == ("requirements.txt", 2)
    message = finding.message
    for shown in ("torch==2.4.0+cu121 (line 2, a +cu121 build)", "nvidia-cublas-cu12==12.1.3.1 (line 3)",
                  "nvidia-nccl-cu12==2.20.5 (line 5)", "triton==3.0.0 (line 6)"):
        assert shown in message
    assert "numpy" not in message
    assert "about 3 GB" in message and "CI runners" in message  # the cost
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in message and "--torch-backend cpu" in message  # the fix
    assert "say so in the model card" in message


def test_a_pytorch_cuda_index_alone_is_reported(tmp_path: Path) -> None:
    requirements = "--extra-index-url https://download.pytorch.org/whl/cu121\ntorch==2.4.0\nnumpy==2.4.6\n"
    [finding] = gpu_findings(make(tmp_path, {"requirements.txt": requirements}))
    assert finding.line == 1 and "the PyTorch cu121 index" in finding.message
    old_style = "-f https://download.pytorch.org/whl/cu118/torch_stable.html\ntorch==2.0.1\n"
    [finding] = gpu_findings(make(tmp_path / "old", {"requirements.txt": old_style}))
    assert "--find-links https://download.pytorch.org/whl/cu118/torch_stable.html" in finding.message


@pytest.mark.parametrize("requirements", [
    "torch==2.4.0+cpu\ntorchvision==0.19.0+cpu\n",
    "--extra-index-url https://download.pytorch.org/whl/cpu\ntorch==2.4.0\n",
    "torch==2.4.0\nnvidia-ml-py==12.560.30\n",  # NVML bindings: small, no CUDA build
    "torch==2.4.0\ncudf-polars==24.10\n",
])
def test_cpu_builds_and_look_alikes_are_not_reported(tmp_path: Path, requirements: str) -> None:
    assert gpu_findings(make(tmp_path, {"requirements.txt": requirements})) == []


def test_each_runtime_file_gets_its_own_finding(tmp_path: Path) -> None:
    environment = ("name: gpu\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n  - pytorch=2.4.0\n"
                   "  - pytorch-cuda=12.1\n  - pip\n  - pip:\n    - nvidia-cudnn-cu12==9.1.0.70\n")
    dockerfile = ("FROM nvidia/cuda:12.1.0-runtime-ubuntu22.04\n"
                  "RUN pip install --no-cache-dir torch==2.4.0+cu121 numpy==2.4.6\n")
    found = gpu_findings(make(tmp_path, {"requirements.txt": "torch==2.4.0+cu121\n", "environment.yml": environment,
                                         "Dockerfile": dockerfile}))
    by_file = {str(f.file): f for f in found}
    assert sorted(by_file) == ["Dockerfile", "environment.yml", "requirements.txt"] and len(found) == 3
    assert by_file["environment.yml"].line == 7 and "pytorch-cuda=12.1 (line 7)" in by_file["environment.yml"].message
    assert "nvidia-cudnn-cu12==9.1.0.70 (line 10)" in by_file["environment.yml"].message
    assert "leave out cudatoolkit / pytorch-cuda" in by_file["environment.yml"].message
    docker = by_file["Dockerfile"]
    assert docker.line == 1 and "FROM nvidia/cuda:12.1.0-runtime-ubuntu22.04 (line 1, a CUDA image)" in docker.message
    assert "a +cu121 build" in docker.message and "slim Python image" in docker.message


def test_the_dependencies_of_a_local_project_are_read(tmp_path: Path) -> None:
    pyproject = ('[project]\nname = "tiny"\nversion = "1.0"\ndependencies = [\n  "torch==2.4.0",\n'
                 '  "nvidia-cublas-cu12==12.1.3.1",\n]\n')
    [finding] = gpu_findings(make(tmp_path, {"requirements.txt": "-e .\n", "pyproject.toml": pyproject}))
    assert finding.file == "pyproject.toml" and finding.line == 6 and "nvidia-cublas-cu12==12.1.3.1" in finding.message


def test_lock_files_are_read_as_text(tmp_path: Path) -> None:
    root = make(tmp_path, {"uv.lock": UV_LOCK, "pyproject.toml": '[project]\nname = "tiny"\nversion = "1.0"\n'})
    pkg = ModelPackage(root)
    try:
        ran = RuntimePinsCheck().run(pkg, Options(env="none"))  # the lock is the only pinned runtime (MC390)
    finally:
        pkg.close()
    assert not isinstance(ran, Skip)
    result = list(ran)
    assert [f.rule for f in result] == ["MC390", "MC394"]
    finding = result[1]
    assert finding.file == "uv.lock" and finding.line == 13  # the first nvidia-* package entry
    assert "2 CUDA distributions (nvidia-cublas-cu12, nvidia-cudnn-cu12; first at line 13)" in finding.message
    assert "[tool.uv.sources]" in finding.message and "uv lock" in finding.message
    [pixi] = gpu_findings(make(tmp_path / "pixi", {"pixi.lock": PIXI_LOCK, "pixi.toml": '[workspace]\nname = "t"\n',
                                                   "requirements.txt": "numpy==2.4.6\n"}))
    assert pixi.file == "pixi.lock" and "nvidia-cublas-cu12" in pixi.message and pixi.line == 3


@pytest.mark.parametrize("card, stated", [
    ("## Requirements\n\nInference requires an NVIDIA GPU with CUDA 12.\n", True),
    ("| Field | Value |\n| --- | --- |\n| Hardware requirements | NVIDIA GPU, 16 GB |\n", True),
    ("A CUDA-capable GPU is required for inference.\n", True),
    ("Runs on the CPU; a GPU is optional.\n", False),
    ("Inference does not require a GPU.\n", False),
    ("The model was trained on 4 GPUs; training requires CUDA.\n", False),
    ("A GPU is recommended for large scenes.\n", False),
    ("```bash\n# requires a GPU\npython inference.py\n```\n", False),  # code is not the card's statement
])
def test_the_card_saying_inference_needs_a_gpu_is_recognised(tmp_path: Path, card: str, stated: bool) -> None:
    root = make(tmp_path, {"README.md": f"# Tiny model\n\n{card}"})
    pkg = ModelPackage(root)
    try:
        assert (card_states_gpu(pkg) is not None) is stated
    finally:
        pkg.close()


def test_a_card_that_states_a_gpu_requirement_makes_it_information(tmp_path: Path) -> None:
    readme = "# Tiny model\n\nInference requires an NVIDIA GPU with CUDA 12.1.\n"
    [finding] = gpu_findings(make(tmp_path, {"README.md": readme, "requirements.txt": FROZEN_ON_A_GPU}))
    assert finding.severity is Severity.INFO
    assert "README.md:3" in finding.message and "taken as intended" in finding.message
