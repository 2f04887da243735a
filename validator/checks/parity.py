"""Area parity: placeholder until issue 4 (parity) lands."""

from __future__ import annotations

from typing import Iterable

from ..model import Area, Finding
from .base import Check, Context


class ParityCheck(Check):
    name = "native vs ONNX parity"
    area = Area.PARITY
    dynamic = True

    def skip_reason(self, ctx: Context) -> str | None:
        return "not implemented yet"

    def run(self, ctx: Context) -> Iterable[Finding]:
        return []
