"""The GitHub context: GITHUB_* variables and the event payloads of the events the action runs on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from validator.github.context import GitHubContext

SHA, HEAD = "1" * 40, "2" * 40


def _context(tmp_path: Path, event_name: str, event: dict[str, Any], **extra: str) -> GitHubContext:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event), encoding="utf-8")
    env = {"GITHUB_EVENT_NAME": event_name, "GITHUB_EVENT_PATH": str(path), "GITHUB_REPOSITORY": "earthcode/models",
           "GITHUB_SHA": SHA, "GITHUB_RUN_ID": "123", "GITHUB_API_URL": "http://127.0.0.1:9/api/",
           "GITHUB_SERVER_URL": "https://github.example", "GITHUB_WORKSPACE": str(tmp_path), **extra}
    return GitHubContext.from_env(env)


def test_pull_request_from_a_fork(tmp_path: Path) -> None:
    event = {"number": 5, "pull_request": {"number": 5, "head": {"sha": HEAD, "repo": {"full_name": "someone/models"}},
                                           "base": {"repo": {"full_name": "earthcode/models"}}}}
    ctx = _context(tmp_path, "pull_request", event, GITHUB_REF="refs/pull/5/merge")
    assert ctx.pr_number == 5
    assert ctx.pull_request is not None and ctx.pull_request.is_fork
    assert ctx.head_sha == HEAD  # the PR's head, not the merge commit GITHUB_SHA
    assert ctx.tag is None
    assert ctx.api_url == "http://127.0.0.1:9/api"
    assert ctx.run_url == "https://github.example/earthcode/models/actions/runs/123"


def test_push_of_a_tag_and_of_a_branch(tmp_path: Path) -> None:
    tagged = _context(tmp_path, "push", {"ref": "refs/tags/v1.2.0", "after": SHA}, GITHUB_REF="refs/tags/v1.2.0")
    assert tagged.tag == "v1.2.0" and tagged.pull_request is None and tagged.head_sha == SHA
    branch = _context(tmp_path, "push", {"ref": "refs/heads/main"}, GITHUB_REF="refs/heads/main")
    assert branch.tag is None


def test_release_event_takes_the_release_tag(tmp_path: Path) -> None:
    ctx = _context(tmp_path, "release", {"action": "published", "release": {"tag_name": "models/cloud/v0.1.0"}},
                   GITHUB_REF="refs/tags/models/cloud/v0.1.0")
    assert ctx.tag == "models/cloud/v0.1.0"


def test_workflow_dispatch_has_no_pull_request_nor_tag(tmp_path: Path) -> None:
    ctx = _context(tmp_path, "workflow_dispatch", {"inputs": {}}, GITHUB_REF="refs/heads/main")
    assert (ctx.pull_request, ctx.workflow_run, ctx.tag) == (None, None, None)


def test_workflow_run_lists_the_triggering_run(tmp_path: Path) -> None:
    event = {"workflow_run": {"id": 77, "event": "pull_request", "head_sha": HEAD, "head_branch": "feature",
                              "html_url": "https://github.example/earthcode/models/actions/runs/77",
                              "head_repository": {"full_name": "someone/models"},
                              "pull_requests": [{"number": 5, "head": {"sha": HEAD}}, {"number": "6"}]}}
    ctx = _context(tmp_path, "workflow_run", event)
    run = ctx.workflow_run
    assert run is not None and run.pull_requests == (5,)  # a non-integer number is ignored
    assert (run.head_owner, run.head_branch, ctx.head_sha) == ("someone", "feature", HEAD)


def test_missing_or_broken_event_payload_gives_an_empty_context(tmp_path: Path) -> None:
    (tmp_path / "event.json").write_text("[1, 2", encoding="utf-8")
    ctx = GitHubContext.from_env({"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(tmp_path / "event.json")})
    assert ctx.pull_request is None and ctx.run_url == ""
    assert GitHubContext.from_env({}).event_name == ""
