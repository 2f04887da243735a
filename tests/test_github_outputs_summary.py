"""Step outputs (GITHUB_OUTPUT, `name<<DELIMITER`) and the job summary (1 MiB per step)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from validator.core.findings import Area, Finding, Severity
from validator.core.report import Report
from validator.github.outputs import format_output, write_outputs
from validator.github.summary import SUMMARY_LIMIT, build_summary, truncate_utf8, write_summary


def parse_outputs(text: str) -> dict[str, str]:
    """Read a GITHUB_OUTPUT file the way the runner does."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if m := re.fullmatch(r"([A-Za-z_][\w-]*)<<(.+)", line):
            name, delimiter = m.groups()
            end = lines.index(delimiter, i + 1)
            values[name] = "\n".join(lines[i + 1:end])
            i = end + 1
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
            i += 1
        else:
            i += 1
    return values


def test_outputs_round_trip_with_multi_line_values(tmp_path: Path) -> None:
    target = tmp_path / "output"
    target.write_text("earlier=1\n", encoding="utf-8")
    write_outputs(target, {"status": "failed", "report": "a.json\nb.json", "tricky": "x\nghadelimiter_\n=y"})
    values = parse_outputs(target.read_text(encoding="utf-8"))
    assert values == {"earlier": "1", "status": "failed", "report": "a.json\nb.json", "tricky": "x\nghadelimiter_\n=y"}


def test_output_names_are_checked() -> None:
    with pytest.raises(ValueError):
        format_output("bad name\nx", "1")


def _big_report(n: int) -> Report:
    findings = [Finding("MC201", Area.MODEL_CARD, Severity.WARNING, "m" * 500 + " <b>@someone</b>", f"f{i}.md", i + 1)
                for i in range(n)]
    return Report("pkg", "pkg", "1", Severity.ERROR, findings=findings)


def test_summary_fits_in_one_mebibyte(tmp_path: Path) -> None:
    reports = [_big_report(1500), _big_report(1500)]
    text = build_summary(reports, ["a note"])
    assert len(text.encode("utf-8")) <= SUMMARY_LIMIT
    assert "more finding(s) are in the full report" in text
    assert "&lt;b&gt;" in text and "<b>@" not in text and "@someone" not in text  # package text is escaped
    target = tmp_path / "summary.md"
    target.write_text("x" * 1000, encoding="utf-8")
    write_summary(target, reports)
    assert target.stat().st_size <= SUMMARY_LIMIT


def test_truncate_keeps_whole_utf8_lines() -> None:
    cut = truncate_utf8("ééé\n" * 100, 50, "[cut]")
    assert len(cut.encode("utf-8")) <= 50 and cut.endswith("\n[cut]") and "\ufffd" not in cut
