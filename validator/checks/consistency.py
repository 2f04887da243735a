"""Area consistency: the card, metadata, labels, config, ONNX graph and CITATION.cff agree.

License agreement is checked by the license area (one place for that rule).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

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
    VERSION,
    DeclaredFacts,
)
from validator.readers.package import ModelPackage

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


class ConsistencyCheck(StaticCheck):
    name = "declared facts agree"
    area = Area.CONSISTENCY

    def run(self, pkg: ModelPackage, options: Options) -> Iterable[Finding]:
        yield from self._unreadable(pkg)
        table = pkg.declared
        yield from self._names(table, CLASSES, rule("classes-mismatch"), "class")
        yield from self._names(table, CHANNELS, rule("channels-mismatch"), "channel")
        yield from self._counts(table, CLASSES, CLASS_COUNT, rule("class-count-mismatch"), "class", "outputs")
        yield from self._counts(table, CHANNELS, CHANNEL_COUNT, rule("channel-count-mismatch"), "channel", "input channels")
        yield from self._channel_dim(table)
        yield from self._shapes(table)
        yield from self._versions(table)
        yield from self._model_id(pkg, table)

    def _unreadable(self, pkg: ModelPackage) -> Iterable[Finding]:
        for name, unreadable in (("labels.json", rule("labels-invalid")), ("config.json", rule("config-json-invalid"))):
            rel = pkg.find(name)
            if rel is None:
                continue
            value, problem = pkg.read_json(rel)
            if problem is not None:
                yield unreadable.finding(problem, file=rel)
            elif name == "labels.json":
                from validator.readers.declared import _names_from_json

                if _names_from_json(value) is None:
                    yield unreadable.finding("labels.json is neither a list of names nor an index-to-name mapping", file=rel)

    def _names(self, table: DeclaredFacts, key: str, differ: Rule, noun: str) -> Iterable[Finding]:
        facts = table.of(key)
        if len(facts) < 2:
            return
        reference = facts[0]
        for other in facts[1:]:
            a, b = list(reference.value), list(other.value)
            if a == b:
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

    def _counts(self, table: DeclaredFacts, names_key: str, count_key: str, differ: Rule, noun: str, what: str) -> Iterable[Finding]:
        names = table.of(names_key)
        counts = table.of(count_key)
        if not counts:
            return
        reference_counts = [(len(f.value), f) for f in names] or [(counts[0].value, counts[0])]
        expected, ref = reference_counts[0]
        for fact in counts:
            if fact is ref or fact.value == expected:
                continue
            severity = Severity.WARNING if fact.strength == "inferred" else None
            yield differ.finding(f"{ref.where} gives {expected} {noun}(es) but {fact.source} in {fact.where} has {fact.value} {what}"
                               .replace("channel(es)", "channel(s)"), file=fact.file, line=fact.line, severity=severity)

    def _channel_dim(self, table: DeclaredFacts) -> Iterable[Finding]:
        """The channel list against the C dimension of the declared/ONNX input shapes (N,C,H,W)."""
        channels = table.of(CHANNELS)
        if not channels:
            return
        expected, ref = len(channels[0].value), channels[0]
        for shape in table.of(INPUT_SHAPE):
            dims = shape.value
            if len(dims) == 4 and dims[1].isdigit() and int(dims[1]) != expected:
                # NHWC graphs put channels last
                if dims[3].isdigit() and int(dims[3]) == expected:
                    continue
                yield rule("channel-count-mismatch").finding(
                    f"{ref.where} names {expected} channels but the input shape {','.join(dims)} in {shape.where} has {dims[1]}",
                    file=shape.file, line=shape.line)

    def _shapes(self, table: DeclaredFacts) -> Iterable[Finding]:
        shapes = table.of(INPUT_SHAPE)
        if len(shapes) < 2:
            return
        reference = shapes[0]
        for other in shapes[1:]:
            a, b = reference.value, other.value
            if len(a) != len(b) or any(x != y and x != "N" and y != "N" for x, y in zip(a, b, strict=True)):
                yield rule("input-shape-mismatch").finding(f"{reference.where} declares {','.join(a)} but {other.where} has {','.join(b)}",
                                            file=other.file, line=other.line)

    def _versions(self, table: DeclaredFacts) -> Iterable[Finding]:
        versions = table.of(VERSION)
        if len(versions) < 2:
            return
        reference = versions[0]
        for other in versions[1:]:
            if _version(str(other.value)) != _version(str(reference.value)):
                yield rule("version-mismatch").finding(f"{reference.where} says {reference.value} but {other.where} says {other.value}",
                                              file=other.file, line=other.line)

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
