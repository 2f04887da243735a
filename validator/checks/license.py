"""Area license: a clear license, stated the same way everywhere, and citation guidance.

Where a license is stated: a LICENSE / COPYING file, the card's License field, the `license` key of
each safetensors file's metadata, and CITATION.cff. SPDX expressions are read with the
license-expression package and its bundled SPDX license list; a LICENSE file's text is recognised
by its title (validator.readers.license_text, "looks like"). CITATION.cff is validated against the CFF
1.2.0 JSON Schema, as vendored by check-jsonschema (cffconvert, the reference tool, pins
jsonschema < 4 and cannot be installed beside the rest of model-check).

What was found is stored as ctx.results["license"] = {"spdx": ..., "sources": [...]}.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match
from license_expression import ExpressionError, Licensing, get_spdx_licensing

from validator.checks.base import Check, Context
from validator.core.catalogue import rule
from validator.core.findings import Area, Finding
from validator.readers.card import is_placeholder
from validator.readers.license_text import LicenseGuess, identify
from validator.readers.package import ModelPackage

CLEAR = "The guideline's checklist: the package has a clear license and citation guidance."
REUSE = "The model card lists the license among the reuse conditions (source repository, release tag, commit hash, and license)."
MAX_SCHEMA_ERRORS = 10

LICENSE_MISSING = rule("MC801")
SPDX_INVALID = rule("MC802")
NOT_SPDX = rule("MC803")
MISMATCH = rule("MC804")
DEPRECATED_ID = rule("MC805")
FILE_MISSING = rule("MC806")
FILE_EMPTY = rule("MC807")
FILE_UNIDENTIFIED = rule("MC808")
CITATION_MISSING = rule("MC811")
CITATION_INVALID = rule("MC812")

# LICENSE, LICENSE.md/.txt/.rst, COPYING, LICENSE-MIT (one file per license of a dual license); not license.py
LICENSE_FILE = re.compile(r"^(licen[cs]e|copying)((\.(md|txt|rst))|([-_][\w-]+(\.(md|txt|rst))?))?$", re.IGNORECASE)
_LICENSE_REF = re.compile(r"^(DocumentRef-[A-Za-z0-9.-]+:)?LicenseRef-[A-Za-z0-9.-]+$")
# Links (the card parser keeps their URL), code, emphasis. Linear on any text: a link's label and
# target stop at the next bracket or parenthesis, so no start position rescans the rest of the value.
_MARKDOWN = re.compile(r"\[([^\[\]]*)\]\([^()]*\)|[`*]|<?https?://\S+")


@dataclass(frozen=True)
class Statement:
    """One place that states the license."""

    source: str  # "model card", "safetensors metadata", "CITATION.cff", "LICENSE file"
    file: str
    line: int | None
    value: str  # as written
    spdx: str | None = None  # normalised SPDX expression, when it parses
    guess: LicenseGuess | None = None  # for a license text or a prose name

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "file": self.file, "line": self.line, "value": self.value,
                "spdx": self.spdx or (sorted(self.guess.ids)[0] if self.guess and len(self.guess.ids) == 1 else None)}


@dataclass(frozen=True)
class Parsed:
    spdx: str | None  # normalised expression
    problem: str | None  # why it is not a valid expression
    deprecated: str | None = None  # the current id(s), when the text used deprecated ones


@lru_cache(maxsize=1)
def _spdx() -> Licensing:
    return get_spdx_licensing()


def parse_spdx(text: str) -> Parsed:
    """Validate an SPDX license expression with the bundled SPDX list; LicenseRef-* ids are accepted."""
    if not text.strip():
        return Parsed(None, "it is empty")
    try:
        info = _spdx().validate(text)
    except Exception as exc:
        return Parsed(None, str(exc))
    if not info.errors:
        written = {k.lower() for k in Licensing().license_keys(text)}
        current = {k.lower() for k in _spdx().license_keys(info.normalized_expression)}
        deprecated = info.normalized_expression if written != current else None
        return Parsed(info.normalized_expression, None, deprecated)
    if info.invalid_symbols and all(_LICENSE_REF.match(s) for s in info.invalid_symbols):
        try:
            return Parsed(str(Licensing().parse(text)), None)
        except ExpressionError as exc:
            return Parsed(None, str(exc))
    unknown = [s for s in info.invalid_symbols if s]
    reason = f"unknown license id(s) {', '.join(map(repr, unknown))}" if unknown else "; ".join(info.errors)
    return Parsed(None, reason)


def same_license(a: str, b: str) -> bool:
    try:
        return bool(_spdx().is_equivalent(a, b))
    except Exception:
        return a.lower() == b.lower()


def license_keys(expression: str) -> set[str]:
    try:
        return set(Licensing().license_keys(expression))
    except Exception:
        return set()


class LicenseCheck(Check):
    name = "license and citation"
    area = Area.LICENSE

    def run(self, ctx: Context) -> Iterable[Finding]:
        pkg = ctx.pkg
        findings: list[Finding] = []
        statements = (self._card(pkg, findings) + self._metadata(pkg, findings) + self._citation_license(pkg, findings)
                      + self._license_files(pkg, findings))
        declared = [s for s in statements if s.source != "LICENSE file"]
        texts = [s for s in statements if s.source == "LICENSE file"]
        if not statements and not self._license_file_names(pkg):
            findings.append(LICENSE_MISSING.finding(
                "no LICENSE file, and no license in the README, the safetensors metadata or CITATION.cff"))
        elif declared and not self._license_file_names(pkg):
            first = declared[0]
            findings.append(FILE_MISSING.finding(
                f"{first.where} names the license {first.value!r} but the package has no LICENSE file with its text",
                file=first.file, line=first.line))
        findings += self._compare(declared, texts)
        findings += self._citation(pkg)
        ctx.results["license"] = {"spdx": self._agreed(declared, texts), "sources": [s.to_dict() for s in statements]}
        return findings

    # -- where the license is stated ---------------------------------------------------------
    def _card(self, pkg: ModelPackage, findings: list[Finding]) -> list[Statement]:
        facts = pkg.card_facts
        readme = pkg.find("README.md")
        if facts is None or facts.license is None or readme is None:
            return []
        value, line = facts.license.value.strip(), facts.license.line
        for candidate in _card_candidates(value):
            parsed = parse_spdx(candidate)
            if parsed.spdx is not None:
                self._deprecated(parsed, candidate, readme, line, findings)
                return [Statement("model card", readme, line, value, parsed.spdx)]
        guess = identify(value)
        if " " not in _clean(value) and guess is None:
            findings.append(SPDX_INVALID.finding(f"the README's license {value!r} is not an SPDX id: "
                                                 f"{parse_spdx(_clean(value)).problem}", file=readme, line=line))
            return [Statement("model card", readme, line, value)]
        hint = f"; it looks like {guess.name}: write {_preferred(guess)}" if guess else ""
        findings.append(NOT_SPDX.finding(f"the README names the license as {value!r}, which is not an SPDX "
                                         f"identifier{hint}", file=readme, line=line))
        return [Statement("model card", readme, line, value, guess=guess)]

    def _metadata(self, pkg: ModelPackage, findings: list[Finding]) -> list[Statement]:
        statements = []
        try:
            headers = pkg.safetensors
        except Exception:
            return []
        for rel, header in sorted(headers.items()):
            metadata = getattr(header, "metadata", None)
            value = metadata.get("license") if isinstance(metadata, dict) else None
            if not isinstance(value, str) or not value.strip():
                continue
            statements.append(self._declared("safetensors metadata", rel, None, value.strip(), findings,
                                             f"{rel}: metadata license"))
        return statements

    def _citation_license(self, pkg: ModelPackage, findings: list[Finding]) -> list[Statement]:
        rel = pkg.find("CITATION.cff")
        cff = _read_cff(pkg, rel) if rel else None
        if rel is None or cff is None or not isinstance(cff.data, dict) or "license" not in cff.data:
            return []
        value = cff.data["license"]
        line = cff.line_of(("license",))
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            value = " OR ".join(v.strip() for v in value)  # CFF: a list means the user may choose
        if not isinstance(value, str) or not value.strip():
            return []  # the schema check reports a license of the wrong type
        return [self._declared("CITATION.cff", rel, line, value.strip(), findings, f"{rel}: license")]

    def _declared(self, source: str, rel: str, line: int | None, value: str, findings: list[Finding],
                  label: str) -> Statement:
        parsed = parse_spdx(value)
        if parsed.spdx is None:
            findings.append(SPDX_INVALID.finding(f"{label} {value!r} is not a valid SPDX expression: {parsed.problem}",
                                                 file=rel, line=line))
        else:
            self._deprecated(parsed, value, rel, line, findings)
        return Statement(source, rel, line, value, parsed.spdx)

    def _deprecated(self, parsed: Parsed, written: str, rel: str, line: int | None, findings: list[Finding]) -> None:
        if parsed.deprecated:
            findings.append(DEPRECATED_ID.finding(f"{written!r} uses a deprecated SPDX id; the current form is "
                                                  f"{parsed.deprecated!r}", file=rel, line=line))

    def _license_file_names(self, pkg: ModelPackage) -> list[str]:
        return [f for f in pkg.files if "/" not in f and LICENSE_FILE.match(f)]

    def _license_files(self, pkg: ModelPackage, findings: list[Finding]) -> list[Statement]:
        statements = []
        for rel in self._license_file_names(pkg):
            read = pkg.read_text(rel)
            if read.text is None or is_placeholder(read.text) or len(read.text.strip()) < 20:
                problem = read.problem or ("is empty" if not (read.text or "").strip() else "holds no license text")
                findings.append(FILE_EMPTY.finding(f"{rel} {problem}" if read.text is not None else problem, file=rel))
                continue
            guess = identify(read.text)
            if guess is None:
                findings.append(FILE_UNIDENTIFIED.finding(
                    f"{rel} does not start like any license model-check recognises; it was not compared with the "
                    "license stated elsewhere", file=rel))
            statements.append(Statement("LICENSE file", rel, None, guess.name if guess else "unrecognised text",
                                        guess=guess))
        return statements

    # -- agreement -----------------------------------------------------------------------------
    def _compare(self, declared: list[Statement], texts: list[Statement]) -> list[Finding]:
        findings = []
        named = [s for s in declared if s.spdx is not None]
        if named:
            reference = named[0]
            for other in named[1:]:
                if not same_license(reference.spdx or "", other.spdx or ""):
                    findings.append(MISMATCH.finding(
                        f"{other.where} ({other.source}) says {other.value!r} but {reference.where} ({reference.source}) "
                        f"says {reference.value!r}", file=other.file, line=other.line))
        distinct = list({s.spdx: s for s in named}.values())
        for text in texts:
            if text.guess is None:
                continue
            for statement in distinct:
                if not text.guess.ids & license_keys(statement.spdx or ""):
                    findings.append(MISMATCH.finding(
                        f"{text.file} looks like {text.guess.name} but {statement.where} ({statement.source}) says "
                        f"{statement.value!r}", file=text.file))
        for statement in declared:  # a prose name in the card, recognised, compared with the rest
            if statement.spdx is None and statement.guess is not None:
                for other in distinct:
                    if not statement.guess.ids & license_keys(other.spdx or ""):
                        findings.append(MISMATCH.finding(
                            f"{statement.where} names {statement.guess.name} but {other.where} ({other.source}) says "
                            f"{other.value!r}", file=statement.file, line=statement.line))
        return findings

    def _agreed(self, declared: list[Statement], texts: list[Statement]) -> str | None:
        """The package's SPDX expression when every statement agrees; None when none or they differ."""
        named = [s.spdx for s in declared if s.spdx is not None]
        if named:
            return named[0] if all(same_license(named[0], n) for n in named[1:]) else None
        guesses = {frozenset(s.guess.ids) for s in texts + declared if s.guess is not None}
        if len(guesses) == 1:
            ids = next(iter(guesses))
            return next(iter(ids)) if len(ids) == 1 else None
        return None

    # -- citation ------------------------------------------------------------------------------
    def _citation(self, pkg: ModelPackage) -> list[Finding]:
        rel = pkg.find("CITATION.cff")
        facts = pkg.card_facts
        if rel is None:
            if facts is None or facts.citation is None:
                return [CITATION_MISSING.finding("the package has neither a CITATION.cff nor a Citation section in the README")]
            return []
        cff = _read_cff(pkg, rel)
        if cff is None or cff.problem is not None:
            return [CITATION_INVALID.finding(f"{rel} {cff.problem if cff else 'cannot be read'}", file=rel,
                                             line=cff.problem_line if cff else None)]
        findings = []
        errors = sorted(_cff_validator().iter_errors(cff.data), key=lambda e: list(e.absolute_path))
        if _cff_license_reported(cff.data.get("license")):  # an invalid id is MC802's already
            errors = [e for e in errors if list(e.absolute_path)[:1] != ["license"]]
        for error in errors[:MAX_SCHEMA_ERRORS]:
            path = tuple(error.absolute_path)
            findings.append(CITATION_INVALID.finding(f"{rel}: {_schema_message(error)}", file=rel,
                                                     line=cff.line_of(path)))
        if len(errors) > MAX_SCHEMA_ERRORS:
            findings.append(CITATION_INVALID.finding(f"{rel}: {len(errors) - MAX_SCHEMA_ERRORS} more schema errors",
                                                     file=rel))
        return findings


# -- helpers -------------------------------------------------------------------------------------
def _clean(value: str) -> str:
    return re.sub(r"\s+", " ", _MARKDOWN.sub(lambda m: m.group(1) or "", value)).strip().rstrip(".")


def _card_candidates(value: str) -> list[str]:
    """The SPDX expression a card's License value may hold: all of it, without remarks, or its first word."""
    cleaned = _clean(value)
    # (?<!\s): a separator starts where its whitespace run starts (linear; the same first split)
    without_remarks = re.split(r"(?<!\s)\s*\(|(?<!\s)\s+-\s+|[,;]\s*|(?<!\s)\s+see\s+", cleaned, maxsplit=1,
                               flags=re.IGNORECASE)[0]
    before_word = re.split(r"(?<!\s)\s+licen[cs]e\b", without_remarks, maxsplit=1, flags=re.IGNORECASE)[0]
    candidates = [cleaned, without_remarks, before_word]
    return [c for c in dict.fromkeys(candidates) if c]


def _cff_license_reported(value: Any) -> bool:
    """True when CITATION.cff's license is text that the SPDX check has reported as invalid."""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        value = " OR ".join(value)
    return isinstance(value, str) and bool(value.strip()) and parse_spdx(value).spdx is None


def _preferred(guess: LicenseGuess) -> str:
    ids = sorted(guess.ids, key=lambda i: ("-or-later" not in i and "-only" not in i, i))
    return " or ".join(ids[:2]) if len(ids) > 1 else ids[0]


@dataclass
class _Cff:
    data: Any
    node: yaml.Node | None
    problem: str | None = None
    problem_line: int | None = None

    def line_of(self, path: tuple[Any, ...]) -> int | None:
        """The 1-based line of the YAML node at `path` (the nearest existing parent's line)."""
        node = self.node
        line = node.start_mark.line + 1 if node is not None else None
        for key in path:
            child = None
            if isinstance(node, yaml.MappingNode):
                child = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
                child = node.value[key]
            if child is None:
                break
            node, line = child, child.start_mark.line + 1
        return line


class _CffLoader(yaml.SafeLoader):
    """Safe YAML without timestamps: CFF dates are strings (the schema says to cast them)."""


_CffLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _read_cff(pkg: ModelPackage, rel: str) -> _Cff | None:
    read = pkg.read_text(rel)
    if read.text is None:
        return _Cff(None, None, read.problem)
    loader = _CffLoader(read.text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return _Cff(None, None, f"is not valid YAML: {getattr(exc, 'problem', None) or exc}",
                    mark.line + 1 if mark is not None else None)
    except RecursionError:
        return _Cff(None, None, "is nested too deeply to read")
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        return _Cff(data, node, "is not a YAML mapping of CFF keys", 1)
    return _Cff(data, node)


@lru_cache(maxsize=1)
def _cff_validator() -> Draft7Validator:
    # check-jsonschema's `vendor.citation-file-format` schema ($id .../1.2.0/schema.json), read from
    # its package folder: importing check_jsonschema itself would load its CLI (0.4 s).
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
    if error.context:
        error = best_match(error.context)
    path = "/".join(str(p) for p in error.absolute_path) or "top level"
    message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    return f"{path}: {message}"

