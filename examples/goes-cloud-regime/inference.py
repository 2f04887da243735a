"""Inference for the EarthCODE GOES cloud-regime classifier (demonstration package).

WARNING: the weights shipped with this package are UNTRAINED, deterministic
demonstration weights (see README.md). The predictions are meaningless and must
not be used for science.

Pipeline
--------
1. ``preprocess``: raw GOES ABI tiles in physical units, shape (N, 4, 128, 128),
   channel order ``CHANNEL_NAMES`` -> per-channel ``(x - MEAN) / STD`` -> every
   non-finite value (NaN = nodata, +/-inf) set to 0.0 *after* normalisation
   (i.e. to the channel mean) -> float32, C-contiguous.
2. ``load_model`` (PyTorch, ``model.safetensors`` loaded into ``model.CloudRegimeCNN``)
   or ``load_onnx_session`` (ONNX Runtime, ``model.onnx``): the same network, logits
   over six classes.
3. ``postprocess``: softmax over the class axis -> probabilities, predicted
   class names from ``labels.json``.

Run ``python inference.py`` from this folder: it runs the whole pipeline on the
bundled test scene and prints class names with probabilities. Only files in this
folder are read; no network access, no credentials, no absolute paths.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

PACKAGE_DIR = Path(__file__).resolve().parent

# ---------------------------------------------------------------------------
# Model contract (must match README.md, labels.json and model.safetensors metadata)
# ---------------------------------------------------------------------------
MODEL_ID = "earthcode-goes-cloud-regime-classifier-demo"
VERSION = "v0.1.0"
ARCHITECTURE = "CloudRegimeCNN"  # class of model.py; plain PyTorch, no timm or torchvision

CHANNEL_NAMES = ("BT15_minus_BT14", "BT14_minus_BT11", "BT14", "COD")
CHANNEL_UNITS = ("K", "K", "K", "1")
NUM_CHANNELS = len(CHANNEL_NAMES)
NUM_CLASSES = 6
TILE_SIZE = 128
INPUT_SHAPE = ("N", NUM_CHANNELS, TILE_SIZE, TILE_SIZE)

# Per-channel normalisation constants, in the units of CHANNEL_UNITS, applied as
# (x - MEAN) / STD. They are fixed demonstration values chosen to be typical of
# marine low-cloud scenes; they were NOT estimated from a training set.
MEAN = np.array([-1.5, 1.0, 285.0, 8.0], dtype=np.float32)
STD = np.array([1.0, 1.5, 10.0, 10.0], dtype=np.float32)
NODATA_FILL = 0.0  # value given to non-finite pixels after normalisation

LABELS_FILE = "labels.json"
WEIGHTS_FILE = "model.safetensors"
ONNX_FILE = "model.onnx"
TEST_RAW_FILE = "test_data/raw_0.npy"  # physical units, contains NaN nodata
TEST_INPUT_FILE = "test_data/input_0.npy"  # = preprocess(raw_0), model-ready
TEST_OUTPUT_FILE = "test_data/output_0.npy"  # PyTorch logits for input_0


def _resolve(path: str | Path) -> Path:
    """Relative paths are taken relative to this package folder."""
    p = Path(path)
    return p if p.is_absolute() else PACKAGE_DIR / p


def load_labels(path: str | Path = LABELS_FILE) -> list[str]:
    """Class names in output order (index i of the logits is class ``labels[i]``)."""
    labels = json.loads(_resolve(path).read_text(encoding="utf-8"))
    if not isinstance(labels, list) or len(labels) != NUM_CLASSES:
        raise ValueError(f"{path}: expected a JSON list of {NUM_CLASSES} class names")
    return [str(name) for name in labels]


# ---------------------------------------------------------------------------
# Preprocessing
# ---------------------------------------------------------------------------
def preprocess(raw: np.ndarray) -> np.ndarray:
    """Turn raw tiles (N, 4, 128, 128) in physical units into model input.

    Exact operations, per channel c in CHANNEL_NAMES order:
        x[:, c] = (raw[:, c] - MEAN[c]) / STD[c]
        x[~isfinite(x)] = 0.0        # nodata (NaN) and +/-inf -> channel mean
    A single tile (4, 128, 128) is accepted and given a batch axis.
    """
    x = np.asarray(raw, dtype=np.float32)
    if x.ndim == 3:
        x = x[np.newaxis]
    if x.ndim != 4 or x.shape[1:] != (NUM_CHANNELS, TILE_SIZE, TILE_SIZE):
        raise ValueError(
            f"expected shape (N, {NUM_CHANNELS}, {TILE_SIZE}, {TILE_SIZE}) "
            f"with channels {CHANNEL_NAMES}, got {x.shape}"
        )
    x = (x - MEAN[None, :, None, None]) / STD[None, :, None, None]
    x = np.where(np.isfinite(x), x, np.float32(NODATA_FILL))
    return np.ascontiguousarray(x, dtype=np.float32)


def synthetic_scene(seed: int = 0, batch: int = 1) -> np.ndarray:
    """A deterministic, physically plausible raw scene (physical units) with a
    NaN nodata block in the COD channel (COD is undefined for clear sky)."""
    rng = np.random.default_rng(seed)
    shape = (batch, TILE_SIZE, TILE_SIZE)
    raw = np.empty((batch, NUM_CHANNELS, TILE_SIZE, TILE_SIZE), dtype=np.float32)
    raw[:, 0] = rng.normal(-1.5, 1.0, shape)  # BT15 - BT14 [K]
    raw[:, 1] = rng.normal(1.0, 1.5, shape)  # BT14 - BT11 [K]
    raw[:, 2] = rng.normal(285.0, 10.0, shape)  # BT14 [K]
    raw[:, 3] = np.abs(rng.normal(8.0, 10.0, shape))  # COD [1]
    raw[:, 3, 8:24, 100:120] = np.nan  # clear-sky / nodata patch
    return raw


# ---------------------------------------------------------------------------
# PyTorch path (needs torch and safetensors)
# ---------------------------------------------------------------------------
def build_model():
    """The architecture (``model.CloudRegimeCNN``), with random (not loaded) weights."""
    from model import CloudRegimeCNN

    return CloudRegimeCNN(in_chans=NUM_CHANNELS, num_classes=NUM_CLASSES)


def load_model(weights_path: str | Path = WEIGHTS_FILE):
    """Factory: the torch ``nn.Module`` with ``model.safetensors`` loaded strictly,
    in eval mode on the CPU."""
    from safetensors.torch import load_file

    model = build_model()
    state_dict = load_file(str(_resolve(weights_path)), device="cpu")
    model.load_state_dict(state_dict, strict=True)
    model.eval()
    return model


def predict_torch(model, x: np.ndarray) -> np.ndarray:
    """Logits (N, 6) for preprocessed input ``x`` (N, 4, 128, 128) float32."""
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()


# ---------------------------------------------------------------------------
# ONNX path (needs only onnxruntime and numpy)
# ---------------------------------------------------------------------------
def load_onnx_session(onnx_path: str | Path = ONNX_FILE):
    """An ONNX Runtime CPU session for ``model.onnx`` (input "input", output "logits")."""
    import onnxruntime as ort

    return ort.InferenceSession(str(_resolve(onnx_path)), providers=["CPUExecutionProvider"])


def predict_onnx(session, x: np.ndarray) -> np.ndarray:
    """Logits (N, 6) for preprocessed input ``x`` (N, 4, 128, 128) float32."""
    (logits,) = session.run(["logits"], {"input": np.ascontiguousarray(x, dtype=np.float32)})
    return logits


# ---------------------------------------------------------------------------
# Postprocessing
# ---------------------------------------------------------------------------
def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def postprocess(logits: np.ndarray, labels: list[str] | None = None) -> list[dict]:
    """Per sample: predicted class and the probability of every class."""
    labels = labels if labels is not None else load_labels()
    probs = softmax(np.asarray(logits, dtype=np.float64))
    results = []
    for row in probs:
        best = int(row.argmax())
        results.append(
            {
                "predicted_index": best,
                "predicted_class": labels[best],
                "probabilities": {name: float(p) for name, p in zip(labels, row)},
            }
        )
    return results


def default_input() -> tuple[np.ndarray, str]:
    """Model-ready input for ``main`` and its description: the bundled raw test
    scene (preprocessed here), else the bundled model-ready tensor, else a
    deterministic synthetic scene (preprocessed here)."""
    raw_path, input_path = _resolve(TEST_RAW_FILE), _resolve(TEST_INPUT_FILE)
    if raw_path.exists():
        return preprocess(np.load(raw_path)), f"{TEST_RAW_FILE} (preprocessed)"
    if input_path.exists():
        return np.load(input_path).astype(np.float32), f"{TEST_INPUT_FILE} (model-ready)"
    return preprocess(synthetic_scene()), "synthetic scene, seed 0 (preprocessed)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", help="a .npy file of shape (N,4,128,128) or (4,128,128)")
    parser.add_argument(
        "--preprocessed",
        action="store_true",
        help="--input is already normalised (skip preprocess)",
    )
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch")
    parser.add_argument("--weights", default=WEIGHTS_FILE)
    parser.add_argument("--onnx-model", default=ONNX_FILE)
    args = parser.parse_args(argv)

    if args.input:
        data = np.load(args.input)
        x = data.astype(np.float32) if args.preprocessed else preprocess(data)
        source = args.input
    else:
        x, source = default_input()
    if x.ndim == 3:
        x = x[np.newaxis]

    if args.backend == "torch":
        logits = predict_torch(load_model(args.weights), x)
    else:
        logits = predict_onnx(load_onnx_session(args.onnx_model), x)

    print(f"{MODEL_ID} {VERSION} ({args.backend}) on {source}")
    print("NOTE: untrained demonstration weights - predictions are meaningless.")
    for i, result in enumerate(postprocess(logits, load_labels())):
        print(f"sample {i}: {result['predicted_class']}")
        for name, p in result["probabilities"].items():
            print(f"  {name:<17} {p:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
