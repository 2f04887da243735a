"""`model-check github post` and publish(): the pull-request, fork, workflow_run and tag flows
against the local GitHub stand-in, with reports treated as untrusted data."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from github_server import READ_TOKEN, WRITE_TOKEN, FakeGitHub, make_report
from helpers import EXAMPLE, REPO, RunCli
from test_github_outputs_summary import parse_outputs

from validator.core.findings import Area, Finding, Severity
from validator.core.options import Options
from validator.core.report import Report
from validator.github.comment import marker
from validator.github.context import GitHubContext, PullRequest, WorkflowRun
from validator.github.post import (
    PostResult,
    PostSettings,
    UntrustedInputError,
    load_report,
    publish,
    read_pr_file,
    resolve_pull_request,
)
from validator.pipeline.runner import run

PR, HEAD = 21, "d" * 40
EXAMPLE_PATH = EXAMPLE.relative_to(REPO).as_posix()


@pytest.fixture(scope="module")
def example_json() -> str:
    return run(EXAMPLE, Options(env="none"), display_path=EXAMPLE_PATH).to_json()


@pytest.fixture()
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        server.add_pull(PR, HEAD, files=[f"{EXAMPLE_PATH}/README.md"], head_ref="feature", head_repo="someone/models")
        yield server


def _files(tmp_path: Path) -> tuple[Path, Path]:
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    summary.touch()
    output.touch()
    return summary, output


def _context(server: FakeGitHub, tmp_path: Path, **fields: Any) -> GitHubContext:
    summary, output = _files(tmp_path)
    base: dict[str, Any] = dict(event_name="pull_request", repository=server.repository, api_url=server.url, sha="m" * 40, run_id="500",
                workspace=REPO, step_summary=summary, output=output,
                pull_request=PullRequest(PR, HEAD, "earthcode/models", "earthcode/models"))
    base.update(fields)
    return GitHubContext(**base)


def _write(tmp_path: Path, report: Report, name: str = "report.json") -> Path:
    path = tmp_path / name
    path.write_text(report.to_json(), encoding="utf-8")
    return path


def _publish(paths: list[Path], context: GitHubContext, lines: list[str] | None = None, **settings: Any) -> PostResult:
    reports = [load_report(p) for p in paths]
    settings.setdefault("token", WRITE_TOKEN)
    return publish(paths, reports, context, PostSettings(write_pause_s=None, **settings),
                   (lines if lines is not None else []).append)


def _summary_text(context: GitHubContext) -> str:
    assert context.step_summary is not None
    return context.step_summary.read_text(encoding="utf-8")


def _env(monkeypatch: pytest.MonkeyPatch, server: FakeGitHub, tmp_path: Path, event_name: str, event: dict[str, Any],
         token: str = WRITE_TOKEN) -> tuple[Path, Path]:
    summary, output = _files(tmp_path)
    (tmp_path / "event.json").write_text(json.dumps(event), encoding="utf-8")
    for key, value in {"GITHUB_EVENT_NAME": event_name, "GITHUB_EVENT_PATH": str(tmp_path / "event.json"),
                       "GITHUB_REPOSITORY": server.repository, "GITHUB_API_URL": server.url, "GITHUB_SHA": "m" * 40,
                       "GITHUB_RUN_ID": "500", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_WORKSPACE": str(REPO),
                       "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output), "GITHUB_TOKEN": token,
                       "GITHUB_REF": "refs/pull/21/merge"}.items():
        monkeypatch.setenv(key, value)
    return summary, output


PR_EVENT = {"number": PR, "pull_request": {"number": PR, "head": {"sha": HEAD, "repo": {"full_name": "earthcode/models"}},
                                           "base": {"repo": {"full_name": "earthcode/models"}}}}


def test_pull_request_comment_check_run_summary_outputs_via_cli(github: FakeGitHub, tmp_path: Path, run_cli: RunCli,
                                                               monkeypatch: pytest.MonkeyPatch, example_json: str) -> None:
    summary, output = _env(monkeypatch, github, tmp_path, "pull_request", PR_EVENT)
    report = tmp_path / "r.json"
    report.write_text(example_json, encoding="utf-8")
    code, out, _ = run_cli(["github", "post", str(report), "--sarif", str(tmp_path / "out.sarif")])
    assert code == 0, out
    [run_id] = github.check_runs
    assert [(r.method, r.path) for r in github.writes()] == [
        ("POST", f"/repos/earthcode/models/issues/{PR}/comments"), ("POST", "/repos/earthcode/models/check-runs"),
        ("PATCH", f"/repos/earthcode/models/check-runs/{run_id}")]
    [comment] = github.comments[PR]
    assert comment["body"].startswith(marker(EXAMPLE_PATH)) and "model-check passed" in comment["body"]
    assert "https://github.com/earthcode/models/actions/runs/500" in comment["body"]
    [check_run] = github.check_runs.values()
    assert check_run["head_sha"] == HEAD and check_run["conclusion"] == "success"
    assert "## model-check:" in summary.read_text(encoding="utf-8")
    values = parse_outputs(output.read_text(encoding="utf-8"))
    assert values["status"] == "passed" and values["errors"] == "0"
    assert values["report"] == str(report)  # outside the workspace: kept as given
    assert json.loads((tmp_path / "out.sarif").read_text(encoding="utf-8"))["version"] == "2.1.0"
    assert "::error" not in out and "::warning" not in out  # the check run carries the annotations

    # a second run (the next push) edits the same comment
    github.clear_requests()
    code, _, _ = run_cli(["github", "post", str(report), "--no-annotations"])
    assert code == 0
    assert [(r.method, r.path) for r in github.writes()] == [("PATCH", f"/repos/earthcode/models/issues/comments/{comment['id']}")]
    assert len(github.comments[PR]) == 1


def test_fork_pull_request_falls_back_to_workflow_annotations(github: FakeGitHub, tmp_path: Path) -> None:
    findings = [Finding("MC202", Area.MODEL_CARD, Severity.ERROR, f"error {i}", "LICENSE", i + 1) for i in range(14)]
    findings.insert(13, Finding("MC202", Area.MODEL_CARD, Severity.ERROR, "in a changed file", "README.md", 3))
    findings.append(Finding("MC201", Area.MODEL_CARD, Severity.WARNING, "a warning", None))
    report = Report(EXAMPLE_PATH, "x", "1", Severity.ERROR, findings=findings)
    lines: list[str] = []
    context = _context(github, tmp_path, pull_request=PullRequest(PR, HEAD, "someone/models", "earthcode/models"))
    result = _publish([_write(tmp_path, report)], context, lines, token=READ_TOKEN)
    assert result.status == "failed" and result.comments == [] and result.check_runs == []
    assert github.comments[PR] == [] and github.check_runs == {}
    assert [(r.method, r.path) for r in github.requests] == [
        ("GET", "/repos/earthcode/models/issues/21/comments"),
        ("POST", "/repos/earthcode/models/issues/21/comments"),  # 403
        ("POST", "/repos/earthcode/models/check-runs"),  # 403
        ("GET", "/repos/earthcode/models/pulls/21/files"),
    ]
    errors = [line for line in lines if line.startswith("::error")]
    assert len(errors) == 10
    assert errors[0] == f"::error file={EXAMPLE_PATH}/README.md,line=3,title=MC202 {_name('MC202')}::in a changed file"
    assert [line for line in lines if line.startswith("::warning")] == [f"::warning title=MC201 {_name('MC201')}::a warning"]
    assert any("5 error(s) not shown as annotations" in line for line in lines)
    text = _summary_text(context)
    assert "read\\-only" in text and "5 left out" in text


def _name(rule_id: str) -> str:
    from validator.core.catalogue import get_rule

    rule = get_rule(rule_id)
    assert rule is not None
    return rule.name


def test_no_token_still_annotates_and_summarises(tmp_path: Path) -> None:
    lines: list[str] = []
    context = GitHubContext(event_name="push", repository="earthcode/models", sha="m" * 40, workspace=tmp_path,
                            step_summary=_files(tmp_path)[0])
    result = _publish([_write(tmp_path, make_report(2))], context, lines, token="")
    assert result.fallback is not None and result.fallback.shown == 2
    assert "No GitHub token" in _summary_text(context)


def _run_event(pull_requests: tuple[int, ...]) -> WorkflowRun:
    return WorkflowRun(id=77, event="pull_request", head_sha=HEAD, html_url="https://github.com/earthcode/models/actions/runs/77",
                       head_repo="someone/models", head_branch="feature", pull_requests=pull_requests)


def test_workflow_run_of_a_fork_finds_the_pull_request_by_its_head(github: FakeGitHub, tmp_path: Path) -> None:
    context = _context(github, tmp_path, event_name="workflow_run", pull_request=None, workflow_run=_run_event(()))
    result = _publish([_write(tmp_path, make_report(2, path=EXAMPLE_PATH))], context)
    assert result.pr_number == PR
    lookup = github.requests[0]
    assert (lookup.method, lookup.path, lookup.query) == ("GET", "/repos/earthcode/models/pulls",
                                                          {"state": "open", "head": "someone:feature"})
    [comment] = github.comments[PR]
    assert "https://github.com/earthcode/models/actions/runs/77" in comment["body"]  # the run that made the report
    [check_run] = github.check_runs.values()
    assert check_run["head_sha"] == HEAD


def test_workflow_run_claimed_number_must_match_the_head(github: FakeGitHub, tmp_path: Path) -> None:
    github.add_pull(99, "e" * 40)
    context = _context(github, tmp_path, event_name="workflow_run", pull_request=None, workflow_run=_run_event(()))
    lines: list[str] = []
    result = _publish([_write(tmp_path, make_report(1))], context, lines, pr_number=99, annotations=False)
    assert result.pr_number is None and github.comments[99] == [] and github.comments[PR] == []
    assert any("is at eeeeeeeeeeee, not at dddddddddddd" in line for line in lines)
    assert "could not be verified" in _summary_text(context)
    # the right number is accepted after the same check
    github.clear_requests()
    result = _publish([_write(tmp_path, make_report(1))], context, pr_number=PR, annotations=False)
    assert result.pr_number == PR and github.requests[0].path == f"/repos/earthcode/models/pulls/{PR}"


def test_workflow_run_listed_pull_request(github: FakeGitHub, tmp_path: Path) -> None:
    context = _context(github, tmp_path, event_name="workflow_run", pull_request=None, workflow_run=_run_event((PR,)))
    assert resolve_pull_request(context, None) == PR
    assert resolve_pull_request(context, None, PR) == PR
    with pytest.raises(UntrustedInputError):
        resolve_pull_request(context, None, 5)  # not listed and no token to check its head
    push = _context(github, tmp_path, event_name="push", pull_request=None)
    assert resolve_pull_request(push, None) is None
    with pytest.raises(UntrustedInputError):
        resolve_pull_request(push, None, PR)


def test_pr_file_is_digits_only(tmp_path: Path) -> None:
    good, bad = tmp_path / "pr", tmp_path / "bad"
    good.write_text("21\n", encoding="ascii")
    assert read_pr_file(good) == 21
    for text in ("21; rm -rf /", "0", "-1", "", "1" * 11, "２１"):
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(UntrustedInputError):
            read_pr_file(bad)


@pytest.mark.no_report_check
@pytest.mark.parametrize("text", [
    '{"schema_version": 1}',
    '{"a": 1, "a": 2}',
    '{"x": NaN}',
    "[" * 100_000,
    "\xff",
])
def test_untrusted_reports_are_refused(tmp_path: Path, text: str, example_json: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(text.encode("utf-8", errors="surrogateescape") if text != "\xff" else b"\xff{}")
    with pytest.raises(UntrustedInputError):
        load_report(path)


@pytest.mark.no_report_check
def test_oversized_or_tampered_report_exits_2(tmp_path: Path, run_cli: RunCli, example_json: str) -> None:
    data = json.loads(example_json)
    data["findings"] = [{"rule": "MC202", "area": "model-card", "severity": "error", "message": "x",
                         "file": None, "line": 0, "help": ""}]  # line must be >= 1
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    code, out, _ = run_cli(["github", "post", str(path), "--no-comment", "--no-annotations", "--no-summary", "--no-outputs"])
    assert code == 2 and "not a model-check report" in out
    path.write_text(example_json, encoding="utf-8")
    code, out, _ = run_cli(["github", "post", str(path), "--max-report-bytes", "100", "--no-comment", "--no-annotations"])
    assert code == 2 and "larger than 100 bytes" in out


def test_markup_in_an_untrusted_report_is_escaped(github: FakeGitHub, tmp_path: Path, example_json: str) -> None:
    data = json.loads(example_json)
    data["package"]["path"] = "models/<img src=x onerror=alert(1)>"
    data["checks"][0]["name"] = "<script>alert(1)</script> @admin"
    data["notes"] = ["::error::forged <b>bold</b>"]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    lines: list[str] = []
    _publish([path], _context(github, tmp_path), lines, annotations=False)
    body = github.comments[PR][0]["body"]
    outside_code = re.sub(r"`[^`]*`", "", body)  # code spans render their text literally
    for raw in ("<script>", "<img", "<b>bold", "@admin"):
        assert raw not in outside_code
    assert "`models/<img src=x onerror=alert(1)>`" in body
    assert all(not line.lstrip().startswith("::") for line in lines)


def test_tag_push_is_gated_on_the_version(tmp_path: Path, example_json: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(example_json, encoding="utf-8")
    context = GitHubContext(event_name="push", repository="earthcode/models", ref="refs/tags/v9.9.9", tag="v9.9.9",
                            workspace=REPO, step_summary=_files(tmp_path)[0], output=tmp_path / "output")
    lines: list[str] = []
    result = _publish([path], context, lines, token="", release_gate=True, comment=False)
    assert result.status == "failed"
    rewritten = json.loads(path.read_text(encoding="utf-8"))
    assert {f["rule"] for f in rewritten["findings"]} >= {"MC860"} and rewritten["status"] == "failed"
    assert rewritten["checks"][-1]["name"] == "release tag gate"
    assert any(line.startswith("::error file=examples/goes-cloud-regime/CITATION.cff,line=5") for line in lines)
    assert parse_outputs((tmp_path / "output").read_text(encoding="utf-8"))["status"] == "failed"
    # the matching tag on a static run (--env none) still fails: nothing was run
    path.write_text(example_json, encoding="utf-8")
    context = GitHubContext(event_name="push", tag="v0.1.0", workspace=REPO)
    assert _publish([path], context, token="", release_gate=True).status == "failed"
    assert [f["rule"] for f in json.loads(path.read_text(encoding="utf-8"))["findings"] if f["rule"].startswith("MC86")] == ["MC865"]
    # with its runtime checks run and passed, the matching tag passes; the gate is off without --release-gate
    path.write_text(_runtime_passed(example_json), encoding="utf-8")
    assert _publish([path], context, token="", release_gate=True).status == "passed"
    path.write_text(example_json, encoding="utf-8")
    assert _publish([path], GitHubContext(event_name="push", tag="v9.9.9", workspace=REPO), token="").status == "passed"


def _runtime_passed(report_json: str) -> str:
    """The report as a run with its runtime checks run and passed would have it."""
    data = json.loads(report_json)
    for check in data["checks"]:
        if check["name"] in ("environment rebuild", "native vs ONNX parity", "inference example"):
            check.update(status="passed", reason="")
    return json.dumps(data)


def test_a_tag_with_a_path_prefix_gates_only_that_package(tmp_path: Path, example_json: str) -> None:
    """`models/other-model/v0.1.0` does not gate examples/goes-cloud-regime (only the last part used to be compared);
    `examples/goes-cloud-regime/v9.9.9` does."""
    path = tmp_path / "r.json"
    path.write_text(example_json, encoding="utf-8")
    summary, output = _files(tmp_path)
    context = GitHubContext(event_name="push", tag="models/other-model/v0.1.0", workspace=REPO, step_summary=summary, output=output)
    lines: list[str] = []
    assert _publish([path], context, lines, token="", release_gate=True, comment=False).status == "passed"
    rewritten = json.loads(path.read_text(encoding="utf-8"))
    assert not [f for f in rewritten["findings"] if f["rule"].startswith("MC86")]
    assert rewritten["checks"][-1] == {"area": "publishing", "name": "release tag gate", "status": "skipped", "duration_s": 0.0,
                                       "reason": "not gated: the release tag models/other-model/v0.1.0 is for the package at "
                                                 "models/other-model, not for the package at examples/goes-cloud-regime"}
    assert any("examples/goes-cloud-regime is not gated" in line for line in lines)
    assert "none of the reports is for: nothing was gated" in _summary_text(context)
    # the tag whose prefix is the package's path gates it
    path.write_text(_runtime_passed(example_json), encoding="utf-8")
    context = GitHubContext(event_name="push", tag=f"{EXAMPLE_PATH}/v9.9.9", workspace=REPO)
    assert _publish([path], context, token="", release_gate=True, comment=False).status == "failed"
    assert {f["rule"] for f in json.loads(path.read_text(encoding="utf-8"))["findings"]} >= {"MC860"}
    path.write_text(_runtime_passed(example_json), encoding="utf-8")
    context = GitHubContext(event_name="push", tag=f"{EXAMPLE_PATH}/v0.1.0", workspace=REPO)
    assert _publish([path], context, token="", release_gate=True, comment=False).status == "passed"
