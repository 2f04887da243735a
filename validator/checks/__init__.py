"""The checks, one module per guideline area, in the order they run. Import core, sandbox, readers, scanners and runtime."""

from __future__ import annotations

from validator.checks.base import DynamicCheck, Outcome, Skip, StaticCheck
from validator.checks.consistency import ConsistencyCheck
from validator.checks.inference import InferenceCheck
from validator.checks.layout import LayoutCheck
from validator.checks.license import LicenseCheck
from validator.checks.model_card import ModelCardCheck
from validator.checks.onnx import OnnxCheck
from validator.checks.parity import ParityCheck
from validator.checks.publishing import PublishingCheck
from validator.checks.runtime_files import RuntimeFilesCheck, RuntimeImportsCheck
from validator.checks.runtime_pins import RuntimePinsCheck
from validator.checks.safetensors import SafetensorsCheck
from validator.checks.security import SecurityCheck
from validator.checks.weight_downloads import WeightDownloadsCheck

STATIC_CHECKS: list[type[StaticCheck]] = [
    LayoutCheck,
    WeightDownloadsCheck,
    ModelCardCheck,
    RuntimeFilesCheck,
    RuntimePinsCheck,
    SafetensorsCheck,
    OnnxCheck,
    SecurityCheck,
    LicenseCheck,
    ConsistencyCheck,
    PublishingCheck,
]
# Run inside the package's rebuilt environment (validator.pipeline.environment builds it after the static checks).
DYNAMIC_CHECKS: list[type[DynamicCheck]] = [
    RuntimeImportsCheck,
    ParityCheck,
    InferenceCheck,
]

__all__ = ["DYNAMIC_CHECKS", "STATIC_CHECKS", "DynamicCheck", "Outcome", "Skip", "StaticCheck"]
