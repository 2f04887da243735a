"""Builders of small model packages for the parity and inference tests, and the environments
they run in.

The packages are real: a small pure-torch CNN (or, for the GOES layout, a stem-swapped timm
resnet) whose weights are saved with safetensors and whose ONNX graph is exported by torch. The
artefacts are made by a generator script run with the package ENVIRONMENT's Python (the test
process, like model-check, never imports torch).

Environments come from model-check's own venv builder (uv, cached across runs):
- LIGHT: torch 2.13.0 (the CPU wheel on this machine), numpy, onnx, onnxruntime, safetensors;
- NUMPY_ONLY: numpy alone (no onnxruntime, no torch), for the "model-check's onnxruntime" path;
- TIMM_RUNTIME: torch 2.14.1, torchvision 0.29.1, timm (about 5.5 GB), for the GOES layout.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat

from validator.core.options import Options
from validator.readers.package import ModelPackage
from validator.readers.runtime_spec import read_runtime
from validator.runtime.environments.builder import BuildFailure
from validator.runtime.environments.venv import VenvBuilder, VenvEnv

LIGHT = "torch==2.13.0\nnumpy==2.4.6\nonnx==1.23.2\nonnxruntime==1.32.0\nsafetensors==0.8.0\n"
NUMPY_ONLY = "numpy==2.4.6\n"
# timm's runtime for the GOES layout: on this machine timm needs torch 2.14.1 with torchvision 0.29.1
# (PyPI's torchvision does not import beside the local CPU torch 2.13.0). A `pip freeze` of a clean
# venv holding them, the CUDA libraries included: about 5.5 GB installed.
TIMM_RUNTIME = """\
anyio==4.16.0
click==8.5.1
cuda-bindings==13.5.0
cuda-pathfinder==1.9.0
cuda-toolkit==13.0.3.0
filelock==4.2.12
flatbuffers==25.12.19
fsspec==2026.9.0
h11==0.16.0
hf-xet==1.8.0
httpcore2==2.16.2
httpx2==2.16.2
huggingface_hub==2.4.0
idna==3.20
Jinja2==3.1.6
MarkupSafe==3.0.4
ml_dtypes==0.6.0
mpmath==1.3.0
networkx==3.6.1
numpy==2.4.6
nvidia-cublas==13.1.1.3
nvidia-cuda-cupti==13.0.85
nvidia-cuda-nvrtc==13.0.88
nvidia-cuda-runtime==13.0.96
nvidia-cudnn-cu13==9.24.0.43
nvidia-cufft==12.0.0.61
nvidia-cufile==1.15.1.6
nvidia-curand==10.4.0.35
nvidia-cusolver==12.0.4.66
nvidia-cusparse==12.6.3.3
nvidia-cusparselt-cu13==0.8.1
nvidia-nccl-cu13==2.30.7
nvidia-nvjitlink==13.5.37
nvidia-nvshmem-cu13==3.4.5
nvidia-nvtx==13.0.85
onnx==1.23.2
onnxruntime==1.32.0
packaging==26.3
pillow==13.0.0
protobuf==7.36.2
PyYAML==6.0.3
safetensors==0.8.0
sympy==1.14.0
timm==1.0.31
torch==2.14.1
torchvision==0.29.1
tqdm==4.70.1
triton==3.8.0
truststore==0.10.5
typing_extensions==4.16.0
"""

# The tiny network, as source, shared by the generator and the package's inference.py.
TINY_NET = '''
import torch
from torch import nn


class TinyNet(nn.Module):
    """4 input channels, 3 classes."""

    def __init__(self, width: int = 8, in_chans: int = 4, num_classes: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, width, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.fc(self.pool(torch.relu(self.bn1(self.conv1(x)))).flatten(1))
'''

README = """# Tiny test model

| Field | Value |
| --- | --- |
| Model name | Tiny test model |
| Version | v0.0.1 |
| License | Apache-2.0 |

## Inputs

| Field | Value |
| --- | --- |
| Input shape | `{shape}` |
| Data type | float32 |

## How to run inference

```bash
python inference.py
```
"""

GENERATOR = '''
import json, sys
import numpy as np
import torch
from safetensors.torch import save_file

config = json.loads(sys.argv[1])
torch.manual_seed(0)
{build}
model.eval()
with torch.no_grad():
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
state = {{k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}}
if config["weights"]:
    save_file(state, "model.safetensors", metadata=config["metadata"])
exported = model
if config["onnx_noise"]:
    with torch.no_grad():
        for p in exported.parameters():
            p.add_(config["onnx_noise"] * torch.randn_like(p))
if config["onnx"]:
    torch.onnx.export(exported, torch.zeros((1, *config["shape"][1:])), "model.onnx", input_names=["input"],
                      output_names=["logits"], dynamic_axes={{"input": {{0: "batch"}}, "logits": {{0: "batch"}}}},
                      opset_version=17, dynamo=False)
if config["test_vectors"]:
    model.load_state_dict(state)
    x = np.random.default_rng(7).standard_normal((1, *config["shape"][1:])).astype(np.float32)
    import os
    os.makedirs("test_data", exist_ok=True)
    np.save("test_data/input_0.npy", x)
    with torch.no_grad():
        np.save("test_data/output_0.npy", model(torch.from_numpy(x)).numpy())
'''

TINY_BUILD = TINY_NET + "\nmodel = TinyNet()\n"

TINY_INFERENCE = TINY_NET + '''
from safetensors.torch import load_file


def load_model(weights_path="model.safetensors"):
    model = TinyNet(width={width})
    model.load_state_dict(load_file(weights_path), strict=True)
    return model.eval()


if __name__ == "__main__":
    import numpy as np

{main}
'''

DEFAULT_MAIN = '''    model = load_model()
    x = np.load("test_data/input_0.npy") if __import__("os").path.exists("test_data/input_0.npy") else np.zeros((1, 4, 16, 16), np.float32)
    with torch.no_grad():
        print("logits", model(torch.from_numpy(x)).numpy().round(4).tolist())
'''

# The real GOES layout (EARTHCODE.md): a timm resnet-d whose deep stem is replaced by one 7x7 conv.
GOES_BUILD = '''
import timm
model = timm.create_model("resnet18d", pretrained=False, in_chans=4, num_classes=6)
model.conv1 = torch.nn.Conv2d(4, 64, 7, 2, 3, bias=False)
'''

GOES_INFERENCE = '''
import timm
import torch
from safetensors.torch import load_file


def load_model(weights_path="model.safetensors"):
    """resnet18d with its deep stem swapped for a single 4-channel conv, as the real GOES model."""
    model = timm.create_model("resnet18d", pretrained=False, in_chans=4, num_classes=6)
    model.conv1 = torch.nn.Conv2d(4, 64, 7, 2, 3, bias=False)
    model.load_state_dict(load_file(weights_path), strict=True)
    return model.eval()


if __name__ == "__main__":
    print(load_model()(torch.zeros(1, 4, 64, 64)).shape)
'''


def build_env(root: Path, requirements: str) -> VenvEnv:
    """The cached environment for `requirements`, built with model-check's venv builder."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "requirements.txt").write_text(requirements, encoding="utf-8")
    pkg = ModelPackage(root)
    try:
        env = VenvBuilder().build(pkg, read_runtime(pkg), Options())
    finally:
        pkg.close()
    if isinstance(env, BuildFailure):
        raise RuntimeError(f"environment did not build: {env.reason}\n{env.output_tail}")
    return env


def generate(root: Path, python: str | Path, build: str, config: dict[str, Any]) -> None:
    """Run the generator with the environment's Python in `root` (trusted test code, not sandboxed)."""
    script = root / "_generate.py"
    script.write_text(GENERATOR.format(build=textwrap.indent(textwrap.dedent(build), "")), encoding="utf-8")
    done = subprocess.run([str(python), script.name, json.dumps(config)], check=False, cwd=root, capture_output=True, text=True,
                          timeout=600)
    script.unlink()
    if done.returncode != 0:
        raise RuntimeError(f"generator failed:\n{done.stderr[-3000:]}")


def tiny_package(root: Path, python: str | Path, *, requirements: str = LIGHT, onnx_noise: float = 0.0,
                 factory_width: int | None = 8, architecture: str | None = None, main: str = DEFAULT_MAIN,
                 inference: str | None = None, weights: bool = True, onnx: bool = True, test_vectors: bool = True,
                 notebook: Sequence[str] | None = None) -> Path:
    """A package of TinyNet (N,4,16,16 -> 3 logits). `factory_width` other than 8 builds a wrong
    architecture in inference.py; None leaves inference.py without a factory."""
    root.mkdir(parents=True, exist_ok=True)
    shape = [None, 4, 16, 16]
    (root / "README.md").write_text(README.format(shape="N,4,16,16"), encoding="utf-8")
    (root / "requirements.txt").write_text(requirements, encoding="utf-8")
    if inference is None:
        inference = (TINY_INFERENCE.format(width=factory_width, main=main) if factory_width is not None
                     else "print('no factory here')\n")
    (root / "inference.py").write_text(inference, encoding="utf-8")
    metadata = {"model_id": "tiny", "version": "v0.0.1", "input_shape": "N,4,16,16"}
    if architecture:
        metadata["architecture"] = architecture
    generate(root, python, TINY_BUILD, {"weights": weights, "onnx": onnx, "onnx_noise": onnx_noise,
                                        "test_vectors": test_vectors, "metadata": metadata, "shape": shape})
    if notebook is not None:
        write_notebook(root / "example_inference.ipynb", notebook)
    return root


def goes_layout_package(root: Path, python: str | Path, requirements: str) -> Path:
    """The real GOES model's layout: a factory that swaps the stem, metadata that says timm.resnet18d."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "README.md").write_text(README.format(shape="N,4,64,64"), encoding="utf-8")
    (root / "requirements.txt").write_text(requirements, encoding="utf-8")
    (root / "inference.py").write_text(GOES_INFERENCE, encoding="utf-8")
    metadata = {"model_id": "goes-layout", "version": "v0.0.1", "architecture": "timm.resnet18d",
                "input_shape": "N,4,64,64", "class_names": "a,b,c,d,e,f"}
    generate(root, python, GOES_BUILD, {"weights": True, "onnx": True, "onnx_noise": 0.0, "test_vectors": True,
                                        "metadata": metadata, "shape": [None, 4, 64, 64]})
    return root


def write_notebook(path: Path, cells: Sequence[str]) -> None:
    # nbformat has no annotations
    notebook = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    notebook.cells = [nbformat.v4.new_markdown_cell("# Example")] + [nbformat.v4.new_code_cell(c) for c in cells]  # type: ignore[no-untyped-call]
    notebook.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nbformat.write(notebook, str(path))  # type: ignore[no-untyped-call]
