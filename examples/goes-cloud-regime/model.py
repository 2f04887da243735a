"""The network of the EarthCODE GOES cloud-regime classifier (demonstration package).

``CloudRegimeCNN`` is a small convolutional classifier written in plain PyTorch (no
torchvision, no timm), so the package needs only ``torch`` to rebuild it:

    stem      Conv2d(4 -> 16, 3x3, stride 2) + BatchNorm2d + ReLU          128 -> 64
    stage 1   Conv2d(16 -> 32, 3x3, stride 2) + BatchNorm2d + ReLU         64 -> 32
    stage 2   Conv2d(32 -> 64, 3x3, stride 2) + BatchNorm2d + ReLU         32 -> 16
    stage 3   Conv2d(64 -> 64, 3x3, stride 2) + BatchNorm2d + ReLU         16 -> 8
    head      global average pooling -> Linear(64 -> 6): logits

Input: float32 (N, 4, 128, 128), the output of ``inference.preprocess``. Output: logits
(N, 6) in the class order of ``labels.json``. The convolutions have no bias (BatchNorm
follows each of them). ``model.safetensors`` holds this module's ``state_dict()``.
"""

from __future__ import annotations

import torch
from torch import nn

ARCHITECTURE = "CloudRegimeCNN"  # the `architecture` metadata of model.safetensors names this class
WIDTHS = (16, 32, 64, 64)


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 convolution with stride 2 (halves the tile), batch normalisation, ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class CloudRegimeCNN(nn.Module):
    """Four conv-BN-ReLU stages, global average pooling and a linear head."""

    def __init__(self, in_chans: int = 4, num_classes: int = 6, widths: tuple[int, ...] = WIDTHS) -> None:
        super().__init__()
        stages = []
        channels = in_chans
        for width in widths:
            stages.append(conv_bn_relu(channels, width))
            channels = width
        self.features = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.pool(self.features(x)), 1))
