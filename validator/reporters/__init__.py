"""Reporters turn a Report into text or bytes (JSON, Markdown, SARIF, terminal) and write them. Import only validator.core."""

from __future__ import annotations

from collections.abc import Callable

from validator.core.report import Report
from validator.reporters.json_report import render_json
from validator.reporters.markdown import render_markdown
from validator.reporters.sarif import render_sarif

Renderer = Callable[[Report], str]

REPORTERS: dict[str, Renderer] = {
    "json": render_json,
    "markdown": render_markdown,
    "sarif": render_sarif,
}


def render(name: str, report: Report) -> str:
    return REPORTERS[name](report)
