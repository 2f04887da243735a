"""A check run per package with its findings as annotations (Checks API, `checks: write`).

GitHub takes at most 50 annotations per request: the run is created with the first 50 and
updated with the next 50 until all are sent; the last update completes it. Fork pull requests
get a read-only token and a 403 here; the caller falls back to workflow commands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from github.Repository import Repository

from validator.core.report import Report
from validator.github.annotations import Annotation, clean
from validator.reporters.markdown import status_line

ANNOTATIONS_PER_REQUEST = 50
TEXT_LIMIT = 65_535  # output.summary and output.text
API_LEVEL = {"error": "failure", "warning": "warning", "notice": "notice"}


@dataclass(frozen=True)
class CheckRunPosted:
    check_run_id: int
    url: str
    annotations: int  # sent as annotations (findings with a file)
    requests: int


def check_run_name(package_path: str) -> str:
    return f"model-check ({clean(package_path or '.', 100)})"


def _api_annotation(annotation: Annotation) -> dict[str, Any]:
    line = annotation.line or 1
    return {
        "path": annotation.file,
        "start_line": line,
        "end_line": line,
        "annotation_level": API_LEVEL[annotation.level],
        "title": clean(annotation.title, 255),
        "message": clean(annotation.message, 60_000),
    }


def _cap(text: str) -> str:
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 40] + "\n\n_(cut at GitHub's limit)_\n"


def post_check_run(repo: Repository, head_sha: str, report: Report, annotations: Sequence[Annotation],
                   markdown: str, details_url: str = "") -> CheckRunPosted:
    """Create the check run, send every annotation with a file in batches, then complete it."""
    placed = [_api_annotation(a) for a in annotations if a.file]
    batches = [placed[i:i + ANNOTATIONS_PER_REQUEST] for i in range(0, len(placed), ANNOTATIONS_PER_REQUEST)] or [[]]
    title = f"{report.status}: {report.summary['error']} error(s), {report.summary['warning']} warning(s)"
    summary = _cap(status_line(report))
    text = _cap(markdown)

    def output(batch: list[dict[str, Any]]) -> dict[str, Any]:
        return {"title": title, "summary": summary, "text": text, "annotations": batch}

    extra: dict[str, Any] = {"details_url": details_url} if details_url else {}
    run = repo.create_check_run(name=check_run_name(report.package_path), head_sha=head_sha, status="in_progress",
                                output=output(batches[0]), **extra)
    requests = 1
    for batch in batches[1:]:
        run.edit(output=output(batch))
        requests += 1
    run.edit(status="completed", conclusion="success" if report.status == "passed" else "failure")
    return CheckRunPosted(run.id, run.html_url, len(placed), requests + 1)
