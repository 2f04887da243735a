"""The run's context: GITHUB_* variables and the event payload, read once into plain values.

Events understood: pull_request (and pull_request_target), push of a branch or a tag, release,
workflow_dispatch and workflow_run. Anything else still gives a context (repository, sha, run).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_EVENT_BYTES = 25 * 1024 * 1024  # GitHub's webhook payloads are capped at 25 MB


@dataclass(frozen=True)
class PullRequest:
    number: int
    head_sha: str
    head_repo: str | None = None  # owner/name of the head branch's repository (None: deleted fork)
    base_repo: str | None = None

    @property
    def is_fork(self) -> bool:
        return self.head_repo != self.base_repo


@dataclass(frozen=True)
class WorkflowRun:
    """The run that triggered a `workflow_run` event (the unprivileged one that made the report)."""

    id: int
    event: str  # the triggering run's own event, e.g. pull_request
    head_sha: str
    html_url: str
    head_repo: str | None
    head_branch: str | None
    pull_requests: tuple[int, ...]  # empty for pull requests from forks (GitHub leaves them out)

    @property
    def head_owner(self) -> str | None:
        return self.head_repo.split("/", 1)[0] if self.head_repo and "/" in self.head_repo else None


@dataclass(frozen=True)
class GitHubContext:
    event_name: str = ""
    repository: str = ""  # owner/name
    api_url: str = "https://api.github.com"
    server_url: str = "https://github.com"
    sha: str = ""
    ref: str = ""
    run_id: str = ""
    run_attempt: str = "1"
    workspace: Path = field(default_factory=Path.cwd)
    step_summary: Path | None = None
    output: Path | None = None
    pull_request: PullRequest | None = None
    workflow_run: WorkflowRun | None = None
    tag: str | None = None  # the release tag: a pushed tag or a release's tag_name
    in_actions: bool = False

    @property
    def run_url(self) -> str:
        if not (self.repository and self.run_id):
            return ""
        url = f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"
        return url + (f"/attempts/{self.run_attempt}" if self.run_attempt not in ("", "1") else "")

    @property
    def head_sha(self) -> str:
        """The commit findings belong to: a PR's head (not the merge commit), else the run's sha."""
        if self.pull_request is not None:
            return self.pull_request.head_sha
        if self.workflow_run is not None:
            return self.workflow_run.head_sha
        return self.sha

    @property
    def pr_number(self) -> int | None:
        return self.pull_request.number if self.pull_request else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GitHubContext:
        env = os.environ if environ is None else environ
        event = read_event(env.get("GITHUB_EVENT_PATH", ""))
        event_name = env.get("GITHUB_EVENT_NAME", "")
        ref = env.get("GITHUB_REF", "")
        repository = env.get("GITHUB_REPOSITORY", "")
        return cls(
            event_name=event_name,
            repository=repository,
            api_url=(env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
            server_url=(env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/"),
            sha=env.get("GITHUB_SHA", ""),
            ref=ref,
            run_id=env.get("GITHUB_RUN_ID", ""),
            run_attempt=env.get("GITHUB_RUN_ATTEMPT", "1"),
            workspace=Path(env.get("GITHUB_WORKSPACE") or Path.cwd()),
            step_summary=Path(env["GITHUB_STEP_SUMMARY"]) if env.get("GITHUB_STEP_SUMMARY") else None,
            output=Path(env["GITHUB_OUTPUT"]) if env.get("GITHUB_OUTPUT") else None,
            pull_request=_pull_request(event, repository) if event_name in ("pull_request", "pull_request_target") else None,
            workflow_run=_workflow_run(event) if event_name == "workflow_run" else None,
            tag=_release_tag(event_name, ref, event),
            in_actions=env.get("GITHUB_ACTIONS") == "true",
        )


def read_event(path: str) -> dict[str, Any]:
    """The event payload, or {} when there is none or it cannot be read."""
    if not path:
        return {}
    try:
        target = Path(path)
        if target.stat().st_size > MAX_EVENT_BYTES:
            return {}
        data = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _pull_request(event: dict[str, Any], repository: str) -> PullRequest | None:
    number = _number(_get(event, "pull_request", "number")) or _number(event.get("number"))
    head_sha = _text(_get(event, "pull_request", "head", "sha"))
    if number is None or head_sha is None:
        return None
    return PullRequest(
        number=number,
        head_sha=head_sha,
        head_repo=_text(_get(event, "pull_request", "head", "repo", "full_name")),
        base_repo=_text(_get(event, "pull_request", "base", "repo", "full_name")) or repository or None,
    )


def _workflow_run(event: dict[str, Any]) -> WorkflowRun | None:
    run = event.get("workflow_run")
    if not isinstance(run, dict) or _number(run.get("id")) is None or _text(run.get("head_sha")) is None:
        return None
    numbers = []
    for pr in run.get("pull_requests") or []:
        number = _number(_get(pr, "number"))
        if number is not None:
            numbers.append(number)
    return WorkflowRun(
        id=run["id"],
        event=_text(run.get("event")) or "",
        head_sha=run["head_sha"],
        html_url=_text(run.get("html_url")) or "",
        head_repo=_text(_get(run, "head_repository", "full_name")),
        head_branch=_text(run.get("head_branch")),
        pull_requests=tuple(numbers),
    )


def _release_tag(event_name: str, ref: str, event: dict[str, Any]) -> str | None:
    if event_name == "release":
        return _text(_get(event, "release", "tag_name"))
    if event_name == "push" and ref.startswith("refs/tags/"):
        return ref[len("refs/tags/"):] or None
    return None
