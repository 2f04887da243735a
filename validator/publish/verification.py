"""Whether a validation attestation covers exactly the files of a package, and says it passed.

One finding per file added, removed or changed since the attestation was made (a rename is a
removal and an addition, each naming the other path); one for an attestation of another package,
one for a verdict other than passed. The signature's half is validator.publish.signing's.
"""

from __future__ import annotations

import os
from pathlib import Path

from validator.core.catalogue import rule
from validator.core.findings import Artefact, Finding
from validator.core.package_paths import SKIPPED_DIRS
from validator.publish.attestation import Attestation, AttestationError, read

MAX_NAMED = 5


def attestation_findings(attestation_path: Path, shown: str, files: list[Artefact]) -> tuple[list[Finding], Attestation | None]:
    """The findings of checking the attestation at `attestation_path` (named `shown` in messages) against
    `files`, the package's fresh manifest less the unattested files; and the attestation, when readable."""
    if not attestation_path.is_file():
        return [rule("attestation-missing").finding(
            f"{shown}: no validation attestation; without it nothing says what was validated", file=shown)], None
    try:
        attestation = read(attestation_path)
    except AttestationError as exc:
        return [rule("attestation-invalid").finding(f"{shown} {exc}", file=shown)], None
    return _compare(attestation, shown, files) + _verdict(attestation, shown), attestation


VCS_DIRS = frozenset({".git", ".hg", ".svn"})
MAX_FOLDERS = 2_000_000  # folders walked at most: a bound on a hostile tree


def unread_folders(root: Path) -> list[str]:
    """The non-empty folders model-check never reads nor attests (__pycache__, .venv, node_modules…; VCS
    folders excepted), walked without following links. Python loads bytecode from __pycache__, so what
    lies there would escape both the validation and the attestation."""
    found: list[str] = []
    stack, walked = [root], 0
    while stack and walked < MAX_FOLDERS:
        current = stack.pop()
        walked += 1
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue  # an unreadable folder is the manifest's finding
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False) or entry.name in VCS_DIRS:
                continue
            if entry.name not in SKIPPED_DIRS:
                stack.append(Path(entry.path))
            elif any(True for _ in _entries(entry.path)):
                found.append(Path(entry.path).relative_to(root).as_posix())
    return sorted(found)


def _entries(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return ["?"]  # unreadable: not known to be empty


def unread_findings(root: Path) -> list[Finding]:
    return [rule("attestation-file-added").finding(
        f"{folder}/ holds files no attestation covers: model-check never reads {Path(folder).name}/ (nor copies it for "
        "the checks), yet Python loads bytecode from __pycache__ and an environment folder runs what it holds; remove the "
        "folder", file=folder) for folder in unread_folders(root)]


def _compare(attestation: Attestation, shown: str, files: list[Artefact]) -> list[Finding]:
    now = {a.path: a.sha256 for a in files}
    then = attestation.subjects
    by_digest_then: dict[str, list[str]] = {}
    for path, digest in then.items():
        by_digest_then.setdefault(digest, []).append(path)
    by_digest_now: dict[str, list[str]] = {}
    for path, digest in now.items():
        by_digest_now.setdefault(digest, []).append(path)
    findings: list[Finding] = []
    common = [p for p in sorted(then) if p in now]
    same = sum(1 for p in common if then[p] == now[p])
    if then and 2 * same < min(len(then), len(now)):  # most files differ: not a tampered copy, other files
        findings.append(rule("attestation-other-package").finding(
            f"{shown} attests {attestation.package}: only {same} of its {len(then)} subject(s) match a file of this "
            f"package ({len(now)} file(s)) by path and sha256; it was made for other files", file=shown))
    for path in common:
        if then[path] != now[path]:
            findings.append(rule("attestation-file-changed").finding(
                f"{path} changed since it was attested: sha256 {now[path][:12]}… now, {then[path][:12]}… in {shown}", file=path))
    for path in sorted(now.keys() - then.keys()):
        was = [p for p in by_digest_then.get(now[path], []) if p not in now]
        hint = f" (the same content as {_join(was)}, attested but missing: renamed?)" if was else ""
        findings.append(rule("attestation-file-added").finding(
            f"{path} is not among the files {shown} attests{hint}", file=path))
    for path in sorted(then.keys() - now.keys()):
        moved = [p for p in by_digest_now.get(then[path], []) if p not in then]
        hint = f" (its content is now at {_join(moved)}: renamed?)" if moved else ""
        findings.append(rule("attestation-file-removed").finding(
            f"{path} is attested by {shown} but not in the package{hint}", file=path))
    return findings


def _verdict(attestation: Attestation, shown: str) -> list[Finding]:
    predicate = attestation.predicate
    gate = predicate["releaseGate"]["outcome"]
    if attestation.verdict == "passed" and gate != "failed":
        return []
    summary = predicate["summary"]
    failing = [str(r["id"])[:20] for r in predicate["rules"] if r["fails"]]
    why = (f"the release gate failed ({str(predicate['releaseGate'].get('reason', ''))[:300]})" if gate == "failed"
           else f"{summary['error']} error(s), {summary['warning']} warning(s) at fail-on {predicate['failOn']}")
    rules = f"; failing rules: {_join(failing)}" if failing else ""
    return [rule("attestation-not-passed").finding(
        f"{shown} says the package {attestation.verdict[:40]} validation: {why}{rules}", file=shown)]


def _join(items: list[str]) -> str:
    return ", ".join(items[:MAX_NAMED]) + (f" and {len(items) - MAX_NAMED} more" if len(items) > MAX_NAMED else "")
