"""The checks, one module per guideline area, in the order they run. Import core, sandbox, readers, scanners and runtime."""

from __future__ import annotations

from validator.checks.base import Check, Context
from validator.checks.consistency import ConsistencyCheck
from validator.checks.inference import InferenceCheck
from validator.checks.layout import LayoutCheck
from validator.checks.license import LicenseCheck
from validator.checks.model_card import ModelCardCheck
from validator.checks.onnx import OnnxCheck
from validator.checks.parity import ParityCheck
from validator.checks.publishing import PublishingCheck
from validator.checks.runtime_files import RuntimeFilesCheck
from validator.checks.safetensors import SafetensorsCheck
from validator.checks.security import SecurityCheck
from validator.pipeline.environment import EnvironmentCheck

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
