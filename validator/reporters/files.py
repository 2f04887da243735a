"""Write the requested report files."""

from __future__ import annotations

from pathlib import Path

from validator.core.report import Report
from validator.reporters import render


def write_reports(report: Report, json_path: str | None = None, markdown_path: str | None = None, sarif_path: str | None = None) -> None:
    for name, target in (("json", json_path), ("markdown", markdown_path), ("sarif", sarif_path)):
        if target:
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(name, report), encoding="utf-8")
