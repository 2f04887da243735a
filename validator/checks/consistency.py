"""Area consistency: placeholder until issue 3 (consistency) lands."""

from __future__ import annotations

from typing import Iterable

from ..model import Area, Finding
from .base import Check, Context


class ConsistencyCheck(Check):
    name = "declared facts agree"
    area = Area.CONSISTENCY
    dynamic = False

    def skip_reason(self, ctx: Context) -> str | None:
        return "not implemented yet"

    def run(self, ctx: Context) -> Iterable[Finding]:
        return []
