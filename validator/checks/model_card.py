"""Area model-card: every item of the guideline's "Write a Model Card" list, with its line."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from validator.checks.base import Skip, StaticCheck
from validator.core.catalogue import Rule, rule
from validator.core.findings import Area, Finding
from validator.core.options import Options
from validator.readers.card import CARD_ITEMS
from validator.readers.card_commands import referenced_files
from validator.readers.card_implicit import Implicit, implicit_items
from validator.readers.package import ModelPackage

ITEM_RULES: dict[str, Rule] = {
    item.key: rule(item.rule_id)
    for item in CARD_ITEMS
}


class ModelCardCheck(StaticCheck):
    name = "model card"
    area = Area.MODEL_CARD

    def run(self, pkg: ModelPackage, options: Options) -> Iterable[Finding] | Skip:
        readme = pkg.find("README.md")
        if readme is None:
            return Skip("there is no README.md (see MC101)")
        return self._findings(pkg, readme)

    def _findings(self, pkg: ModelPackage, readme: str) -> Iterable[Finding]:
        read = pkg.read_text(readme)
        if read.text is None:
            yield rule("readme-unreadable").finding(read.problem or "README.md cannot be read", file=readme)
            return
        facts = pkg.card_facts
        assert facts is not None
        implicit = implicit_items(pkg, facts, readme)
        reported_placeholders: set[int] = set()
        for item in CARD_ITEMS:
            if item.key in facts.found:
                continue
            placeholder = next((p for p in facts.placeholders if p.item == item.key), None)
            item_rule = ITEM_RULES[item.key]
            found = implicit.get(item.key)
            if placeholder is not None:
                reported_placeholders.add(placeholder.line)
                yield item_rule.finding(f"the {item.label} is only a placeholder: {placeholder.text.strip()[:60]!r}",
                                   file=readme, line=placeholder.line)
            elif found is not None:
                yield _implicit(item.label, found, readme)
            else:
                yield item_rule.finding(f"the model card is missing: {item.label}", file=readme)
        for placeholder in facts.placeholders:
            if placeholder.line not in reported_placeholders:
                reported_placeholders.add(placeholder.line)
                yield rule("card-placeholder").finding(f"placeholder text {placeholder.text.strip()[:60]!r}", file=readme, line=placeholder.line)
        yield from _missing_files(pkg, readme)


def _implicit(label: str, found: Implicit, readme: str) -> Finding:
    """Stated outside the card's text: where, what, and to state it in the card (at the place found
    when it is the card's own code, else at the file that holds it)."""
    inside = found.file == readme
    where = f"only inside the card's code (line {found.line})" if inside else f"only in {found.where}"
    return rule("card-item-implicit").finding(
        f"the card does not state the {label}: it is {where} ({found.value[:120]!r}); state it in the card too",
        file=found.file if inside else readme, line=found.line if inside else None)


def _missing_files(pkg: ModelPackage, readme: str) -> Iterable[Finding]:
    """Files the card's shell commands run or install from that the package does not have (once per file)."""
    if pkg.card is None:
        return
    folders = frozenset(pkg.dirs)
    reported: set[str] = set()
    for ref in referenced_files(pkg.card, folders):
        if ref.path in reported or ref.path in pkg.files or ref.path in folders:
            continue
        reported.add(ref.path)
        near = difflib.get_close_matches(ref.path, pkg.files, n=1, cutoff=0.75)
        hint = f"; did you mean {near[0]}?" if near else ""
        yield rule("card-file-missing").finding(
            f"the card's command `{ref.command}` needs {ref.path}, which the package does not have{hint}", file=readme, line=ref.line)
