"""Workflow-command annotations: GitHub's escaping rules, the per-step limits, stop-commands."""

from __future__ import annotations

import re

import pytest

from validator.core.findings import Area, Finding, Severity
from validator.core.report import Report
from validator.github.annotations import (
    Annotation,
    annotations_for,
    emit,
    escape_data,
    escape_property,
    format_command,
    stop_commands,
)
from validator.github.locations import annotatable, repo_path


def _report(findings: list[Finding], path: str = "models/cloud") -> Report:
    return Report(path, "cloud", "1.0.0", Severity.ERROR, findings=findings)


def test_escaping_follows_the_runner_rules() -> None:
    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    line = format_command(Annotation("error", "bad\n::warning::injected", "MC1 x,y", "dir/a:b,c.md", 3))
    assert line == "::error file=dir/a%3Ab%2Cc.md,line=3,title=MC1 x%2Cy::bad%0A::warning::injected"
    assert "\n" not in line


def test_annotation_without_file_has_no_line() -> None:
    assert format_command(Annotation("notice", "whole package", "", None, 4)) == "::notice::whole package"


def test_control_characters_and_length_are_capped() -> None:
    line = format_command(Annotation("warning", "x\x1b[31m\u202e" + "y" * 10_000))
    assert "\x1b" not in line and "\u202e" not in line
    assert len(line) < 4100


def test_findings_map_to_repository_paths_and_levels() -> None:
    report = _report([
        Finding("MC201", Area.MODEL_CARD, Severity.INFO, "note", "README.md", 2),
        Finding("MC202", Area.MODEL_CARD, Severity.ERROR, "no version", "README.md", 9),
        Finding("MC101", Area.LAYOUT, Severity.WARNING, "escapes", "../../../etc/passwd", 1),
        Finding("MC102", Area.LAYOUT, Severity.WARNING, "no file"),
    ])
    found = annotations_for(report)
    assert [a.level for a in found] == ["error", "warning", "warning", "notice"]
    assert found[0].file == "models/cloud/README.md" and found[0].line == 9
    assert found[1].file is None and found[1].line is None  # a path leaving the repository is dropped
    assert found[0].title.startswith("MC202")


def test_repo_path() -> None:
    assert repo_path(".", "a/b.onnx") == "a/b.onnx"
    assert repo_path("models/x/", "./w.safetensors") == "models/x/w.safetensors"
    assert repo_path("models/x", "../y/z") == "models/y/z"
    assert repo_path("models", "../../z") is None
    assert repo_path("/abs", "z") is None
    assert repo_path("m", None) is None


def test_per_step_limits_and_the_count_left_out() -> None:
    lines: list[str] = []
    annotations = ([Annotation("error", f"e{i}") for i in range(13)] + [Annotation("warning", f"w{i}") for i in range(4)]
                   + [Annotation("notice", f"n{i}") for i in range(12)])
    emitted = emit(annotations, lines.append)
    commands = [line for line in lines if line.startswith("::")]
    assert sum(c.startswith("::error") for c in commands) == 10
    assert sum(c.startswith("::warning") for c in commands) == 4
    assert sum(c.startswith("::notice") for c in commands) == 10
    assert emitted.shown == 24 and emitted.left_out == {"error": 3, "notice": 2} and emitted.total_left_out == 5
    assert "3 error(s), 2 notice(s) not shown" in lines[-1]


def test_stop_commands_wraps_with_a_random_token() -> None:
    lines: list[str] = []
    with stop_commands(lines.append):
        lines.append("::error::from the package")
    with stop_commands(lines.append):
        pass
    start, _, end, again, _ = lines
    match = re.fullmatch(r"::stop-commands::([0-9a-f]{32})", start)
    assert match, start
    token = match.group(1)
    assert end == f"::{token}::"
    assert again != start


def test_findings_on_binary_files_get_no_place_and_name_the_file_in_the_title() -> None:
    """A workflow-command annotation on a binary file shows on its line 1: the file goes into the title instead."""
    report = _report([
        Finding("MC523", Area.ONNX, Severity.INFO, "model.onnx: inputs …", "model.onnx"),
        Finding("MC421", Area.SAFETENSORS, Severity.INFO, "26 tensors", "weights/model.safetensors"),
        Finding("MC202", Area.MODEL_CARD, Severity.ERROR, "no version", "README.md", 9),
        Finding("MC301", Area.RUNTIME, Severity.WARNING, "unpinned", "requirements.txt"),
    ])
    found = annotations_for(report)
    placed = {a.title.split()[0]: (a.file, a.line) for a in found}
    assert placed == {"MC202": ("models/cloud/README.md", 9), "MC301": ("models/cloud/requirements.txt", None),
                      "MC523": (None, None), "MC421": (None, None)}
    onnx = next(a for a in found if a.title.startswith("MC523"))
    assert onnx.title.endswith("(models/cloud/model.onnx)")
    lines: list[str] = []
    emit(found, lines.append)
    assert not any("file=" in line and (".onnx" in line or ".safetensors" in line) for line in lines)
    assert "::notice title=MC523 onnx-io (models/cloud/model.onnx)::model.onnx: inputs …" in lines
    assert "::warning file=models/cloud/requirements.txt,title=MC301" in "\n".join(lines)


@pytest.mark.parametrize("file, line, shown", [
    ("README.md", None, True), ("LICENSE", None, True), ("Dockerfile", None, True), ("a/b.ipynb", None, True),
    ("model.onnx", None, False), ("w.SAFETENSORS", None, False), ("model.pt", None, False), ("x.npy", None, False),
    ("figure.png", None, False), ("weights.bin", None, False), ("data.tar.gz", None, False),
    ("model.onnx", 3, True),  # a numbered line is text
])
def test_annotatable(file: str, line: int | None, shown: bool) -> None:
    assert annotatable(file, line) is shown
