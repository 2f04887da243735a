"""Area inference: placeholder until issue 4 (inference) lands."""

from __future__ import annotations

from typing import Iterable

from ..model import Area, Finding
from .base import Check, Context


class InferenceCheck(Check):
    name = "inference example"
    area = Area.INFERENCE
    dynamic = True

    def skip_reason(self, ctx: Context) -> str | None:
        return "not implemented yet"

    def run(self, ctx: Context) -> Iterable[Finding]:
        return []
