"""Area runtime: placeholder until issue 4 (environment) lands."""

from __future__ import annotations

from typing import Iterable

from ..model import Area, Finding
from .base import Check, Context


class EnvironmentCheck(Check):
    name = "environment rebuild"
    area = Area.RUNTIME
    dynamic = True

    def skip_reason(self, ctx: Context) -> str | None:
        return "not implemented yet"

    def run(self, ctx: Context) -> Iterable[Finding]:
        return []
