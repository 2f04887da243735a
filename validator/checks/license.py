"""Area license: placeholder until issue 3 (license) lands."""

from __future__ import annotations

from typing import Iterable

from ..model import Area, Finding
from .base import Check, Context


class LicenseCheck(Check):
    name = "license and citation"
    area = Area.LICENSE
    dynamic = False

    def skip_reason(self, ctx: Context) -> str | None:
        return "not implemented yet"

    def run(self, ctx: Context) -> Iterable[Finding]:
        return []
