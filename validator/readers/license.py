"""Where a package states its license, read as SPDX expressions, and the license they agree on.

Places: a LICENSE / COPYING file, the card's License field, the `license` key of each safetensors
file's metadata, and CITATION.cff. SPDX expressions are read with the license-expression package
and its bundled SPDX license list; a LICENSE file's text is recognised by its title
(validator.readers.license_text, "looks like"). What is wrong with a statement is kept as a
LicenseProblem; the license check reports it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from license_expression import ExpressionError, Licensing, get_spdx_licensing

from validator.readers.card import is_placeholder
from validator.readers.dist_metadata import read_dist_metadata
from validator.readers.license_text import LicenseGuess, identify

if TYPE_CHECKING:
    from validator.readers.package import ModelPackage

# LICENSE, LICENSE.md/.txt/.rst, COPYING, LICENSE-MIT (one file per license of a dual license); not license.py
LICENSE_FILE = re.compile(r"^(licen[cs]e|copying)((\.(md|txt|rst))|([-_][\w-]+(\.(md|txt|rst))?))?$", re.IGNORECASE)
_LICENSE_REF = re.compile(r"^(DocumentRef-[A-Za-z0-9.-]+:)?LicenseRef-[A-Za-z0-9.-]+$")
# Links (the card parser keeps their URL), code, emphasis. Linear on any text: a link's label and
# target stop at the next bracket or parenthesis, so no start position rescans the rest of the value.
_MARKDOWN = re.compile(r"\[([^\[\]]*)\]\([^()]*\)|[`*]|<?https?://\S+")

LICENSE_TEXT = "LICENSE file"  # Statement.source of a license text; the others declare the license by name


@dataclass(frozen=True)
class Statement:
    """One place that states the license."""

    source: str  # "model card", "safetensors metadata", "CITATION.cff", "LICENSE file"
    file: str
    line: int | None
    value: str  # as written
    spdx: str | None = None  # normalised SPDX expression, when it parses
    guess: LicenseGuess | None = None  # for a license text or a prose name
    part: str | None = None  # "code", "weights", "data", "docs" when the package licenses its parts separately

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "file": self.file, "line": self.line, "value": self.value, "part": self.part,
                "spdx": self.spdx or (sorted(self.guess.ids)[0] if self.guess and len(self.guess.ids) == 1 else None)}


ProblemKind = Literal["spdx-invalid", "not-spdx", "deprecated-id", "file-empty", "file-unidentified"]


@dataclass(frozen=True)
class LicenseProblem:
    """What is wrong with one statement, worded for the report."""

    kind: ProblemKind
    message: str
    file: str
    line: int | None = None


@dataclass(frozen=True)
class LicenseStatements:
    """Every license statement of a package, in reading order, and what is wrong with them."""

    statements: list[Statement]
    problems: list[LicenseProblem]
    license_files: list[str]  # LICENSE / COPYING files at the package root, readable or not

    @property
    def declared(self) -> list[Statement]:
        """The statements that name the license (all but the license texts)."""
        return [s for s in self.statements if s.source != LICENSE_TEXT]

    @property
    def texts(self) -> list[Statement]:
        return [s for s in self.statements if s.source == LICENSE_TEXT]

    @property
    def split(self) -> bool:
        """True when the card licenses parts of the package separately (code, weights, data)."""
        return any(s.part is not None and s.source == "model card" for s in self.statements)

    @property
    def agreed(self) -> str | None:
        """The package's SPDX expression when every statement agrees; None when none or they differ."""
        declared, texts = self.declared, self.texts
        if self.split:
            declared = [s for s in declared if s.part is None]
        named = [s.spdx for s in declared if s.spdx is not None]
        if named:
            return named[0] if all(same_license(named[0], n) for n in named[1:]) else None
        guesses = {frozenset(s.guess.ids) for s in texts + declared if s.guess is not None}
        if len(guesses) == 1:
            ids = next(iter(guesses))
            return next(iter(ids)) if len(ids) == 1 else None
        return None


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


def read_statements(pkg: ModelPackage) -> LicenseStatements:
    """Every license statement of the package (card, safetensors metadata, CITATION.cff, LICENSE files)."""
    problems: list[LicenseProblem] = []
    files = license_file_names(pkg)
    statements = (_card(pkg, problems) + _metadata(pkg, problems) + _citation_license(pkg, problems)
                  + _dist_metadata(pkg) + _badges(pkg) + _license_files(pkg, files, problems))
    return LicenseStatements(statements, problems, files)


def license_file_names(pkg: ModelPackage) -> list[str]:
    return [f for f in pkg.files if "/" not in f and LICENSE_FILE.match(f)]


def _card(pkg: ModelPackage, problems: list[LicenseProblem]) -> list[Statement]:
    """The card's license statement, or one per part (`Code: Apache-2.0`, `Weights: CC-BY-4.0`)."""
    facts = pkg.card_facts
    readme = pkg.find("README.md")
    if facts is None or readme is None:
        return []
    if facts.license_parts:
        return [_card_statement(readme, e.value.strip(), e.line, problems, part) for part, e in facts.license_parts]
    if facts.license is None or facts.license.how == "badge":
        return []  # a badge is read by _badges
    return [_card_statement(readme, facts.license.value.strip(), facts.license.line, problems)]


def _card_statement(readme: str, value: str, line: int, problems: list[LicenseProblem], part: str | None = None) -> Statement:
    for candidate in _card_candidates(value):
        parsed = parse_spdx(candidate)
        if parsed.spdx is not None:
            _deprecated(parsed, candidate, readme, line, problems)
            return Statement("model card", readme, line, value, parsed.spdx, part=part)
    guess = identify(value)
    if " " not in _clean(value) and guess is None:
        problems.append(LicenseProblem("spdx-invalid", f"the README's license {value!r} is not an SPDX id: "
                                       f"{parse_spdx(_clean(value)).problem}", readme, line))
        return Statement("model card", readme, line, value, part=part)
    hint = f"; it looks like {guess.name}: write {_preferred(guess)}" if guess else ""
    problems.append(LicenseProblem("not-spdx", f"the README names the license as {value!r}, which is not an SPDX "
                                   f"identifier{hint}", readme, line))
    return Statement("model card", readme, line, value, guess=guess, part=part)


def _named(source: str, rel: str, line: int | None, value: str, part: str | None = None) -> Statement | None:
    """A license named where SPDX is not required (a badge, package metadata): its SPDX id, or the one
    license its name looks like; None when it names none model-check knows."""
    for candidate in _card_candidates(value):
        parsed = parse_spdx(candidate)
        if parsed.spdx is not None:
            return Statement(source, rel, line, value, parsed.spdx, part=part)
    guess = identify(value)
    if guess is None:
        return None
    only = next(iter(guess.ids)) if len(guess.ids) == 1 else None
    return Statement(source, rel, line, value, only, guess=guess, part=part)


def _badges(pkg: ModelPackage) -> list[Statement]:
    """License badges: what the alt text says and what the badge itself shows, each a statement."""
    facts = pkg.card_facts
    readme = pkg.find("README.md")
    if facts is None or readme is None:
        return []
    found = []
    for badge in facts.license_badges:
        for value in dict.fromkeys(v for v in (badge.alt, badge.shown) if v):
            statement = _named("license badge", readme, badge.line, value)
            if statement is not None:
                found.append(statement)
    return found


def _dist_metadata(pkg: ModelPackage) -> list[Statement]:
    """`license = "MIT"` in pyproject.toml / setup.cfg / setup.py."""
    stated = read_dist_metadata(pkg).license
    if stated is None:
        return []
    statement = _named("package metadata", stated.file, stated.line, stated.value)
    return [statement] if statement is not None else []


def _metadata(pkg: ModelPackage, problems: list[LicenseProblem]) -> list[Statement]:
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
        statements.append(_declared("safetensors metadata", rel, None, value.strip(), problems, f"{rel}: metadata license",
                                    part="weights"))
    return statements


def _citation_license(pkg: ModelPackage, problems: list[LicenseProblem]) -> list[Statement]:
    cff = pkg.citation
    if cff is None or not isinstance(cff.data, dict) or "license" not in cff.data:
        return []
    rel = cff.rel
    value = cff.data["license"]
    line = cff.line_of(("license",))
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        value = " OR ".join(v.strip() for v in value)  # CFF: a list means the user may choose
    if not isinstance(value, str) or not value.strip():
        return []  # the schema check reports a license of the wrong type
    return [_declared("CITATION.cff", rel, line, value.strip(), problems, f"{rel}: license")]


def _declared(source: str, rel: str, line: int | None, value: str, problems: list[LicenseProblem],
              label: str, part: str | None = None) -> Statement:
    parsed = parse_spdx(value)
    if parsed.spdx is None:
        problems.append(LicenseProblem("spdx-invalid", f"{label} {value!r} is not a valid SPDX expression: {parsed.problem}",
                                       rel, line))
    else:
        _deprecated(parsed, value, rel, line, problems)
    return Statement(source, rel, line, value, parsed.spdx, part=part)


def _deprecated(parsed: Parsed, written: str, rel: str, line: int | None, problems: list[LicenseProblem]) -> None:
    if parsed.deprecated:
        problems.append(LicenseProblem("deprecated-id", f"{written!r} uses a deprecated SPDX id; the current form is "
                                       f"{parsed.deprecated!r}", rel, line))


def _license_files(pkg: ModelPackage, files: list[str], problems: list[LicenseProblem]) -> list[Statement]:
    statements = []
    for rel in files:
        read = pkg.read_text(rel)
        if read.text is None or is_placeholder(read.text) or len(read.text.strip()) < 20:
            problem = read.problem or ("is empty" if not (read.text or "").strip() else "holds no license text")
            problems.append(LicenseProblem("file-empty", f"{rel} {problem}" if read.text is not None else problem, rel))
            continue
        guess = identify(read.text)
        if guess is None:
            problems.append(LicenseProblem(
                "file-unidentified", f"{rel} does not start like any license model-check recognises; it was not compared "
                "with the license stated elsewhere", rel))
        statements.append(Statement(LICENSE_TEXT, rel, None, guess.name if guess else "unrecognised text", guess=guess))
    return statements


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


def _preferred(guess: LicenseGuess) -> str:
    ids = sorted(guess.ids, key=lambda i: ("-or-later" not in i and "-only" not in i, i))
    return " or ".join(ids[:2]) if len(ids) > 1 else ids[0]
