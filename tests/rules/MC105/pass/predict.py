"""Inference for the tiny scene classifier of model-check's rule examples.

The weights are untrained, seeded demonstration weights: the predictions mean nothing.

    python inference.py

loads model.safetensors strictly into TinyNet, runs it on test_data/input_0.npy and prints the
class probabilities. Only files of this folder are read; no network.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

HERE = Path(__file__).resolve().parent
CHANNELS = ("red", "green", "blue", "nir")
MEAN = np.array([0.1, 0.1, 0.1, 0.2], dtype=np.float32)
STD = np.array([0.05, 0.05, 0.05, 0.1], dtype=np.float32)


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


def preprocess(raw: np.ndarray) -> np.ndarray:
    """Reflectances (N,4,16,16) to model input: (x - MEAN) / STD per channel, NaN (nodata) to 0."""
    x = (np.asarray(raw, dtype=np.float32) - MEAN[None, :, None, None]) / STD[None, :, None, None]
    return np.where(np.isfinite(x), x, np.float32(0.0)).astype(np.float32)


def load_model(weights_path: str = "model.safetensors") -> nn.Module:
    model = TinyNet()
    model.load_state_dict(load_file(str(HERE / weights_path)), strict=True)
    return model.eval()


def main() -> int:
    labels = json.loads((HERE / "labels.json").read_text(encoding="utf-8"))
    x = np.load(HERE / "test_data" / "input_0.npy")
    with torch.no_grad():
        probabilities = torch.softmax(load_model()(torch.from_numpy(x)), dim=1).numpy()
    for row in probabilities:
        print(", ".join(f"{name}: {p:.3f}" for name, p in zip(labels, row)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
