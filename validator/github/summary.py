"""The job summary (GITHUB_STEP_SUMMARY): the Markdown report of every package, within 1 MiB."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from validator.core.report import Report
from validator.reporters.markdown import render_markdown

SUMMARY_LIMIT = 1024 * 1024  # bytes GitHub accepts per step
_SHRINK = (None, 500, 200, 50, 10, 0)  # findings shown per package, until the summary fits


def build_summary(reports: Sequence[Report], notes: Sequence[str] = (), limit: int = SUMMARY_LIMIT) -> str:
    """Markdown for all `reports`, fewer findings each until it fits in `limit` UTF-8 bytes.
    `notes` are lines written by model-check itself (already safe Markdown)."""
    tail = "".join(f"> {note}\n" for note in notes)
    tail = ("\n" + tail) if tail else ""
    text = ""
    for max_findings in _SHRINK:
        text = "\n".join(render_markdown(r, max_findings=max_findings) for r in reports) + tail
        if len(text.encode("utf-8")) <= limit:
            return text
    return truncate_utf8(text, limit, "\n\n_The summary was cut at GitHub's 1 MiB limit; the JSON report holds everything._\n")


def truncate_utf8(text: str, limit: int, note: str) -> str:
    """Cut `text` at a line boundary so that it plus `note` fits in `limit` UTF-8 bytes."""
    budget = limit - len(note.encode("utf-8"))
    data = text.encode("utf-8")[:max(budget, 0)]
    cut = data.decode("utf-8", errors="ignore")
    cut = cut[: cut.rfind("\n") + 1] if "\n" in cut else ""
    return cut + note


def write_summary(path: Path, reports: Sequence[Report], notes: Sequence[str] = ()) -> None:
    room = SUMMARY_LIMIT - (path.stat().st_size if path.exists() else 0)
    if room < 1024:  # the step already wrote its summary's worth
        return
    with path.open("a", encoding="utf-8") as handle:
        handle.write(build_summary(reports, notes, room))
