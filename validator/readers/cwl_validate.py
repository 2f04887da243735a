"""cwltool's own validation of a CWL document, in the sandbox.

cwltool (schema-salad) resolves references and runs node to check JavaScript expressions, so it
runs as a child under `run_sandboxed`: on a scratch copy of the package (the only package files it
sees), no network, model-check's own interpreter read-only, an environment model-check built,
bounded time and memory. `--skip-schemas` keeps it from fetching the ontologies a document's
`$schemas` names (the run has no network anyway).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from validator.sandbox.base import Limits
from validator.sandbox.bubblewrap import remove_tree, run_sandboxed, scratch_copy

VALIDATE_LIMITS = Limits(wall_s=90, cpu_s=90, memory_mb=2048, processes=64, output_bytes=200_000)
_LOCATION = re.compile(r"^(?:\S*/)?(?P<file>[^\s:/]+\.(?:cwl|ya?ml|json)):(?P<line>\d+):\d+:\s*(?P<text>.*)$")


@dataclass(frozen=True)
class Validation:
    valid: bool
    message: str  # cwltool's first lines of explanation (redacted), "" when valid
    line: int | None  # the line cwltool names in the document, when it names one
    duration_s: float


def cwltool_argv(*args: str) -> list[str]:
    """cwltool run by model-check's own interpreter, isolated from the working folder (-I), exiting with
    cwltool's status (`python -m cwltool` drops it and always exits 0)."""
    return [sys.executable, "-I", "-c", "import sys; from cwltool.main import run; sys.exit(run())",
            "--disable-color", *args]


def validate(root: Path, rel: str, entry: str | None) -> Validation:
    scratch = scratch_copy(root)
    try:
        target = f"{rel}#{entry}" if entry else rel
        done = run_sandboxed(cwltool_argv("--validate", "--skip-schemas", target), scratch, VALIDATE_LIMITS,
                             {"LC_ALL": "C.UTF-8"})
    finally:
        remove_tree(scratch)
    output = f"{done.stdout}\n{done.stderr}"
    if done.returncode == 0 and "is valid CWL" in output:
        return Validation(True, "", None, done.duration_s)
    if done.killed_by:
        return Validation(False, f"cwltool was stopped ({done.killed_by})", None, done.duration_s)
    return Validation(False, *_explain(output, rel), done.duration_s)


def _explain(output: str, rel: str) -> tuple[str, int | None]:
    name = rel.rsplit("/", 1)[-1]
    lines = [line.strip() for line in output.splitlines() if line.strip() and not line.startswith("INFO ")]
    lines = [line for line in lines if "Resolved '" not in line and not line.startswith(("/", "cwltool "))] or lines
    first_line: int | None = None
    text: list[str] = []
    for line in lines:
        found = _LOCATION.match(line)
        if found and found["file"] == name and first_line is None:
            first_line = int(found["line"])
        text.append(found["text"] if found else line)
    message = " ".join(text[:6])[:600] or "cwltool rejected the document"
    return message, first_line
