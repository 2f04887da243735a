"""Weights not in the package, fetched when its code runs (issue 11, MC120): each download form seen in
real packages, with a self-written fixture. The code is read statically, never run or fetched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from validator.checks.base import Skip
from validator.checks.weight_downloads import WeightDownloadsCheck
from validator.core.findings import Finding
from validator.core.options import Options
from validator.readers.package import ModelPackage
from validator.readers.weight_downloads import find_weight_downloads

COMMIT = "0123456789abcdef0123456789abcdef01234567"
SHA256 = "ab" * 32


def make(root: Path, files: dict[str, str]) -> Path:
    for rel, text in {"README.md": "# tiny\n", **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def check(root: Path) -> list[Finding] | Skip:
    pkg = ModelPackage(root)
    try:
        result = WeightDownloadsCheck().run(pkg, Options(env="none"))
        return result if isinstance(result, Skip) else list(result)
    finally:
        pkg.close()


def one(root: Path) -> Finding:
    found = check(root)
    assert not isinstance(found, Skip), found
    (finding,) = found
    assert finding.rule == "MC120"
    return finding


def notebook(*cells: str) -> str:
    return json.dumps({"cells": [{"cell_type": "code", "source": cell.splitlines(keepends=True), "metadata": {}, "outputs": []}
                                 for cell in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1)


FORMS = {
    "hf_hub_download": ("inference.py", "from huggingface_hub import hf_hub_download\n\npath = hf_hub_download(repo_id='org/tiny', filename='model.safetensors')\n",
                        3, "org/tiny"),
    "from_pretrained": ("inference.py", "import transformers\n\nmodel = transformers.AutoModel.from_pretrained('org/tiny-classifier')\n",
                        3, "org/tiny-classifier"),
    "torch.hub url": ("tiny/model.py", "import torch\n\nURL = 'https://example.org/weights/tiny-v1.pth'\n\ndef load():\n    return torch.hub.load_state_dict_from_url(URL)\n",
                      6, "https://example.org/weights/tiny-v1.pth"),
    "torch.hub.load": ("inference.py", "import torch\nmodel = torch.hub.load('org/tiny-repo', 'tiny', pretrained=True)\n", 2, "org/tiny-repo"),
    "urllib": ("inference.py", "import urllib.request\nurllib.request.urlretrieve('https://example.org/files/tiny.onnx', 'tiny.onnx')\n",
               2, "https://example.org/files/tiny.onnx"),
    "requests f-string": ("inference.py", "import requests\nV = '1'\nr = requests.get(f'https://example.org/release/{V}/model.safetensors')\n",
                          3, "https://example.org/release/{…}/model.safetensors"),
    "gdown": ("tiny/download.py", "import gdown\n\ndef fetch(file_id):\n    gdown.download(f'https://drive.google.com/uc?id={file_id}', 'w.pt')\n",
              4, "https://drive.google.com/uc?id={…}"),
    "url constant": ("tiny/registry.py", "MODELS = {\n    'v1': 'https://example.org/models/tiny_v1.ckpt',\n}\n", 2, "https://example.org/models/tiny_v1.ckpt"),
    "keras get_file": ("inference.py", "import keras\np = keras.utils.get_file('w.h5', origin='https://example.org/model_weights/w.h5')\n",
                       2, "https://example.org/model_weights/w.h5"),
    "Dockerfile wget": ("Dockerfile", "FROM python:3.11-slim\nRUN mkdir /w && \\\n    wget -q http://example.org/model_weights/tiny.hdf5 -O /w/tiny.hdf5\n",
                        3, "http://example.org/model_weights/tiny.hdf5"),
    "shell curl with a variable": ("scripts/get.sh", "#!/bin/sh\nurl=\"https://example.org/releases/trained_models.zip\"\ncurl $url -o m.zip\n",
                                   2, "https://example.org/releases/trained_models.zip"),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_download_form_is_reported(tmp_path: Path, form: str) -> None:
    rel, code, line, source = FORMS[form]
    finding = one(make(tmp_path, {rel: code}))
    assert (finding.file, finding.line, finding.severity.value) == (rel, line, "warning")
    assert source in finding.message and f"{rel}:{line}" in finding.message
    assert "ship model.safetensors" in finding.message and "`revision=`" in finding.message


def test_notebook_cells_python_and_shell(tmp_path: Path) -> None:
    nb = notebook("import numpy as np\n", "!wget https://huggingface.co/org/tiny/resolve/main/tiny.onnx\n",
                  "from huggingface_hub import snapshot_download\nsnapshot_download('org/tiny')\n")
    pkg = ModelPackage(make(tmp_path, {"example.ipynb": nb}))
    try:
        found = find_weight_downloads(pkg)
    finally:
        pkg.close()
    assert sorted((d.how, d.source) for d in found) == [
        ("snapshot_download", "org/tiny"), ("wget", "https://huggingface.co/org/tiny/resolve/main/tiny.onnx")]
    assert all(d.line for d in found)


@pytest.mark.parametrize(("rel", "code"), [
    ("inference.py", f"from huggingface_hub import hf_hub_download\np = hf_hub_download('org/tiny', 'model.safetensors', revision='{COMMIT}')\n"),
    ("inference.py", f"import torch\nsd = torch.hub.load_state_dict_from_url('https://example.org/tiny-{SHA256[:8]}.pth', check_hash=True)\n"),
    ("inference.py", f"import hashlib, urllib.request\nSHA = '{SHA256}'\nurllib.request.urlretrieve('https://example.org/tiny.onnx', 't.onnx')\n"
                     "assert hashlib.sha256(open('t.onnx', 'rb').read()).hexdigest() == SHA\n"),
    ("Dockerfile", f"FROM python:3.11-slim\nRUN wget https://example.org/tiny.onnx && echo '{SHA256}  tiny.onnx' | sha256sum -c -\n"),
    ("inference.py", f"import urllib.request\nurllib.request.urlretrieve('https://huggingface.co/org/tiny/resolve/{COMMIT}/tiny.onnx', 't.onnx')\n"),
])
def test_pinned_download_is_info(tmp_path: Path, rel: str, code: str) -> None:
    finding = one(make(tmp_path, {rel: code}))
    assert finding.severity.value == "info" and "pinned" in finding.message


def test_unpinned_revision_named(tmp_path: Path) -> None:
    code = "from huggingface_hub import hf_hub_download\nhf_hub_download('org/tiny', 'm.safetensors', revision='main')\n"
    finding = one(make(tmp_path, {"inference.py": code}))
    assert finding.severity.value == "warning" and "revision 'main' is not a full commit" in finding.message


@pytest.mark.parametrize("weights", ["model.safetensors", "weights/tiny.onnx"])
def test_package_shipping_weights_is_not_reported(tmp_path: Path, weights: str) -> None:
    code = "from huggingface_hub import hf_hub_download\nhf_hub_download('org/backbone', 'b.safetensors')\n"
    root = make(tmp_path, {"inference.py": code})
    (root / weights).parent.mkdir(parents=True, exist_ok=True)
    (root / weights).write_bytes(b"\x00" * 16)
    assert isinstance(check(root), Skip)


@pytest.mark.parametrize(("rel", "code"), [
    ("inference.py", "import transformers\nm = transformers.AutoModel.from_pretrained('weights/tiny')\n"),  # a folder of the package
    ("inference.py", "import requests\nr = requests.get('https://example.org/data/scene_2024.tif')\n"),  # data, not weights
    ("inference.py", "import requests\nr = requests.get('https://example.org/data/radiance.h5')\n"),  # .h5 without a weight word
    ("tests/test_tiny.py", "import urllib.request\nurllib.request.urlretrieve('https://example.org/tiny.onnx', 't.onnx')\n"),
    ("training/prepare.py", "import urllib.request\nurllib.request.urlretrieve('https://example.org/backbone.pth', 'b.pth')\n"),
    ("inference.py", "def broken(:\n"),  # does not parse: nothing, no traceback
])
def test_not_a_weight_download(tmp_path: Path, rel: str, code: str) -> None:
    files = {rel: code}
    if "weights/tiny" in code:
        files["weights/tiny/config.json"] = "{}"
    assert isinstance(check(make(tmp_path, files)), Skip)


def test_code_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').write('x')\nimport torch\ntorch.hub.load_state_dict_from_url('https://example.org/w.pth')\n"
    one(make(tmp_path / "pkg", {"inference.py": code}))
    assert not marker.exists()


def test_many_downloads_one_finding(tmp_path: Path) -> None:
    code = "URLS = [\n" + "".join(f"    'https://example.org/models/m{i}.pth',\n" for i in range(9)) + "]\n"
    finding = one(make(tmp_path, {"tiny/urls.py": code}))
    assert "and 4 more" in finding.message
