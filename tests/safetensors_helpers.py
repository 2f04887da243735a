"""Builders of safetensors files for the tests: valid ones through safetensors.numpy, broken ones by hand."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np
from helpers import EXAMPLE
from safetensors.numpy import save, save_file

# The guideline's example metadata, completed with the keys it lists but does not show.
FULL_METADATA = {
    "model_id": "earthcode-goes-cloud-regime-classifier",
    "version": "v0.1.0",
    "architecture": "timm.resnet50d",
    "input_shape": "N,4,128,128",
    "channel_names": "BT15_minus_BT14,BT14_minus_BT11,BT14,COD",
    "channel_units": "K,K,K,1",
    "class_names": "Solid stratus,Closed MCC,Open MCC,Disorganized MCC,Clustered Cu,Suppressed Cu",
    "license": "Apache-2.0",
    "source_repository": "https://github.com/earthcode-examples/goes-cloud-regime",
    "training_data": "https://doi.org/10.5281/zenodo.0000000",
}


def frame(header: bytes | str | dict[str, Any], data: bytes = b"", length: int | None = None) -> bytes:
    """8-byte little-endian length + header + data; `length` overrides the true header length."""
    if isinstance(header, dict):
        header = json.dumps(header, separators=(",", ":"))
    if isinstance(header, str):
        header = header.encode("utf-8")
    return struct.pack("<Q", len(header) if length is None else length) + header + data


def entry(dtype: object, shape: list[Any], begin: Any, end: Any) -> dict[str, Any]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def valid_tensors() -> dict[str, np.ndarray]:
    return {
        "backbone.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
        "head.bias": np.zeros(6, dtype=np.float32),
        "head.steps": np.array([1, 2], dtype=np.int64),
    }


def write_valid(path: Path, metadata: dict[str, str] | None = None) -> Path:
    save_file(valid_tensors(), str(path), metadata=metadata)
    return path


def valid_bytes(metadata: dict[str, str] | None = None) -> bytes:
    return save(valid_tensors(), metadata=metadata)


def split(raw: bytes) -> tuple[dict[str, Any], bytes]:
    """The header (parsed) and the data buffer of a safetensors file's bytes."""
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + length]), raw[8 + length :]


def make_package(root: Path, weights: bytes | None = None) -> Path:
    """A copy of the example package (without its ONNX graph, to keep runs fast); `weights`
    replaces model.safetensors."""
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("model.onnx", "__pycache__"))
    if weights is not None:
        (root / "model.safetensors").write_bytes(weights)
    return root


def minimal_package(root: Path, weights: bytes) -> Path:
    """The example's model card and a model.safetensors: enough for the CLI, quick to check."""
    root.mkdir(parents=True)
    shutil.copy(EXAMPLE / "README.md", root / "README.md")
    (root / "model.safetensors").write_bytes(weights)
    return root


def write_big_header(path: Path, tensors: int = 1_000_000, header_bytes: int = 99_000_000) -> None:
    """A valid file whose header holds `tensors` one-byte U8 tensors, space-padded to `header_bytes`."""
    width = 38  # tensor names long enough to bring a million entries near 99 MB
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", header_bytes))
        written = handle.write(b"{")
        for start in range(0, tensors, 10_000):
            chunk = ",".join(
                f'"{i:0{width}d}":{{"dtype":"U8","shape":[1],"data_offsets":[{i},{i + 1}]}}'
                for i in range(start, min(start + 10_000, tensors))
            )
            written += handle.write(("," if start else "").encode() + chunk.encode())
        written += handle.write(b"}")
        if written > header_bytes:
            raise ValueError(f"header of {written} bytes exceeds {header_bytes}")
        handle.write(b" " * (header_bytes - written))
        handle.write(b"\x00" * tensors)
