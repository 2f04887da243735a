"""Write the requested report files (into folders that exist: the command line checked them
before the run, and no folder is created here)."""

from __future__ import annotations

from pathlib import Path

from validator.core.report import Report
from validator.reporters import render


def write_reports(report: Report, json_path: str | None = None, markdown_path: str | None = None, sarif_path: str | None = None) -> None:
    for name, target in (("json", json_path), ("markdown", markdown_path), ("sarif", sarif_path)):
        if target:
            Path(target).write_text(render(name, report), encoding="utf-8")
