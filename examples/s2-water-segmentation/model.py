"""The network of the EarthCODE Sentinel-2 water segmentation demo (demonstration package).

``WaterUNet`` is a tiny U-Net written in plain PyTorch (no torchvision, no timm):

    nodata    mask = every band equals NODATA (0.0, the Sentinel-2 L2A NODATA value)
    normalise (x - MEAN) / STD per band, masked pixels set to 0.0
    enc1      Conv2d(4 -> 8, 3x3) + ReLU                                  H x W
    enc2      MaxPool2d(2), Conv2d(8 -> 16, 3x3) + ReLU                   H/2 x W/2
    up        ConvTranspose2d(16 -> 8, 2x2, stride 2)                      H x W
    dec       concat(up, enc1), Conv2d(16 -> 8, 3x3) + ReLU                H x W
    heads     Conv2d(8 -> 2, 1x1): logits (not_water, water)
              Conv2d(8 -> 1, 1x1) + sigmoid: water_fraction in [0, 1]
    nodata    both outputs are NaN at masked pixels

Input: float32 (N, 4, H, W) surface reflectance (unit 1), H and W multiples of 2. Outputs, aligned
pixel for pixel with the input (3x3 convolutions with padding 1: no crop, no stride):
``logits`` (N, 2, H, W) and ``water_fraction`` (N, 1, H, W). ``model.safetensors`` holds this
module's ``state_dict()``.
"""

from __future__ import annotations

import torch
from torch import nn

ARCHITECTURE = "WaterUNet"  # the `architecture` metadata of model.safetensors names this class
NODATA = 0.0
MEAN = (0.06, 0.08, 0.07, 0.20)  # B02, B03, B04, B08 surface reflectance, fixed demonstration values
STD = (0.03, 0.03, 0.04, 0.10)


def conv_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 convolution with padding 1 (keeps the tile size) and ReLU."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1), nn.ReLU(inplace=True))


class WaterUNet(nn.Module):
    """One down and one up stage, a skip connection, two heads, NaN at nodata pixels."""

    def __init__(self, in_chans: int = 4, num_classes: int = 2, width: int = 8) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(MEAN).view(1, in_chans, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, in_chans, 1, 1))
        self.enc1 = conv_relu(in_chans, width)
        self.pool = nn.MaxPool2d(2)
        self.enc2 = conv_relu(width, 2 * width)
        self.up = nn.ConvTranspose2d(2 * width, width, kernel_size=2, stride=2)
        self.dec = conv_relu(2 * width, width)
        self.classes = nn.Conv2d(width, num_classes, kernel_size=1)
        self.fraction = nn.Conv2d(width, 1, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        nodata = (x == NODATA).all(dim=1, keepdim=True)
        z = torch.where(nodata, torch.zeros_like(x), (x - self.mean) / self.std)
        skip = self.enc1(z)
        features = self.dec(torch.cat([self.up(self.enc2(self.pool(skip))), skip], dim=1))
        nan = torch.full_like(nodata, float("nan"), dtype=x.dtype)
        logits = torch.where(nodata, nan, self.classes(features))
        fraction = torch.where(nodata, nan, torch.sigmoid(self.fraction(features)))
        return logits, fraction
