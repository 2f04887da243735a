"""The sticky pull-request comment: one per package path, found again by a hidden marker and
edited in place on every run, never one more comment per push.

The body stays within GitHub's limit (65,536 characters): fewer findings first, then a hard cut,
always with a link to the full report.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from github import GithubException
from github.Issue import Issue
from github.IssueComment import IssueComment
from github.Repository import Repository

from validator import __version__
from validator.core.report import Report
from validator.reporters.markdown import render_markdown, status_line

BODY_LIMIT = 65_536
_SHRINK = (None, 200, 100, 50, 20, 5, 0)


def marker(package_path: str) -> str:
    """The hidden first line that identifies our comment for `package_path`. The path is
    percent-encoded: it cannot end the HTML comment or carry markup."""
    safe = quote(package_path or ".", safe="/._~-").replace("--", "-%2D")
    return f"<!-- model-check:{safe} -->"


def _footer(report_url: str) -> str:
    link = f" · [full report and logs]({report_url})" if report_url else ""
    return f"\n---\n<sub>model-check {__version__}{link}</sub>\n"


def render_body(report: Report, report_url: str = "", limit: int = BODY_LIMIT) -> str:
    head = marker(report.package_path) + "\n"
    foot = _footer(report_url)
    body = ""
    for max_findings in _SHRINK:
        body = head + render_markdown(report, max_findings=max_findings) + foot
        if len(body) <= limit:
            return body
    note = "\n_This comment was cut at GitHub's size limit; the full report has every finding._\n"
    room = max(limit - len(head) - len(foot) - len(note), 0)
    text = render_markdown(report, max_findings=0)[:room]
    text = text[: text.rfind("\n") + 1] if "\n" in text else ""
    return head + text + note + foot


def short_body(report: Report, report_url: str = "") -> str:
    """The smallest useful body: the verdict and a link (when the full one is refused)."""
    return marker(report.package_path) + "\n" + status_line(report) + "\n" + _footer(report_url)


@dataclass(frozen=True)
class Posted:
    action: str  # "created" or "updated"
    comment_id: int
    url: str


def find_comment(issue: Issue, package_path: str) -> IssueComment | None:
    """Our earlier comment for this package: the body starts with its marker. Comments by bots
    (the Actions token posts as github-actions[bot]) are preferred over people's copies."""
    wanted = marker(package_path)
    matches = [c for c in issue.get_comments() if (c.body or "").startswith(wanted)]
    if not matches:
        return None
    bots = [c for c in matches if getattr(c.user, "type", None) == "Bot"]
    return (bots or matches)[0]


def upsert_comment(repo: Repository, pr_number: int, report: Report, report_url: str = "") -> Posted:
    """Update our comment for this package, or create it. Raises GithubException (403 for a
    read-only token) when neither is allowed."""
    issue = repo.get_issue(pr_number)
    body = render_body(report, report_url)
    existing = find_comment(issue, report.package_path)
    if existing is not None:
        try:
            _edit(existing, body, report, report_url)
            return Posted("updated", existing.id, existing.html_url)
        except GithubException as exc:
            if exc.status not in (403, 404):  # someone else's comment, or deleted meanwhile: post ours
                raise
    created = _create(issue, body, report, report_url)
    return Posted("created", created.id, created.html_url)


def _edit(comment: IssueComment, body: str, report: Report, report_url: str) -> None:
    try:
        comment.edit(body)
    except GithubException as exc:
        if exc.status != 422:
            raise
        comment.edit(short_body(report, report_url))


def _create(issue: Issue, body: str, report: Report, report_url: str) -> IssueComment:
    try:
        return issue.create_comment(body)
    except GithubException as exc:
        if exc.status != 422:  # 422: the body was refused (too long); post the short one
            raise
        return issue.create_comment(short_body(report, report_url))
