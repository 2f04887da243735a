"""The checks, one module per guideline area, in the order they run. Import core, sandbox, readers, scanners and runtime."""

from __future__ import annotations

from validator.checks.base import DynamicCheck, Outcome, Skip, StaticCheck
from validator.checks.lazy import LazyChecks

# "module:Class", each imported when the runner reaches it (validator/checks/lazy.py: CLI start-up).
STATIC_CHECKS: LazyChecks[StaticCheck] = LazyChecks(
    "layout:LayoutCheck",
    "weight_downloads:WeightDownloadsCheck",
    "model_card:ModelCardCheck",
    "runtime_files:RuntimeFilesCheck",
    "runtime_pins:RuntimePinsCheck",
    "application_package:ApplicationPackageCheck",
    "safetensors:SafetensorsCheck",
    "onnx:OnnxCheck",
    "security:SecurityCheck",
    "license:LicenseCheck",
    "consistency:ConsistencyCheck",
    "publishing:PublishingCheck",
    "osc_records:OscRecordsCheck",
)
# Run inside the package's rebuilt environment (validator.pipeline.environment builds it after the static checks).
DYNAMIC_CHECKS: LazyChecks[DynamicCheck] = LazyChecks(
    "runtime_files:RuntimeImportsCheck",
    "parity:ParityCheck",
    "inference:InferenceCheck",
    "application_package:ApplicationPackageRunCheck",
)

__all__ = ["DYNAMIC_CHECKS", "STATIC_CHECKS", "DynamicCheck", "Outcome", "Skip", "StaticCheck"]
