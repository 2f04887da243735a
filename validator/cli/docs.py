"""Keep docs/rules.md's rule table equal to the rule catalogue: `python -m validator.cli.docs [--check]`."""

from __future__ import annotations

import sys
from pathlib import Path

from validator.cli.rules import rules_markdown

BEGIN, END = "<!-- rules:begin -->", "<!-- rules:end -->"


def updated(readme: str) -> str:
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{rules_markdown()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    path = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
    text = path.read_text(encoding="utf-8")
    new = updated(text)
    if "--check" in argv:
        if new != text:
            print("docs/rules.md is out of date: run python -m validator.cli.docs", file=sys.stderr)
            return 1
        return 0
    path.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
