"""Area publishing: placeholder until issue 6 (publishing lint) lands."""

from __future__ import annotations

from typing import Iterable

from ..model import Area, Finding
from .base import Check, Context


class PublishingCheck(Check):
    name = "catalog records"
    area = Area.PUBLISHING
    dynamic = False

    def skip_reason(self, ctx: Context) -> str | None:
        return "not implemented yet"

    def run(self, ctx: Context) -> Iterable[Finding]:
        return []
