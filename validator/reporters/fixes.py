"""How to fix a finding, as the terminal and Markdown reports show it: one line cut from the rule's help,
the rule's row in docs/rules.md (the anchor `python -m validator.cli.docs` writes), and for a missing
or placeholder model-card item an example of the form the card is read in.

Findings that share a fix are shown together and the fix once: a rule's findings (ten unpinned
requirements, one fix), and the findings of every model-card item, whose fixes differ only by the
item (each finding line shows its item's example instead).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from validator.core.catalogue import DOCS_URL, get_rule
from validator.core.findings import Finding, Severity
from validator.readers.card import CARD_ITEM_FIX, card_example

FIX_LIMIT = 160  # characters of a fix line's text
DOCS_PATH = "docs/rules.md"
_CARD_ITEMS = "card items"  # the group key of every model-card item's findings
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "cf.", "vs.", "no.")


@dataclass(frozen=True)
class Fix:
    text: str  # one line
    rules: tuple[str, ...]  # the rules of the findings it fixes, in their order
    anchor: str | None  # the first rule's row in docs/rules.md ("mc301"); None for a rule this model-check does not know

    @property
    def url(self) -> str | None:
        """The rule's documentation, absolute: the link works from a PR comment."""
        return f"{DOCS_URL}#{self.anchor}" if self.anchor else None

    @property
    def ref(self) -> str | None:
        """The rule's documentation, short, for the terminal."""
        return f"{DOCS_PATH}#{self.anchor}" if self.anchor else None

    @property
    def label(self) -> str:
        """The rules, as `MC301` or `MC202–MC227`."""
        return self.rules[0] if len(self.rules) == 1 else f"{self.rules[0]}–{self.rules[-1]}"


@dataclass(frozen=True)
class Group:
    """Findings that share a fix, most severe first; `fix` is None when none of them is a warning or an error."""

    findings: list[Finding]
    fix: Fix | None


def example(finding: Finding) -> str | None:
    """The expected card form for a model-card item's finding (`Input shape: N,4,128,128`), or None."""
    return card_example(finding.rule)


def group_findings(findings: Sequence[Finding]) -> list[Group]:
    """The findings grouped by fix: the groups in order of their most severe finding, then of their first finding."""
    keyed: dict[str, list[Finding]] = {}
    for finding in findings:
        keyed.setdefault(_CARD_ITEMS if card_example(finding.rule) else finding.rule, []).append(finding)
    groups = [(key, sorted(members, key=lambda f: -f.severity.rank)) for key, members in keyed.items()]
    groups.sort(key=lambda pair: -pair[1][0].severity.rank)  # stable: first appearance among equals
    return [Group(members, _fix(key, members)) for key, members in groups]


def _fix(key: str, findings: list[Finding]) -> Fix | None:
    if not any(f.severity.reaches(Severity.WARNING) for f in findings):
        return None
    rules = tuple(sorted(dict.fromkeys(f.rule for f in findings), key=_rule_order))
    anchor = rules[0].lower() if get_rule(rules[0]) else None
    if key == _CARD_ITEMS:
        return Fix(CARD_ITEM_FIX, rules, anchor)
    known = get_rule(key)
    help_text = findings[0].help or (known.help if known else "")
    return Fix(one_line(help_text), rules, anchor) if help_text.strip() else None


def _rule_order(rule_id: str) -> tuple[int, str]:
    digits = rule_id[2:]
    return (int(digits), rule_id) if digits.isdigit() else (1 << 30, rule_id)


def one_line(text: str, limit: int = FIX_LIMIT) -> str:
    """`text` on one line of at most about `limit` characters: whole sentences when they fit, else cut at a
    clause (`;`, `:`, `,`) outside brackets and code, dropping parenthesised asides first when that keeps
    more; a cut inside a sentence ends with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    shorter = _without_asides(text)
    if len(shorter) <= limit:
        return shorter
    for candidate in (text, shorter):
        cut = _best_cut(candidate, limit)
        if cut is not None and cut[1] < _SPACE:
            return _cut(candidate, *cut)
    sentences = [pos for pos, kind in _places(text[:limit + 1]) if kind == _SENTENCE]
    if sentences:  # a short first sentence rather than a cut mid-sentence
        return text[:sentences[-1]].rstrip()
    cut = _best_cut(text, limit)
    if cut is not None:
        return _cut(text, *cut)
    # one long call or literal: cut at its last space that fits
    head = text[:limit + 1]
    return (head[:head.rfind(" ")] if " " in head else text[:limit]).rstrip(" ,;:") + " …"


_SENTENCE, _SEMICOLON, _COLON, _COMMA, _SPACE = range(5)
_ASIDE = _COMMA  # before ` (`: as good a place as a comma


def _places(text: str) -> Iterator[tuple[int, int]]:
    """(position, kind) of the places `text` may be cut, outside brackets and `code`; the cut text is text[:position]."""
    depth, code = 0, False
    for i, ch in enumerate(text):
        if ch == "`":
            code = not code
        elif code:
            continue
        elif ch in "([{":
            if depth == 0 and ch == "(" and i and text[i - 1] == " ":
                yield i - 1, _ASIDE
            depth += 1
        elif ch in ")]}":
            depth = max(depth - 1, 0)
        elif depth == 0 and text[i + 1:i + 2] == " ":
            if ch in ".!?" and not text[:i + 1].lower().endswith(_ABBREVIATIONS):
                yield i + 1, _SENTENCE
            elif ch in ";:,":
                yield i, {";": _SEMICOLON, ":": _COLON, ",": _COMMA}[ch]
        elif depth == 0 and ch == " ":
            yield i, _SPACE


def _best_cut(text: str, limit: int) -> tuple[int, int] | None:
    """The best place to cut between 40 % and 100 % of `limit`: the strongest boundary, the latest among equals."""
    places = [(pos, kind) for pos, kind in _places(text) if limit * 2 // 5 <= pos <= limit]
    return min(places, key=lambda p: (p[1], -p[0])) if places else None


def _cut(text: str, position: int, kind: int) -> str:
    head = text[:position].rstrip()
    return head if kind == _SENTENCE else head.rstrip(" ,;:") + " …"


def _without_asides(text: str) -> str:
    """`text` without its parenthesised asides (` (e.g. …)`) outside code."""
    out: list[str] = []
    depth, code = 0, False
    for i, ch in enumerate(text):
        if ch == "`" and depth == 0:
            code = not code
        elif not code and ch == "(" and (depth or (i and text[i - 1] == " ")):
            if depth == 0 and out and out[-1] == " ":
                out.pop()
            depth += 1
            continue
        elif not code and ch == ")" and depth:
            depth -= 1
            continue
        if depth == 0:
            out.append(ch)
    return "".join(out)
