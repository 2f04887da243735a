"""Post reports to GitHub: sticky PR comment, check run with annotations (or workflow-command
annotations when the token is read-only), job summary, step outputs, SARIF, release-tag gating.

Reports are read as untrusted data: in the fork-safe recipe they come from an artifact made by an
unprivileged job. A report is size-capped, parsed strictly (no NaN, no duplicate keys) and
validated against the report schema; the pull request it is posted to is the one GitHub's event
names, or one whose head is the commit the triggering run checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import requests
from github import GithubException
from github.Repository import Repository

from validator.core.escape import log_line, markdown_code, markdown_text
from validator.core.report import Report
from validator.github.annotations import Annotation, Emitted, annotations_for, emit
from validator.github.checks_api import CheckRunPosted, post_check_run
from validator.github.client import WRITE_PAUSE_S, connect
from validator.github.comment import Posted, upsert_comment
from validator.github.context import GitHubContext
from validator.github.outputs import write_outputs
from validator.github.summary import write_summary
from validator.pipeline import release_gate as gating
from validator.readers.json_strict import parse_json_strict
from validator.reporters.markdown import render_markdown
from validator.reporters.sarif import sarif_json

MAX_REPORT_BYTES = 16 * 1024 * 1024
MAX_CHANGED_FILES = 3000  # GitHub lists at most 3000 files of a pull request

Write = Callable[[str], None]


class UntrustedInputError(Exception):
    """A report or PR number that cannot be used; the message may quote it (escape before logging)."""


def _print(line: str) -> None:
    print(line, flush=True)


def load_report(path: Path, max_bytes: int = MAX_REPORT_BYTES) -> Report:
    """Read a JSON report as untrusted data."""
    try:
        if not path.is_file():
            raise UntrustedInputError(f"{path}: not a regular file")
        if path.stat().st_size > max_bytes:
            raise UntrustedInputError(f"{path}: larger than {max_bytes:,} bytes")
        with path.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        raise UntrustedInputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UntrustedInputError(f"{path}: not UTF-8 (byte {exc.start})") from None
    data, problem = parse_json_strict(text, str(path))
    if problem is not None:
        raise UntrustedInputError(problem)
    try:
        return Report.from_dict(data)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "top level"
        raise UntrustedInputError(f"{path}: not a model-check report ({where}: {exc.message[:300]})") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise UntrustedInputError(f"{path}: not a model-check report ({type(exc).__name__})") from None


def read_pr_file(path: Path) -> int:
    """A pull request number written by an untrusted job: digits only, nothing else."""
    try:
        raw = path.read_bytes()[:64] if path.is_file() else b""
    except OSError:
        raw = b""
    match = re.fullmatch(rb"\s*([1-9][0-9]{0,9})\s*", raw)
    if match is None:
        raise UntrustedInputError(f"{path}: not a pull request number")
    return int(match.group(1))


def resolve_pull_request(context: GitHubContext, repo: Repository | None, claimed: int | None = None) -> int | None:
    """The pull request to comment on, or None when there is none.

    pull_request events name it. For workflow_run, a claimed number (from the artifact) must be one
    GitHub lists for the triggering run, or a PR whose head is the commit that run checked; without
    a claim, the run's only listed PR, else (fork PRs are not listed) the open PR from the run's
    head branch at that commit.
    """
    if context.pull_request is not None:
        if claimed is not None and claimed != context.pull_request.number:
            raise UntrustedInputError(f"pull request #{claimed} is not this event's #{context.pull_request.number}")
        return context.pull_request.number
    run = context.workflow_run
    if run is None or run.event not in ("pull_request", "pull_request_target"):
        if claimed is not None:
            raise UntrustedInputError("a pull request number can only be checked against a pull_request or workflow_run event")
        return None
    if claimed is not None:
        if claimed in run.pull_requests:
            return claimed
        if repo is None:
            raise UntrustedInputError(f"pull request #{claimed} cannot be checked without a token")
        head = repo.get_pull(claimed).head.sha
        if head != run.head_sha:
            raise UntrustedInputError(f"pull request #{claimed} is at {head[:12]}, not at {run.head_sha[:12]} that the report was made for")
        return claimed
    if len(run.pull_requests) == 1:
        return run.pull_requests[0]
    if len(run.pull_requests) > 1:
        raise UntrustedInputError(f"the run belongs to {len(run.pull_requests)} pull requests: name one with --pr-file")
    if repo is None or not (run.head_owner and run.head_branch):
        return None
    for pr in repo.get_pulls(state="open", head=f"{run.head_owner}:{run.head_branch}"):
        if pr.head.sha == run.head_sha:
            return pr.number
    return None


@dataclass
class PostSettings:
    comment: bool = True
    annotations: bool = True
    summary: bool = True
    outputs: bool = True
    sarif: Path | None = None
    release_gate: bool = False
    config: Path | None = None  # the --config of the run, for gating
    pr_number: int | None = None  # claimed by an untrusted job (checked before use)
    token: str = ""
    write_pause_s: float | None = WRITE_PAUSE_S


@dataclass
class PostResult:
    status: str = "passed"
    errors: int = 0
    warnings: int = 0
    pr_number: int | None = None
    comments: list[Posted] = field(default_factory=list)
    check_runs: list[CheckRunPosted] = field(default_factory=list)
    fallback: Emitted | None = None
    notes: list[str] = field(default_factory=list)  # safe Markdown, also shown in the job summary


ApiError = (GithubException, requests.RequestException)


def _forbidden(exc: Exception) -> bool:
    return isinstance(exc, GithubException) and exc.status == 403


def _describe(exc: Exception) -> str:
    if not isinstance(exc, GithubException):
        return f"GitHub could not be reached ({type(exc).__name__})"
    message = exc.data.get("message") if isinstance(exc.data, dict) else None
    return f"HTTP {exc.status}" + (f" ({str(message)[:200]})" if message else "")


def _changed_files(repo: Repository, pr_number: int) -> set[str]:
    files: set[str] = set()
    for entry in repo.get_pull(pr_number).get_files():
        files.add(entry.filename)
        if len(files) >= MAX_CHANGED_FILES:
            break
    return files


def publish(report_paths: Sequence[Path], reports: Sequence[Report], context: GitHubContext,
            settings: PostSettings, write: Write = _print) -> PostResult:
    result = PostResult()
    if settings.release_gate and context.tag:
        _gate(report_paths, reports, context, settings, result, write)
    if settings.sarif is not None:
        settings.sarif.parent.mkdir(parents=True, exist_ok=True)
        settings.sarif.write_text(sarif_json(reports), encoding="utf-8")

    repo: Repository | None = None
    wants_api = settings.comment or settings.annotations or settings.pr_number is not None
    if settings.token and context.repository and wants_api:
        repo = connect(context, settings.token, settings.write_pause_s)
    elif wants_api and not settings.token:
        result.notes.append("No GitHub token: no PR comment or check run was posted.")

    result.pr_number = _pull_request(context, repo, settings, result, write)
    report_url = context.workflow_run.html_url if context.workflow_run else context.run_url
    fallback: list[Annotation] = []
    for report in reports:
        if settings.comment and repo is not None and result.pr_number is not None:
            _comment(repo, result, report, report_url, write)
        if settings.annotations:
            annotations = annotations_for(report)
            if repo is None or not _check_run(repo, context, result, report, annotations, report_url, write):
                fallback += annotations
    if fallback:
        result.fallback = _fallback(fallback, repo, result, write)

    result.errors = sum(r.summary["error"] for r in reports)
    result.warnings = sum(r.summary["warning"] for r in reports)
    result.status = "failed" if any(r.status == "failed" for r in reports) else "passed"
    if settings.summary and context.step_summary is not None:
        write_summary(context.step_summary, reports, result.notes)
    if settings.outputs and context.output is not None:
        write_outputs(context.output, {
            "status": result.status,
            "errors": str(result.errors),
            "warnings": str(result.warnings),
            "report": "\n".join(_relative(p, context.workspace) for p in report_paths),
        })
    return result


def _gate(report_paths: Sequence[Path], reports: Sequence[Report], context: GitHubContext, settings: PostSettings,
          result: PostResult, write: Write) -> None:
    """Gate the reports on the release tag; a tag with a path prefix gates only the package at that path
    (relative to the workspace, the repository's checkout)."""
    assert context.tag
    tag = context.tag
    gated = 0
    for path, report in zip(report_paths, reports, strict=True):
        root = Path(report.package_path)
        root = root if root.is_absolute() else context.workspace / root
        package = _package_in_repository(root, context.workspace)
        found = gating.apply_gate(report, tag, root, settings.config, package_path=package)
        path.write_text(report.to_json(), encoding="utf-8")  # the uploaded report carries the gate
        if gating.names_package(tag, package):
            gated += 1
            write(log_line(f"model-check: release {tag}: {len(found)} gating finding(s) for {report.package_path}"))
        else:
            write(log_line(f"model-check: release {tag}: {report.package_path} is not gated (the tag is for "
                           f"{gating.tag_prefix(tag)})"))
    if not gated:
        note = (f"The release tag {tag} is for the package at {gating.tag_prefix(tag)}, which none of the reports is for: "
                "nothing was gated. Check that package (path input) in the release workflow.")
        result.notes.append(markdown_text(note))
        write(log_line(f"model-check: {note}"))


def _package_in_repository(root: Path, workspace: Path) -> str | None:
    """The package folder relative to the repository's checkout (POSIX, `.` for the root); None outside it."""
    try:
        return root.resolve().relative_to(workspace.resolve()).as_posix() or "."
    except (OSError, ValueError):
        return None


def _relative(path: Path, workspace: Path) -> str:
    try:
        return path.resolve().relative_to(workspace.resolve()).as_posix()
    except ValueError:
        return str(path)


def _pull_request(context: GitHubContext, repo: Repository | None, settings: PostSettings,
                  result: PostResult, write: Write) -> int | None:
    try:
        return resolve_pull_request(context, repo, settings.pr_number)
    except ApiError as exc:
        result.notes.append(f"The pull request could not be looked up: {markdown_text(_describe(exc))}; nothing was posted to it.")
    except UntrustedInputError as exc:
        write(log_line(f"model-check: not posting to a pull request: {exc}"))
        result.notes.append("The pull request named by the report could not be verified; nothing was posted to it.")
    return None


def _comment(repo: Repository, result: PostResult, report: Report, report_url: str, write: Write) -> None:
    assert result.pr_number is not None
    try:
        posted = upsert_comment(repo, result.pr_number, report, report_url)
    except ApiError as exc:
        why = "the token is read-only (as for pull requests from forks)" if _forbidden(exc) else _describe(exc)
        result.notes.append(f"No PR comment for {markdown_code(report.package_path)}: {markdown_text(why)}.")
        write(log_line(f"model-check: cannot comment on #{result.pr_number}: {why}"))
        return
    result.comments.append(posted)
    write(log_line(f"model-check: PR comment {posted.action} for {report.package_path}: {posted.url}"))


def _check_run(repo: Repository, context: GitHubContext, result: PostResult, report: Report,
               annotations: list[Annotation], report_url: str, write: Write) -> bool:
    if not context.head_sha:
        return False
    try:
        posted = post_check_run(repo, context.head_sha, report, annotations, render_markdown(report), report_url)
    except ApiError as exc:
        why = "the token cannot create check runs (read-only, as for pull requests from forks)" if _forbidden(exc) else _describe(exc)
        result.notes.append(f"No check run for {markdown_code(report.package_path)}: {markdown_text(why)}; "
                            "findings are shown as workflow annotations.")
        write(log_line(f"model-check: no check run for {report.package_path}: {why}; falling back to workflow annotations"))
        return False
    result.check_runs.append(posted)
    write(log_line(f"model-check: check run for {report.package_path}: {posted.url} ({posted.annotations} annotation(s))"))
    return True


def _fallback(annotations: list[Annotation], repo: Repository | None, result: PostResult, write: Write) -> Emitted:
    """Workflow-command annotations, errors first and, in a pull request, changed files first."""
    changed: set[str] = set()
    if repo is not None and result.pr_number is not None:
        try:
            changed = _changed_files(repo, result.pr_number)
        except ApiError:
            changed = set()
    rank = {"error": 0, "warning": 1, "notice": 2}
    ordered = sorted(annotations, key=lambda a: (rank[a.level], a.file not in changed))
    emitted = emit(ordered, write)
    if emitted.left_out:
        result.notes.append(f"{emitted.shown} finding(s) shown as annotations; {emitted.total_left_out} left out "
                            "(GitHub keeps 10 errors, 10 warnings and 10 notices per step): see the tables below.")
    return emitted
