"""Area license: a clear license, stated the same way everywhere, and citation guidance.

The statements come from validator.readers.license (ModelPackage.license): a LICENSE / COPYING file,
the card's License field, the `license` key of each safetensors file's metadata, and CITATION.cff.
CITATION.cff is validated against the CFF 1.2.0 JSON Schema, as vendored by check-jsonschema
(cffconvert, the reference tool, pins jsonschema < 4 and cannot be installed beside the rest of
model-check).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # jsonschema is imported when a CITATION.cff is validated (CLI start-up: issue 16)
    from jsonschema import Draft7Validator
    from jsonschema.exceptions import ValidationError

from validator.checks.base import StaticCheck
from validator.core.catalogue import Rule, rule
from validator.core.findings import Area, Finding
from validator.core.options import Options
from validator.readers.license import ProblemKind, Statement, license_keys, parse_spdx, same_license
from validator.readers.package import ModelPackage

CLEAR = "The guideline's checklist: the package has a clear license and citation guidance."
REUSE = "The model card lists the license among the reuse conditions (source repository, release tag, commit hash, and license)."
MAX_SCHEMA_ERRORS = 10


PROBLEM_RULES: dict[ProblemKind, Rule] = {
    "spdx-invalid": rule("license-spdx-invalid"), "not-spdx": rule("license-not-spdx"), "deprecated-id": rule("license-spdx-deprecated"), "file-empty": rule("license-file-empty"),
    "file-unidentified": rule("license-file-unidentified"),
}


class LicenseCheck(StaticCheck):
    name = "license and citation"
    area = Area.LICENSE

    def run(self, pkg: ModelPackage, options: Options) -> Iterable[Finding]:
        stated = pkg.license
        findings = [PROBLEM_RULES[p.kind].finding(p.message, file=p.file, line=p.line) for p in stated.problems]
        declared, texts = stated.declared, stated.texts
        if not stated.statements and not stated.license_files:
            findings.append(rule("license-missing").finding(
                "no LICENSE file, and no license in the README, the safetensors metadata or CITATION.cff"))
        elif declared and not stated.license_files:
            first = declared[0]
            findings.append(rule("license-file-missing").finding(
                f"{first.where} names the license {first.value!r} but the package has no LICENSE file with its text",
                file=first.file, line=first.line))
        findings += self._compare(declared, texts) if not stated.split else self._compare_parts(declared, texts)
        findings += self._citation(pkg)
        return findings

    # -- agreement -----------------------------------------------------------------------------
    def _compare(self, declared: list[Statement], texts: list[Statement]) -> list[Finding]:
        findings = []
        named = [s for s in declared if s.spdx is not None]
        if named:
            reference = named[0]
            for other in named[1:]:
                if not same_license(reference.spdx or "", other.spdx or ""):
                    findings.append(_mismatch(other, reference))
        distinct = list({s.spdx: s for s in named}.values())
        for text in texts:
            if text.guess is None:
                continue
            for statement in distinct:
                if not text.guess.ids & license_keys(statement.spdx or ""):
                    findings.append(rule("license-mismatch").finding(
                        f"{text.file} looks like {text.guess.name} but {statement.where} ({statement.source}) says "
                        f"{statement.value!r}", file=text.file))
        for statement in declared:  # a prose name in the card, recognised, compared with the rest
            if statement.spdx is None and statement.guess is not None:
                for other in distinct:
                    if not statement.guess.ids & license_keys(other.spdx or ""):
                        findings.append(rule("license-mismatch").finding(
                            f"{statement.where} names {statement.guess.name} but {other.where} ({other.source}) says "
                            f"{other.value!r}", file=statement.file, line=statement.line))
        return findings

    def _compare_parts(self, declared: list[Statement], texts: list[Statement]) -> list[Finding]:
        """The card licenses parts separately (code Apache-2.0, weights CC-BY-4.0): statements of one
        part agree with each other; any other statement, and the LICENSE text, names one of the parts' licenses."""
        findings = []
        named = [s for s in declared if s.spdx is not None]
        for part in dict.fromkeys(s.part for s in named if s.part is not None):
            group = [s for s in named if s.part == part]
            findings += [_mismatch(other, group[0]) for other in group[1:] if not same_license(group[0].spdx or "", other.spdx or "")]
        parts = [s for s in named if s.part is not None and s.source == "model card"]
        for other in named:
            if other.part is None and not any(same_license(p.spdx or "", other.spdx or "") for p in parts):
                findings.append(_mismatch(other, parts[0]))
        for text in texts:
            if text.guess is not None and not any(text.guess.ids & license_keys(p.spdx or "") for p in parts):
                findings.append(rule("license-mismatch").finding(
                    f"{text.file} looks like {text.guess.name} but the card licenses the parts of the package as "
                    f"{', '.join(f'{p.part} {p.value!r}' for p in parts)} ({parts[0].where})", file=text.file))
        return findings

    # -- citation ------------------------------------------------------------------------------
    def _citation(self, pkg: ModelPackage) -> list[Finding]:
        rel = pkg.find("CITATION.cff")
        facts = pkg.card_facts
        if rel is None:
            if facts is None or facts.citation is None:
                return [rule("citation-missing").finding("the package has neither a CITATION.cff nor a Citation section in the README")]
            return []
        cff = pkg.citation
        if cff is None or cff.problem is not None:
            return [rule("citation-cff-invalid").finding(f"{rel} {cff.problem if cff else 'cannot be read'}", file=rel,
                                             line=cff.problem_line if cff else None)]
        findings = []
        errors = sorted(_cff_validator().iter_errors(cff.data), key=lambda e: list(e.absolute_path))
        if _cff_license_reported(cff.data.get("license")):  # an invalid id is MC802's already
            errors = [e for e in errors if list(e.absolute_path)[:1] != ["license"]]
        for error in errors[:MAX_SCHEMA_ERRORS]:
            path = tuple(error.absolute_path)
            findings.append(rule("citation-cff-invalid").finding(f"{rel}: {_schema_message(error)}", file=rel,
                                                     line=cff.line_of(path)))
        if len(errors) > MAX_SCHEMA_ERRORS:
            findings.append(rule("citation-cff-invalid").finding(f"{rel}: {len(errors) - MAX_SCHEMA_ERRORS} more schema errors",
                                                     file=rel))
        return findings


# -- helpers -------------------------------------------------------------------------------------
def _mismatch(other: Statement, reference: Statement) -> Finding:
    return rule("license-mismatch").finding(
        f"{other.where} ({other.source}) says {other.value!r} but {reference.where} ({reference.source}) says "
        f"{reference.value!r}", file=other.file, line=other.line)


def _cff_license_reported(value: Any) -> bool:
    """True when CITATION.cff's license is text that the SPDX check has reported as invalid."""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        value = " OR ".join(value)
    return isinstance(value, str) and bool(value.strip()) and parse_spdx(value).spdx is None


@lru_cache(maxsize=1)
def _cff_validator() -> Draft7Validator:
    # check-jsonschema's `vendor.citation-file-format` schema ($id .../1.2.0/schema.json), read from
    # its package folder: importing check_jsonschema itself would load its CLI (0.4 s).
    from jsonschema import Draft7Validator

    spec = importlib.util.find_spec("check_jsonschema")
    if spec is None or spec.origin is None:
        raise RuntimeError("check-jsonschema is not installed: it provides the CFF 1.2.0 schema")
    schema_path = Path(spec.origin).parent / "builtin_schemas" / "vendor" / "citation-file-format.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    return Draft7Validator(_linear_patterns(schema), format_checker=Draft7Validator.FORMAT_CHECKER)


# The CFF schema's patterns run over the package's CITATION.cff. Its email pattern backtracks
# quadratically (a 2,000-character value of "@" took 0.2 s, 20,000 characters 20 s); it is replaced
# by an equivalent linear one: the first "@" after the first character, then a "." that leaves at
# least one character after the "@" and two before the end (tests/test_untrusted_text.py).
_EQUIVALENT_PATTERNS = {r"^[\S]+@[\S]+\.[\S]{2,}$": r"^(?=\S+$).[^@]*@.+\..{2,}$"}


def _linear_patterns(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: (_EQUIVALENT_PATTERNS.get(value, value) if key == "pattern" and isinstance(value, str)
                      else _linear_patterns(value)) for key, value in node.items()}
    if isinstance(node, list):
        return [_linear_patterns(value) for value in node]
    return node


def _schema_message(error: ValidationError) -> str:
    from jsonschema.exceptions import best_match

    if error.context:
        error = best_match(error.context)
    path = "/".join(str(p) for p in error.absolute_path) or "top level"
    message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    return f"{path}: {message}"

