"""Area model-card: every item of the guideline's "Write a Model Card" list, with its line."""

from __future__ import annotations

from typing import Iterable

from ..card_items import CARD_ITEMS
from ..model import Area, Finding, Severity
from ..rules import Rule, define
from .base import Check, Context

README_UNREADABLE = define(
    "MC200", "readme-unreadable", Area.MODEL_CARD, Severity.ERROR, "README.md cannot be read as a model card",
    "The guideline: the README.md is the human-readable model card.",
    "Save README.md as UTF-8 Markdown text of a reasonable size.",
)
PLACEHOLDER = define(
    "MC230", "card-placeholder", Area.MODEL_CARD, Severity.WARNING, "Placeholder text in the model card",
    "The guideline: the card must be 'complete enough that the model is usable without opening the training code'.",
    "Replace the placeholder (TODO, TBD, [More Information Needed], an empty section) with the real information.",
)

ITEM_RULES: dict[str, Rule] = {
    item.key: define(
        item.rule_id,
        "card-" + item.key.replace("_", "-"),
        Area.MODEL_CARD,
        item.severity,
        f"The model card is missing: {item.label}",
        f"The guideline's model card list includes: {item.label}.",
        f"Add the {item.label} to README.md, e.g. as a section or a `{item.label.split(' or ')[0].capitalize()}: …` line.",
    )
    for item in CARD_ITEMS
}


class ModelCardCheck(Check):
    name = "model card"
    area = Area.MODEL_CARD

    def skip_reason(self, ctx: Context) -> str | None:
        return None if ctx.pkg.find("README.md") is not None else "there is no README.md (see MC101)"

    def run(self, ctx: Context) -> Iterable[Finding]:
        pkg = ctx.pkg
        readme = pkg.find("README.md")
        assert readme is not None
        read = pkg.read_text(readme)
        if read.text is None:
            yield README_UNREADABLE.finding(read.problem or "README.md cannot be read", file=readme)
            return
        facts = pkg.card_facts
        assert facts is not None
        reported_placeholders: set[int] = set()
        for item in CARD_ITEMS:
            if item.key in facts.found:
                continue
            placeholder = next((p for p in facts.placeholders if p.item == item.key), None)
            rule = ITEM_RULES[item.key]
            if placeholder is not None:
                reported_placeholders.add(placeholder.line)
                yield rule.finding(f"the {item.label} is only a placeholder: {placeholder.text.strip()[:60]!r}",
                                   file=readme, line=placeholder.line)
            else:
                yield rule.finding(f"the model card is missing: {item.label}", file=readme)
        for placeholder in facts.placeholders:
            if placeholder.line not in reported_placeholders:
                reported_placeholders.add(placeholder.line)
                yield PLACEHOLDER.finding(f"placeholder text {placeholder.text.strip()[:60]!r}", file=readme, line=placeholder.line)
        ctx.results["card"] = facts
