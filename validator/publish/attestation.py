"""The validation attestation: an in-toto Statement v1 binding every file of a package (path and sha256) to
what model-check checked and found (predicate type `PREDICATE_TYPE`, schema
schemas/validation-attestation-v1.schema.json).

The subjects come from a fresh hash of the package, never from a report: a report file is untrusted,
so `statement()` refuses one whose artefacts differ from the files now.
"""

from __future__ import annotations

import hashlib
import json
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from validator import __version__
from validator.core.catalogue import rule_named
from validator.core.findings import Artefact, CheckStatus
from validator.core.report import Report
from validator.pipeline.release_gate import CHECK_NAME as GATE_CHECK
from validator.readers.json_strict import parse_json_strict
from validator.readers.package import MAX_FILES

# in the package root, never subjects; SIGNATURE_NAME equals validator.publish.signing's
from validator.readers.stac_assets import ATTESTATION_NAME, SIGNATURE_NAME

__all__ = ["ATTESTATION_NAME", "MEDIA_TYPE", "PREDICATE_TYPE", "SIGNATURE_NAME", "STATEMENT_TYPE", "Attestation",
           "AttestationError", "read", "statement", "subjects", "unattested", "validate", "validate_predicate"]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://github.com/earthcode/model-check/attestation/validation/v1"
MEDIA_TYPE = "application/vnd.in-toto+json"
SCHEMA_FILE = "schemas/validation-attestation-v1.schema.json"
TOOL_URI = "https://github.com/earthcode/model-check"
MAX_ATTESTATION_BYTES = 32 * 1024 * 1024


class AttestationError(Exception):
    """The attestation cannot be written (a stale report) or read (not a validation attestation)."""


def unattested(root: Path, *paths: Path | None) -> set[str]:
    """The package-relative paths that are never subjects: the attestation and signature files (given, or
    the default names), wherever they lie inside `root`."""
    names = {ATTESTATION_NAME, SIGNATURE_NAME}
    base = root.resolve()
    for path in paths:
        if path is None:
            continue
        try:
            names.add(path.resolve().relative_to(base).as_posix())
        except (ValueError, RuntimeError, OSError):
            pass  # outside the package, or a symlink loop (RuntimeError before Python 3.13)
    return names


def subjects(manifest: list[Artefact], skip: set[str]) -> list[Artefact]:
    return sorted((a for a in manifest if a.path not in skip), key=lambda a: a.path)


def stale_files(report: Report, files: list[Artefact], skip: set[str]) -> list[str]:
    """Paths whose size or digest differ between a report's artefacts and the package now."""
    then = {a.path: (a.bytes, a.sha256) for a in report.artefacts if a.path not in skip}
    now = {a.path: (a.bytes, a.sha256) for a in files}
    return sorted(p for p in then.keys() | now.keys() if then.get(p) != now.get(p))


def statement(report: Report, files: list[Artefact], skip: set[str], report_text: str | None = None) -> dict[str, Any]:
    """The Statement for `files` (the package's fresh manifest, less `skip`) and the run `report`."""
    predicate = build_predicate(report, files, skip, report_text)
    data = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": a.path, "digest": {"sha256": a.sha256}} for a in files],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }
    validate(data)
    return data


def build_predicate(report: Report, files: list[Artefact], skip: set[str], report_text: str | None) -> dict[str, Any]:
    gate = next((c for c in report.checks if c.name == GATE_CHECK), None)
    predicate: dict[str, Any] = {
        "validator": {"name": "model-check", "version": __version__, "uri": TOOL_URI},
        "package": {"name": report.package_name, "version": report.package_version},
        "verdict": report.status,
        "failOn": report.fail_on.value,
        "attestedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "summary": report.summary,
        "checks": [{"area": c.area.value, "name": c.name, "outcome": c.status.value, **({"reason": c.reason} if c.reason else {})}
                   for c in report.checks],
        "rules": _rules(report),
        "releaseGate": ({"outcome": gate.status.value, **({"reason": gate.reason} if gate.reason else {})} if gate
                        else {"outcome": "not-run", "reason": "no release tag: the gate runs on release tags (`github post --release-gate`)"}),
        "environment": _environment(report),
        "parity": _parity(report),
        "skipped": _skipped(report),
        "relaxations": [r.to_dict() for r in report.relaxations],
        "unattested": sorted(skip),
        "artefacts": {a.path: a.bytes for a in files},
    }
    if report_text is not None:
        predicate["report"] = {"sha256": hashlib.sha256(report_text.encode("utf-8")).hexdigest()}
    return predicate


def _rules(report: Report) -> list[dict[str, Any]]:
    failing = {id(f) for f in report.failing}
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for finding in report.findings:
        entry = grouped.setdefault((finding.rule, finding.severity.value), {
            "id": finding.rule, "name": (known.name if (known := rule_named(finding.rule)) else finding.rule),
            "severity": finding.severity.value, "count": 0, "fails": False, "files": []})
        entry["count"] += 1
        entry["fails"] = entry["fails"] or id(finding) in failing
        if finding.file and finding.file not in entry["files"]:
            entry["files"].append(finding.file)
    return sorted(grouped.values(), key=lambda e: (e["id"], e["severity"]))


def _environment(report: Report) -> dict[str, Any] | None:
    env = report.environment
    if env is None:
        return None
    installed = {str(k): str(v) for k, v in sorted(env.get("installed", {}).items())}
    lines = "".join(f"{name}=={version}\n" for name, version in installed.items())
    record: dict[str, Any] = {
        "kind": env.get("kind", ""), "python": env.get("python"), "cacheKey": env.get("cache_key"),
        "torchBackend": env.get("torch_backend"), "distributions": installed,
        "digest": {"sha256": hashlib.sha256(lines.encode("utf-8")).hexdigest()},
    }
    if env.get("runtime_file"):
        record["runtimeFile"] = env["runtime_file"]
    if env.get("error"):
        record["error"] = env["error"]
    return record


def _parity(report: Report) -> dict[str, Any] | None:
    parity = report.parity
    if parity is None:
        return None
    record: dict[str, Any] = {
        "passed": parity.get("passed"), "rtol": parity.get("rtol"), "atol": parity.get("atol"),
        "maxAbsDiff": parity.get("max_abs_diff"), "maxRelDiff": parity.get("max_rel_diff"),
        "comparisons": len(parity.get("outputs", [])),
    }
    for key, name in (("onnx_runtime", "onnxRuntime"), ("native", "native")):
        if isinstance(parity.get(key), str):
            record[name] = parity[key]  # type: ignore[literal-required]
    return record


def _skipped(report: Report) -> list[dict[str, str]]:
    skipped = [{"step": f"{c.area.value}: {c.name}", "reason": c.reason} for c in report.checks if c.status is CheckStatus.SKIPPED]
    parity: dict[str, object] = dict(report.parity or {})
    for key, step in (("onnx_skipped", "parity: ONNX run"), ("native_skipped", "parity: native model")):
        if isinstance(parity.get(key), str):
            skipped.append({"step": step, "reason": str(parity.get(key))})
    if report.environment is None:
        skipped.append({"step": "runtime: environment rebuild", "reason": "no environment was built (--env none, or a step before failed)"})
    return skipped


# -- reading -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Attestation:
    """A validation attestation read back: its subjects (path -> sha256) and its predicate."""

    subjects: dict[str, str]
    predicate: dict[str, Any]

    @property
    def verdict(self) -> str:
        return str(self.predicate["verdict"])

    @property
    def package(self) -> str:
        name, version = self.predicate["package"].get("name"), self.predicate["package"].get("version")
        return f"{str(name)[:200] if name else 'an unnamed package'}{f' {str(version)[:100]}' if version else ''}"


def read(path: Path) -> Attestation:
    """The attestation in `path`; AttestationError saying what is wrong with it."""
    import jsonschema

    try:
        mode = path.lstat()
        if stat.S_ISLNK(mode.st_mode) or not stat.S_ISREG(mode.st_mode):  # a link could read outside the package
            raise AttestationError("is a symlink or not a regular file: give the attestation file itself")
        if mode.st_size > MAX_ATTESTATION_BYTES:
            raise AttestationError(f"larger than {MAX_ATTESTATION_BYTES:,} bytes")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AttestationError(f"cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise AttestationError(f"is not JSON ({exc})") from None
    data, problem = parse_json_strict(text, path.name)  # deep nesting, duplicate keys (parsers disagree), NaN
    if problem is not None:
        raise AttestationError(f"is not strict JSON ({problem})")
    if isinstance(data, dict) and "payloadType" in data and "payload" in data:
        raise AttestationError("is a DSSE envelope; give the in-toto Statement itself (the envelope's decoded payload)")
    if not isinstance(data, dict) or data.get("_type") != STATEMENT_TYPE:
        raise AttestationError(f"is not an in-toto Statement v1 (_type {STATEMENT_TYPE})")
    if data.get("predicateType") != PREDICATE_TYPE:
        raise AttestationError(f"has predicateType {str(data.get('predicateType'))[:200]!r}, not model-check's {PREDICATE_TYPE}")
    if isinstance(data.get("subject"), list) and len(data["subject"]) > MAX_FILES:  # before the schema: time
        raise AttestationError(f"has more than {MAX_FILES:,} subjects; model-check attests no more")
    try:
        validate(data)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the top level"
        raise AttestationError(f"does not match {SCHEMA_FILE} at {where}: {exc.message[:300]}") from None
    found: dict[str, str] = {}
    for subject in data["subject"]:
        if not _inside_name(subject["name"]):
            raise AttestationError(f"names the subject {subject['name'][:200]!r}, not a relative path inside the package")
        if subject["name"] in found:
            raise AttestationError(f"names the subject {subject['name']!r} twice")
        found[subject["name"]] = subject["digest"]["sha256"]
    return Attestation(found, data["predicate"])


def _inside_name(name: str) -> bool:
    """A package-relative POSIX path as a manifest lists it: no absolute path, `..`, `.` or empty segment."""
    return not name.startswith("/") and "\\" not in name and all(part not in ("", ".", "..") for part in name.split("/"))


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(resources.files("validator").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))
    return loaded


def validate(data: Any) -> None:
    """Raise jsonschema.ValidationError when `data` is not a validation attestation."""
    import jsonschema

    jsonschema.Draft202012Validator(schema()).validate(data)


def validate_predicate(data: Any) -> None:
    """Raise jsonschema.ValidationError when `data` is not a validation predicate (actions/attest's predicate-path)."""
    import jsonschema

    jsonschema.Draft202012Validator({**schema(), "$ref": "#/$defs/predicate", "required": [], "properties": {}}).validate(data)


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
