"""Reporters turn a Report into text or bytes; chosen by name."""

from __future__ import annotations

from typing import Callable

from ..report import Report
from .json_report import render_json
from .markdown import render_markdown
from .sarif import render_sarif

Renderer = Callable[[Report], str]

REPORTERS: dict[str, Renderer] = {
    "json": render_json,
    "markdown": render_markdown,
    "sarif": render_sarif,
}


def render(name: str, report: Report) -> str:
    return REPORTERS[name](report)
