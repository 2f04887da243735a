"""Check runs with annotations against the local GitHub stand-in: batches of 50, then completion."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from github import GithubException
from github_server import READ_TOKEN, WRITE_TOKEN, FakeGitHub, make_report

from validator.core.catalogue import rule
from validator.core.report import Report
from validator.github.annotations import annotations_for
from validator.github.checks_api import CheckRunPosted, post_check_run
from validator.github.client import connect
from validator.github.context import GitHubContext

SHA = "c" * 40


@pytest.fixture()
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        yield server


def _post(server: FakeGitHub, report: Report, token: str = WRITE_TOKEN) -> CheckRunPosted:
    repo = connect(GitHubContext(repository=server.repository, api_url=server.url), token, write_pause_s=None)
    return post_check_run(repo, SHA, report, annotations_for(report), "# the report", "https://runs/5")


def test_annotations_are_sent_in_batches_of_50(github: FakeGitHub) -> None:
    report = make_report(120)
    posted = _post(github, report)
    calls = [(r.method, r.path) for r in github.requests]
    run_path = f"/repos/earthcode/models/check-runs/{posted.check_run_id}"
    assert calls == [("POST", "/repos/earthcode/models/check-runs"), ("PATCH", run_path), ("PATCH", run_path), ("PATCH", run_path)]
    sizes = [len((r.body.get("output") or {}).get("annotations", [])) for r in github.requests]
    assert sizes == [50, 50, 20, 0]
    create = github.requests[0].body
    assert create["name"] == "model-check (models/cloud)" and create["head_sha"] == SHA and create["status"] == "in_progress"
    assert create["details_url"] == "https://runs/5"
    assert github.requests[-1].body == {"status": "completed", "conclusion": "failure"}
    sent = github.annotations[posted.check_run_id]
    assert len(sent) == 120 == posted.annotations and posted.requests == 4
    assert sent[0] == {"path": "models/cloud/README.md", "start_line": 1, "end_line": 1, "annotation_level": "failure",
                       "title": f"MC202 {rule('MC202').name}", "message": "finding 0 <b>@octocat</b>"}
    assert github.check_runs[posted.check_run_id]["conclusion"] == "failure"


def test_no_findings_a_passed_run(github: FakeGitHub) -> None:
    posted = _post(github, make_report(0))
    assert [len(r.body.get("output", {}).get("annotations", [])) for r in github.requests] == [0, 0]
    assert github.check_runs[posted.check_run_id]["conclusion"] == "success"


def test_findings_without_a_file_stay_in_the_text(github: FakeGitHub) -> None:
    posted = _post(github, make_report(3, with_file=False))
    assert posted.annotations == 0 and github.annotations[posted.check_run_id] == []
    assert github.requests[0].body["output"]["text"] == "# the report"


def test_read_only_token_gets_403(github: FakeGitHub) -> None:
    with pytest.raises(GithubException) as caught:
        _post(github, make_report(3), READ_TOKEN)
    assert caught.value.status == 403
    assert [(r.method, r.path) for r in github.requests] == [("POST", "/repos/earthcode/models/check-runs")]
    assert github.check_runs == {}


def test_findings_on_binary_files_are_not_annotated_on_them(github: FakeGitHub) -> None:
    """A notice on model.onnx would land on line 1 of a binary file: it stays in the check run's text instead;
    findings on text files without a line still go to line 1, those with a line to that line."""
    from validator.core.findings import Area, Finding, Severity

    report = make_report(0)
    report.findings = [Finding("MC523", Area.ONNX, Severity.INFO, "model.onnx: inputs …", "model.onnx"),
                       Finding("MC421", Area.SAFETENSORS, Severity.INFO, "26 tensors", "weights/model.safetensors"),
                       Finding("MC903", Area.PARITY, Severity.ERROR, "does not load", "model.safetensors"),
                       Finding("MC202", Area.MODEL_CARD, Severity.ERROR, "no version", "README.md", 9),
                       Finding("MC101", Area.LAYOUT, Severity.WARNING, "no license", "LICENSE"),
                       Finding("MC301", Area.RUNTIME, Severity.WARNING, "unpinned", "requirements.txt")]
    posted = _post(github, report)
    sent = github.annotations[posted.check_run_id]
    assert [(a["path"], a["start_line"]) for a in sent] == [
        ("models/cloud/README.md", 9), ("models/cloud/LICENSE", 1), ("models/cloud/requirements.txt", 1)]
    assert posted.annotations == 3
    assert not any(a["path"].endswith((".onnx", ".safetensors")) for a in sent)
