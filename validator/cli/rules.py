"""`model-check rules`: the rule catalogue as a table, JSON or Markdown."""

from __future__ import annotations

import argparse
import json

from validator.cli.common import EXIT_OK
from validator.core.catalogue import all_rules


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rules = subparsers.add_parser("rules", help="list every rule")
    rules.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    rules.set_defaults(handler=cmd_rules)


def cmd_rules(args: argparse.Namespace) -> int:
    rules = all_rules()
    if args.format == "json":
        print(json.dumps([{"id": r.id, "name": r.name, "area": r.area.value, "severity": r.severity.value, "title": r.title,
                           "rationale": r.rationale, "help": r.help, "security": r.security} for r in rules], indent=2))
    elif args.format == "markdown":
        print(rules_markdown())
    else:
        from rich.console import Console
        from rich.markup import escape

        console = Console(highlight=False)
        for r in rules:
            console.print(f"{r.id:<7} {r.area.value:<12} {r.severity.value:<8} {r.name}: {escape(r.title)}. "
                          f"[dim]{escape(r.rationale)}[/dim]", soft_wrap=True)
    return EXIT_OK


def rules_markdown() -> str:
    """docs/rules.md's table: one row per rule, anchored by its id (reports link `#mc301`)."""
    from validator.readers.card import card_example  # the card reader and Markdown reporter: not at start-up
    from validator.reporters.markdown import help_markdown

    lines = ["| Rule | Name | Area | Severity | What it finds | Why (guideline) | How to fix | Security |",
             "|---|---|---|---|---|---|---|---|"]
    for r in all_rules():
        example = card_example(r.id)
        fix = help_markdown(r.help, table=True) + (f" Example: `{example}`" if example else "")
        lines.append(f"| <a id=\"{r.id.lower()}\"></a>{r.id} | {r.name} | {r.area.value} | {r.severity.value} | {r.title} | "
                     f"{r.rationale} | {fix} | {'security' if r.security else ''} |")
    return "\n".join(lines)
