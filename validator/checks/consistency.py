"""Area consistency: the card, metadata, labels, config, ONNX graph and CITATION.cff agree.

License agreement is checked by the license area (one place for that rule).

Several models (DeclaredFacts.models): each model is compared with its own facts (its artefacts,
its sidecar or folder config) and with the package's facts when those describe it: the package's
facts describe the primary model (the only one, or `model.*`), and a card statement that names a
model's file (on its line or in its heading) describes that model. The package's facts are also
compared among themselves. A package fact that describes no model in particular (several models,
none primary, none named) is compared with every model: it is a finding only when it fits none of
them, and the finding names each model's file and value.

Versions: the package's release versions are compared with each other (the first, the version
the package is built with, is the reference), and each model's own versions with each other
(validator.readers.declared says which axis a version is on). A finding names every place and value.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from validator.checks import output_contract
from validator.checks.base import StaticCheck
from validator.core.catalogue import Rule, rule
from validator.core.findings import Area, Finding, Severity
from validator.core.options import Options
from validator.readers.declared import (
    CHANNEL_COUNT,
    CHANNELS,
    CLASS_COUNT,
    CLASSES,
    INPUT_SHAPE,
    MODEL_ID,
    MODEL_VERSION,
    VERSION,
    DeclaredFacts,
    Fact,
)
from validator.readers.markdown import ModelCard
from validator.readers.package import ModelPackage

_AUTHORITY = {"pyproject.toml": "the version pyproject.toml builds", "setup.py": "the version setup.py builds",
              "setup.cfg": "the version setup.cfg builds", "__version__": "the code's __version__",
              "model card": "the model card's", "CITATION.cff": "CITATION.cff's", "Dockerfile LABEL": "the Dockerfile's label"}

MATCH = "The guideline: check that README input channels, preprocessing, output names, and class order match the actual model."


def normalise(name: str) -> str:
    """'BT15 - BT14', 'bt15_minus_bt14' and 'BT15−BT14' all become 'bt15minusbt14'."""
    text = name.lower().replace("−", "-")
    text = re.sub(r"(?<=\w)\s*-\s*(?=\w)", " minus ", text) if re.search(r"\s-\s|\w−\w", name) else text
    text = text.replace("+", " plus ")
    return re.sub(r"[^a-z0-9]", "", text)


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _version(value: str) -> str:
    return value.strip().lower().lstrip("v")


Wanted = Callable[[Fact, Fact], bool]
_COMPARED = (CLASSES, CHANNELS, CLASS_COUNT, CHANNEL_COUNT, INPUT_SHAPE)
_NOUNS = {CLASSES: "class list", CHANNELS: "channel list", CLASS_COUNT: "class count", CHANNEL_COUNT: "channel count",
          INPUT_SHAPE: "input shape"}

# The rules about each kind of fact: the difference a "fits none" finding reports first.
_RULES_OF = {CLASSES: ("classes-mismatch",), CLASS_COUNT: ("class-count-mismatch",),
             CHANNELS: ("channels-mismatch", "channel-count-mismatch"), CHANNEL_COUNT: ("channel-count-mismatch",),
             INPUT_SHAPE: ("input-shape-mismatch",)}


def _every(a: Fact, b: Fact) -> bool:
    return True


@dataclass(frozen=True)
class Scope:
    """Facts compared with each other; `wanted` says which pairs (reference, other) are compared here."""

    facts: list[Fact]
    wanted: Wanted = _every

    def of(self, key: str) -> list[Fact]:
        return [f for f in self.facts if f.key == key]


def _involving(fact: Fact) -> Wanted:
    def wanted(a: Fact, b: Fact) -> bool:
        return a is fact or b is fact
    return wanted


def _named_model(fact: Fact, card: ModelCard | None, table: DeclaredFacts) -> str | None:
    """The model a card statement names: its artefact's file name (or a distinctive stem such as `model_4b`) on the
    statement's line or in the headings of the sections holding it; None when it names none or several."""
    if card is None or fact.source != "model card" or not fact.line or fact.line > len(card.lines):
        return None
    texts = [card.lines[fact.line - 1]] + [s.title for s in card.sections if s.level and s.line <= fact.line <= s.end_line]
    text = "\n".join(texts).lower()
    named = set()
    for model, files in table.models.items():
        stem = posixpath.basename(model).lower()
        if any(posixpath.basename(f).lower() in text for f in files) or (
                re.search(r"[_\-\d]", stem) and re.search(rf"(?<![\w.-]){re.escape(stem)}(?![\w-])", text)):
            named.add(model)
    return named.pop() if len(named) == 1 else None


def scopes(table: DeclaredFacts, card: ModelCard | None) -> tuple[list[Scope], list[Fact]]:
    """The comparisons to make, and the package facts that describe no model in particular (see the module doc)."""
    facts = [f for f in table.facts if f.key in _COMPARED]
    if len(table.models) <= 1:
        return [Scope(facts)], []
    package = [f for f in facts if f.model is None]
    named = {id(f): m for f in package if (m := _named_model(f, card, table)) is not None}
    unnamed = [f for f in package if id(f) not in named]
    found = [Scope(unnamed)]
    for model in table.models:
        described = [f for f in package if named.get(id(f)) == model or (id(f) not in named and model == table.primary)]
        own = [f for f in facts if f.model == model]

        def wanted(a: Fact, b: Fact, model: str = model) -> bool:
            return a.model == model or b.model == model
        found.append(Scope(described + own, wanted))
    return found, (unnamed if table.primary is None else [])


class ConsistencyCheck(StaticCheck):
    name = "declared facts agree"
    area = Area.CONSISTENCY

    def run(self, pkg: ModelPackage, options: Options) -> Iterable[Finding]:
        yield from self._unreadable(pkg)
        table = pkg.declared
        found, loose = scopes(table, pkg.card)
        seen: set[tuple[str, str | None, int | None, str]] = set()
        for finding in [f for scope in found for f in self._compare(scope)] + list(self._fits_none(table, loose)):
            if (finding.rule, finding.file, finding.line, finding.message) not in seen:
                seen.add((finding.rule, finding.file, finding.line, finding.message))
                yield finding
        yield from self._versions(table)
        yield from self._model_id(pkg, table)
        yield from output_contract.static_findings(pkg)  # segmentation / regression outputs (SEG)

    def _compare(self, scope: Scope) -> Iterable[Finding]:
        yield from self._names(scope, CLASSES, rule("classes-mismatch"), "class")
        yield from self._names(scope, CHANNELS, rule("channels-mismatch"), "channel")
        yield from self._counts(scope, CLASSES, CLASS_COUNT, rule("class-count-mismatch"), "class", "outputs")
        yield from self._counts(scope, CHANNELS, CHANNEL_COUNT, rule("channel-count-mismatch"), "channel", "input channels")
        yield from self._channel_dim(scope)
        yield from self._shapes(scope)

    def _fits_none(self, table: DeclaredFacts, loose: list[Fact]) -> Iterable[Finding]:
        """A package fact that names no model, in a package of several models without a primary one: a finding
        only when it contradicts every model, naming each model's file and what it has."""
        spelling = rule("spelling-difference").id
        for fact in loose:
            preferred = {rule(name).id for name in _RULES_OF[fact.key]}
            misfits: list[Finding] = []
            named: list[str] = []
            for model in table.models:
                own = [f for f in table.facts if f.model == model and f.key in _COMPARED]
                scope = Scope([fact] + own, _involving(fact))
                differences = sorted((f for f in self._compare(scope) if f.rule != spelling), key=lambda f: f.rule not in preferred)
                if not differences:
                    break  # it fits this model (or this model states nothing to compare it with)
                misfits.append(differences[0])
                named.append(f"{table.files_of(model)}: {differences[0].message}")
            else:
                if misfits:
                    advice = ("say which model the statement is about (name its file on the line or in the heading), or "
                              "state it per model" if fact.source == "model card" else
                              f"give each model its own {_NOUNS[fact.key]} (a same-stem sidecar such as model_x.json), or make "
                              f"{fact.where} fit the model it describes")
                    yield rule(misfits[0].rule).finding(
                        f"the {_NOUNS[fact.key]} of {fact.where} fits none of the package's {len(table.models)} models and "
                        f"names none of them: " + "; ".join(named) + f". {advice[0].upper()}{advice[1:]}",
                        file=fact.file, line=fact.line, severity=misfits[0].severity)

    def _unreadable(self, pkg: ModelPackage) -> Iterable[Finding]:
        for name, unreadable in (("labels.json", rule("labels-invalid")), ("config.json", rule("config-json-invalid"))):
            rel = pkg.find(name)
            if rel is None:
                continue
            value, problem = pkg.read_json(rel)
            if problem is not None:
                yield unreadable.finding(problem, file=rel)
            elif name == "labels.json":
                from validator.readers.declared import class_names_from_json

                if class_names_from_json(value) is None:
                    yield unreadable.finding("labels.json is neither a list of names nor an index-to-name mapping", file=rel)

    def _names(self, scope: Scope, key: str, differ: Rule, noun: str) -> Iterable[Finding]:
        facts = scope.of(key)
        if len(facts) < 2:
            return
        reference = facts[0]
        for other in facts[1:]:
            a, b = list(reference.value), list(other.value)
            if a == b or not scope.wanted(reference, other):
                continue
            na, nb = [normalise(x) for x in a], [normalise(x) for x in b]
            if na == nb:
                pairs = [f"{x!r} vs {y!r}" for x, y in zip(a, b, strict=True) if x != y]
                yield rule("spelling-difference").finding(f"{noun} names are spelled differently in {reference.where} and {other.where}: "
                                       f"{', '.join(pairs[:4])}", file=other.file, line=other.line)
            elif sorted(na) == sorted(nb):
                yield differ.finding(f"{noun} order differs: {reference.where} has {a}, {other.where} has {b}",
                                   file=other.file, line=other.line)
            elif len(a) != len(b):
                yield differ.finding(f"{reference.where} lists {len(a)} {noun}es{'' if noun == 'class' else ''} "
                                   f"and {other.where} lists {len(b)}: {a} vs {b}".replace("channeles", "channels"),
                                   file=other.file, line=other.line)
            else:
                diff = [f"#{i}: {x!r} vs {y!r}" for i, (x, y, nx, ny) in enumerate(zip(a, b, na, nb, strict=True)) if nx != ny]
                yield differ.finding(f"{noun} names differ between {reference.where} and {other.where}: {', '.join(diff[:5])}",
                                   file=other.file, line=other.line)

    def _counts(self, scope: Scope, names_key: str, count_key: str, differ: Rule, noun: str, what: str) -> Iterable[Finding]:
        names = scope.of(names_key)
        counts = scope.of(count_key)
        if not counts:
            return
        reference_counts = [(len(f.value), f) for f in names] or [(counts[0].value, counts[0])]
        expected, ref = reference_counts[0]
        for fact in counts:
            if fact is ref or fact.value == expected or not scope.wanted(ref, fact):
                continue
            severity = Severity.WARNING if fact.strength == "inferred" else None
            yield differ.finding(f"{ref.where} gives {expected} {noun}(es) but {fact.source} in {fact.where} has {fact.value} {what}"
                               .replace("channel(es)", "channel(s)"), file=fact.file, line=fact.line, severity=severity)

    def _channel_dim(self, scope: Scope) -> Iterable[Finding]:
        """The channel list against the C dimension of the declared/ONNX input shapes (N,C,H,W)."""
        channels = scope.of(CHANNELS)
        if not channels:
            return
        expected, ref = len(channels[0].value), channels[0]
        for shape in scope.of(INPUT_SHAPE):
            dims = shape.value
            if len(dims) == 4 and dims[1].isdigit() and int(dims[1]) != expected and scope.wanted(ref, shape):
                # NHWC graphs put channels last
                if dims[3].isdigit() and int(dims[3]) == expected:
                    continue
                yield rule("channel-count-mismatch").finding(
                    f"{ref.where} names {expected} channels but the input shape {','.join(dims)} in {shape.where} has {dims[1]}",
                    file=shape.file, line=shape.line)

    def _shapes(self, scope: Scope) -> Iterable[Finding]:
        shapes = scope.of(INPUT_SHAPE)
        if len(shapes) < 2:
            return
        reference = shapes[0]
        for other in shapes[1:]:
            a, b = reference.value, other.value
            if not scope.wanted(reference, other):
                continue
            if len(a) != len(b) or any(x != y and x != "N" and y != "N" for x, y in zip(a, b, strict=True)):
                yield rule("input-shape-mismatch").finding(f"{reference.where} declares {','.join(a)} but {other.where} has {','.join(b)}",
                                            file=other.file, line=other.line)

    def _versions(self, table: DeclaredFacts) -> Iterable[Finding]:
        yield from self._version_sources(table.of(VERSION), "the package version")
        by_model: dict[str | None, list[Fact]] = {}
        for fact in table.of(MODEL_VERSION):
            by_model.setdefault(fact.model or table.primary, []).append(fact)
        for model, facts in by_model.items():
            what = f"the version of the model {table.files_of(model)}" if model is not None else "the model version"
            yield from self._version_sources(facts, what, model=True)

    def _version_sources(self, facts: list[Fact], what: str, model: bool = False) -> Iterable[Finding]:
        """One finding per value that differs from the first source's (the version the package is built with),
        at the first place holding it; every message names every place and value."""
        groups: dict[str, list[Fact]] = {}
        for fact in facts:
            groups.setdefault(_version(str(fact.value)), []).append(fact)
        if len(groups) < 2:
            return
        reference = facts[0]
        listing = "; ".join(f"{f.where} says {f.value}" for f in facts)
        for value, group in groups.items():
            if value == _version(str(reference.value)):
                continue
            if model:
                advice = "Give the model one version"
            else:
                places = ", ".join(sorted({f.file or f.source for f in group}))
                advice = (f"The package version is {reference.value} ({_AUTHORITY.get(reference.source, 'the first source')}, "
                          f"{reference.where}): write it in {places} too")
            yield rule("version-mismatch").finding(f"{what} differs between its sources: {listing}. {advice}",
                                                   file=group[0].file, line=group[0].line)

    def _model_id(self, pkg: ModelPackage, table: DeclaredFacts) -> Iterable[Finding]:
        ids = table.of(MODEL_ID)
        card = pkg.card
        if not ids or card is None:
            return
        text = _squash("\n".join(card.lines))
        for fact in ids:
            if _squash(str(fact.value)) not in text:
                yield rule("model-id-unmentioned").finding(f"model_id {fact.value!r} of {fact.where} appears nowhere in the README",
                                                   file=fact.file)
