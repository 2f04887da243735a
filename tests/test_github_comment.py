"""The sticky PR comment against the local GitHub stand-in: created once, then edited in place."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from github import GithubException
from github.Repository import Repository
from github_server import BOT, READ_TOKEN, WRITE_TOKEN, FakeGitHub, make_report

from validator.github.client import connect
from validator.github.comment import BODY_LIMIT, marker, render_body, upsert_comment
from validator.github.context import GitHubContext

PR, SHA = 12, "a" * 40


@pytest.fixture()
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        server.add_pull(PR, SHA)
        yield server


def _repo(server: FakeGitHub, token: str = WRITE_TOKEN) -> Repository:
    return connect(GitHubContext(repository=server.repository, api_url=server.url), token, write_pause_s=None)


def test_created_once_then_updated_in_place(github: FakeGitHub) -> None:
    report = make_report()
    first = upsert_comment(_repo(github), PR, report, "https://runs/1")
    assert first.action == "created"
    assert [(r.method, r.path) for r in github.requests] == [
        ("GET", "/repos/earthcode/models/issues/12/comments"),
        ("POST", "/repos/earthcode/models/issues/12/comments"),
    ]
    github.clear_requests()
    report.findings.pop()
    second = upsert_comment(_repo(github), PR, report, "https://runs/2")
    assert second.action == "updated" and second.comment_id == first.comment_id
    assert [(r.method, r.path) for r in github.requests] == [
        ("GET", "/repos/earthcode/models/issues/12/comments"),
        ("PATCH", f"/repos/earthcode/models/issues/comments/{first.comment_id}"),
    ]
    assert len(github.comments[PR]) == 1
    body = github.comments[PR][0]["body"]
    assert body.startswith(marker("models/cloud") + "\n")
    assert "https://runs/2" in body and "finding 2" not in body
    assert all(r.token == WRITE_TOKEN for r in github.requests)


def test_marker_found_on_a_later_page(github: FakeGitHub) -> None:
    for i in range(45):
        github.add_comment(PR, f"discussion {i}")
    ours = github.add_comment(PR, marker("models/cloud") + "\nold", BOT)
    posted = upsert_comment(_repo(github), PR, make_report(), "")
    assert posted.action == "updated" and posted.comment_id == ours["id"]
    gets = [r for r in github.requests if r.method == "GET"]
    assert [(r.path, r.query) for r in gets] == [
        ("/repos/earthcode/models/issues/12/comments", {}),
        ("/repositories/4242/issues/12/comments", {"page": "2"}),  # followed from the Link header
    ]


def test_one_comment_per_package_path(github: FakeGitHub) -> None:
    upsert_comment(_repo(github), PR, make_report(path="models/a"), "")
    upsert_comment(_repo(github), PR, make_report(path="models/b"), "")
    upsert_comment(_repo(github), PR, make_report(path="models/a"), "")
    assert len(github.comments[PR]) == 2


def test_prefers_the_bot_comment_over_a_copy_by_a_person(github: FakeGitHub) -> None:
    github.add_comment(PR, marker("models/cloud") + "\nquoted by a person")
    ours = github.add_comment(PR, marker("models/cloud") + "\nours", BOT)
    posted = upsert_comment(_repo(github), PR, make_report(), "")
    assert posted.comment_id == ours["id"]
    assert github.comments[PR][0]["body"].endswith("quoted by a person")


def test_read_only_token_gets_403(github: FakeGitHub) -> None:
    with pytest.raises(GithubException) as caught:
        upsert_comment(_repo(github, READ_TOKEN), PR, make_report(), "")
    assert caught.value.status == 403
    assert [(r.method, r.path) for r in github.requests] == [
        ("GET", "/repos/earthcode/models/issues/12/comments"),
        ("POST", "/repos/earthcode/models/issues/12/comments"),
    ]
    assert github.comments[PR] == []


def test_refused_body_is_replaced_by_the_short_one(github: FakeGitHub) -> None:
    github.comment_limit = 600  # the server counts differently than we do: it answers 422
    posted = upsert_comment(_repo(github), PR, make_report(20), "https://runs/9")
    posts = [r for r in github.requests if r.method == "POST"]
    assert len(posts) == 2 and len(posts[0].body["body"]) > 600 >= len(posts[1].body["body"])
    assert posted.action == "created"
    body = github.comments[PR][0]["body"]
    assert body.startswith(marker("models/cloud")) and "https://runs/9" in body and "model-check failed" in body


def test_body_stays_within_the_limit_with_a_link() -> None:
    report = make_report(3000)
    body = render_body(report, "https://runs/1")
    assert len(body) <= BODY_LIMIT
    assert body.startswith(marker("models/cloud") + "\n")
    assert "https://runs/1" in body and "more finding(s) are in the full report" in body
    assert "<b>@octocat" not in body and "@octocat" not in body


def test_hard_cut_when_even_the_checks_table_is_too_long() -> None:
    body = render_body(make_report(5), "https://runs/1", limit=400)
    assert len(body) <= 400 and "cut at GitHub's size limit" in body and "https://runs/1" in body


def test_marker_cannot_close_the_html_comment() -> None:
    text = marker("a-->b<script>\n@x")
    assert text.startswith("<!-- model-check:") and text.endswith(" -->")
    inner = text[len("<!-- model-check:"):-len(" -->")]
    assert "--" not in inner and "<" not in inner and "\n" not in inner and "@" not in inner


def test_marks_follow_the_severities() -> None:
    """A check failed on a warning (a notebook not run) is ⚠️, not ❌: a passing package shows no ❌; an error is ❌."""
    from validator.core.findings import Area, CheckRecord, CheckStatus, Finding, Severity
    from validator.core.report import Report

    report = Report("models/cloud", "cloud", "1.0.0", Severity.ERROR, checks=[
        CheckRecord(Area.LAYOUT, "package layout", CheckStatus.PASSED),
        CheckRecord(Area.INFERENCE, "inference example", CheckStatus.FAILED),
        CheckRecord(Area.PUBLISHING, "catalog records", CheckStatus.SKIPPED, "no STAC record"),
    ], findings=[Finding("MC962", Area.INFERENCE, Severity.WARNING, "example_inference.ipynb was not run", "example_inference.ipynb"),
                 Finding("MC970", Area.INFERENCE, Severity.INFO, "python inference.py exited 0", "inference.py")])
    body = render_body(report)
    assert report.status == "passed" and "❌" not in body
    assert "| inference | inference example | ⚠️ warnings |" in body
    assert "| layout | package layout | ✅ passed |" in body and "| publishing | catalog records | ⏭️ skipped |" in body
    report.findings.append(Finding("MC950", Area.INFERENCE, Severity.ERROR, "python inference.py exited 2", "inference.py"))
    body = render_body(report)
    assert report.status == "failed" and "| inference | inference example | ❌ failed |" in body
    # with fail-on warning the package fails, and the warning is still a warning
    report.findings.pop()
    report.fail_on = Severity.WARNING
    body = render_body(report)
    assert report.status == "failed" and "| inference | inference example | ⚠️ warnings |" in body


def test_parity_marks_follow_the_severities() -> None:
    """Outputs that differ are ❌ when the parity finding is an error; ⚠️ when a configuration lowered it."""
    from validator.core.findings import Area, Finding, Severity
    from validator.core.report import Report

    parity = {"passed": False, "rtol": 1e-4, "atol": 1e-4, "max_abs_diff": 0.5, "max_rel_diff": 0.5, "inputs": [], "outputs": []}
    report = Report("m", "m", "1", Severity.ERROR, parity=parity,  # type: ignore[arg-type]
                    findings=[Finding("MC901", Area.PARITY, Severity.ERROR, "outputs differ")])
    assert "❌ outputs differ" in render_body(report)
    report.findings = [Finding("MC901", Area.PARITY, Severity.WARNING, "outputs differ")]
    body = render_body(report)
    assert "⚠️ outputs differ" in body and "❌" not in body
