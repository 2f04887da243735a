"""Inference for the EarthCODE Sentinel-2 water segmentation demo (demonstration package).

WARNING: the weights shipped with this package are UNTRAINED, deterministic demonstration
weights (see README.md). The predictions are meaningless and must not be used for science.

Pipeline
--------
1. ``preprocess``: Sentinel-2 L2A digital numbers of bands B02, B03, B04, B08, shape
   (N, 4, H, W), divided by 10000 -> surface reflectance (unit 1), float32. NODATA pixels (0 in
   every band) stay 0.0. The network normalises and masks them itself (``model.WaterUNet``).
2. ``load_model`` (PyTorch, ``model.safetensors`` loaded into ``model.WaterUNet``) or
   ``load_onnx_session`` (ONNX Runtime, ``model.onnx``): outputs ``logits`` (N, 2, H, W) and
   ``water_fraction`` (N, 1, H, W), NaN at nodata pixels.
3. ``postprocess``: arg-max class map (0 not_water, 1 water, 255 nodata) and the water fraction.

Run ``python inference.py`` from this folder. Only files in this folder are read; no network
access, no credentials, no absolute paths.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

PACKAGE_DIR = Path(__file__).resolve().parent

MODEL_ID = "earthcode-s2-water-segmentation-demo"
VERSION = "v0.1.0"
ARCHITECTURE = "WaterUNet"
CHANNEL_NAMES = ("B02", "B03", "B04", "B08")
CHANNEL_UNITS = ("1", "1", "1", "1")
NUM_CHANNELS = len(CHANNEL_NAMES)
NUM_CLASSES = 2
TILE_SIZE = 128
INPUT_SHAPE = ("N", NUM_CHANNELS, TILE_SIZE, TILE_SIZE)
OUTPUT_NAMES = ("logits", "water_fraction")
NODATA = 0.0  # input: a pixel whose four bands are all 0 is nodata (Sentinel-2 L2A NODATA)
CLASS_NODATA = 255  # value of the class map at nodata pixels (postprocess)
DN_SCALE = 10000.0

LABELS_FILE = "labels.json"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
ONNX_FILE = "model.onnx"
TEST_INPUT_FILE = "test_data/input_0.npy"  # model-ready reflectance, with a nodata patch
TEST_OUTPUT_FILE = "test_data/output_0.npy"  # PyTorch logits for input_0


def _resolve(path: str | Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else PACKAGE_DIR / p


def load_config(path: str | Path = CONFIG_FILE) -> dict:
    """The model's declared inputs and outputs (config.json): task words, shapes, units, nodata."""
    return json.loads(_resolve(path).read_text(encoding="utf-8"))


def load_labels(path: str | Path = LABELS_FILE) -> list[str]:
    """Class names in the order of the logits' class axis."""
    labels = json.loads(_resolve(path).read_text(encoding="utf-8"))
    if not isinstance(labels, list) or len(labels) != NUM_CLASSES:
        raise ValueError(f"{path}: expected a JSON list of {NUM_CLASSES} class names")
    return [str(name) for name in labels]


def preprocess(dn: np.ndarray) -> np.ndarray:
    """Sentinel-2 L2A digital numbers (N, 4, H, W) -> reflectance float32; NODATA (0) stays 0."""
    x = np.asarray(dn, dtype=np.float32)
    if x.ndim == 3:
        x = x[np.newaxis]
    if x.ndim != 4 or x.shape[1] != NUM_CHANNELS or x.shape[2] % 2 or x.shape[3] % 2:
        raise ValueError(f"expected shape (N, {NUM_CHANNELS}, H, W) with even H and W, bands {CHANNEL_NAMES}, got {x.shape}")
    return np.ascontiguousarray(x / np.float32(DN_SCALE), dtype=np.float32)


def synthetic_scene(seed: int = 0, batch: int = 1, size: int = TILE_SIZE) -> np.ndarray:
    """Deterministic model-ready reflectance: a 'lake' (low NIR) in a 'field', and a nodata patch."""
    rng = np.random.default_rng(seed)
    x = np.empty((batch, NUM_CHANNELS, size, size), dtype=np.float32)
    for band, (mean, std) in enumerate(((0.06, 0.02), (0.08, 0.02), (0.07, 0.02), (0.25, 0.05))):
        x[:, band] = rng.normal(mean, std, (batch, size, size)).clip(0.001, 1.0)
    yy, xx = np.mgrid[:size, :size]
    lake = (yy - size * 0.6) ** 2 + (xx - size * 0.4) ** 2 < (size * 0.25) ** 2
    x[:, 3][:, lake] = 0.02
    x[:, :, : size // 8, -size // 4 :] = NODATA  # swath edge: nodata in every band
    return x


def build_model():
    """The architecture (``model.WaterUNet``), with random (not loaded) weights."""
    from model import WaterUNet

    return WaterUNet(in_chans=NUM_CHANNELS, num_classes=NUM_CLASSES)


def load_model(weights_path: str | Path = WEIGHTS_FILE):
    """Factory: the torch ``nn.Module`` with ``model.safetensors`` loaded strictly, in eval mode."""
    from safetensors.torch import load_file

    model = build_model()
    model.load_state_dict(load_file(str(_resolve(weights_path)), device="cpu"), strict=True)
    model.eval()
    return model


def predict_torch(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logits, water_fraction) for model-ready reflectance ``x`` (N, 4, H, W)."""
    import torch

    with torch.no_grad():
        logits, fraction = model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    return logits.numpy(), fraction.numpy()


def load_onnx_session(onnx_path: str | Path = ONNX_FILE):
    import onnxruntime as ort

    return ort.InferenceSession(str(_resolve(onnx_path)), providers=["CPUExecutionProvider"])


def predict_onnx(session, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logits, fraction = session.run(list(OUTPUT_NAMES), {"input": np.ascontiguousarray(x, dtype=np.float32)})
    return logits, fraction


def postprocess(logits: np.ndarray) -> np.ndarray:
    """Class map (N, H, W) uint8: arg-max over the class axis, CLASS_NODATA where the logits are NaN."""
    nodata = np.isnan(logits).any(axis=1)
    classes = np.nan_to_num(logits, nan=0.0).argmax(axis=1).astype(np.uint8)
    classes[nodata] = CLASS_NODATA
    return classes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", help="a .npy file of Sentinel-2 L2A digital numbers (N,4,H,W)")
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch")
    args = parser.parse_args(argv)
    if args.input:
        x, source = preprocess(np.load(args.input)), args.input
    elif _resolve(TEST_INPUT_FILE).exists():
        x, source = np.load(_resolve(TEST_INPUT_FILE)).astype(np.float32), TEST_INPUT_FILE
    else:
        x, source = synthetic_scene(), "synthetic scene, seed 0"
    if args.backend == "torch":
        logits, fraction = predict_torch(load_model(), x)
    else:
        logits, fraction = predict_onnx(load_onnx_session(), x)
    classes = postprocess(logits)
    labels = load_labels()
    units = {output["name"]: output["units"] for output in load_config()["outputs"]}
    print(f"{MODEL_ID} {VERSION} ({args.backend}) on {source}")
    print("NOTE: untrained demonstration weights - predictions are meaningless.")
    for i, class_map in enumerate(classes):
        counts = {name: int((class_map == k).sum()) for k, name in enumerate(labels)}
        counts["nodata"] = int((class_map == CLASS_NODATA).sum())
        mean_fraction = float(np.nanmean(fraction[i])) if np.isfinite(fraction[i]).any() else float("nan")
        print(f"sample {i}: pixels per class {counts}, mean water fraction {mean_fraction:.3f} [{units['water_fraction']}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
