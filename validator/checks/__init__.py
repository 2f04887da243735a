"""The checks, in the order they run: static reading first, then the sandboxed runtime."""

from __future__ import annotations

from .base import Check, Context
from .consistency import ConsistencyCheck
from .environment import EnvironmentCheck
from .inference import InferenceCheck
from .layout import LayoutCheck
from .license import LicenseCheck
from .model_card import ModelCardCheck
from .onnx import OnnxCheck
from .parity import ParityCheck
from .publishing import PublishingCheck
from .runtime_files import RuntimeFilesCheck
from .safetensors import SafetensorsCheck
from .security import SecurityCheck

ALL_CHECKS: list[type[Check]] = [
    LayoutCheck,
    ModelCardCheck,
    RuntimeFilesCheck,
    SafetensorsCheck,
    OnnxCheck,
    SecurityCheck,
    LicenseCheck,
    ConsistencyCheck,
    PublishingCheck,
    EnvironmentCheck,  # rebuilds the package's runtime; the checks below run inside it
    ParityCheck,
    InferenceCheck,
]

__all__ = ["ALL_CHECKS", "Check", "Context"]
