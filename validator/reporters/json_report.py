"""The JSON report (schema_version 1)."""

from __future__ import annotations

from validator.core.report import Report


def render_json(report: Report) -> str:
    return report.to_json()
