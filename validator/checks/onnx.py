"""Area onnx: placeholder until issue 3 (onnx) lands."""

from __future__ import annotations

from typing import Iterable

from ..model import Area, Finding
from .base import Check, Context


class OnnxCheck(Check):
    name = "ONNX graphs"
    area = Area.ONNX
    dynamic = False

    def skip_reason(self, ctx: Context) -> str | None:
        return "not implemented yet"

    def run(self, ctx: Context) -> Iterable[Finding]:
        return []
