"""The checks, in the order they run: static reading first, then the sandboxed runtime."""

from __future__ import annotations

from .base import Check, Context
from .layout import LayoutCheck
from .model_card import ModelCardCheck
from .runtime_files import RuntimeFilesCheck

ALL_CHECKS: list[type[Check]] = [
    LayoutCheck,
    ModelCardCheck,
    RuntimeFilesCheck,
]

__all__ = ["ALL_CHECKS", "Check", "Context"]
