"""Parse a README model card with markdown-it-py into sections, fields, lists, tables and code.

The parser knows Markdown structure only; what the guideline asks a card to contain is in
validator/readers/card.py. Every element keeps its 1-based line so findings can point at it.

The card is untrusted text (up to the package's 10 MB text limit): links, images, code spans and
emphasis are read from markdown-it-py's own inline tokens, never by regular expressions over the
raw Markdown, and the few expressions left run in linear time on any input (no overlapping
quantifiers at a start position the engine retries; tests/test_untrusted_text.py feeds them
adversarial Markdown).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token


@dataclass(frozen=True)
class Field:
    """A `Key: value` statement, from a paragraph line, a list item, a two-column table row or
    the YAML front matter."""

    key: str
    value: str
    line: int


@dataclass(frozen=True)
class ListBlock:
    ordered: bool
    items: tuple[tuple[str, int], ...]  # (text, line)
    line: int
    lead_in: str = ""  # the paragraph right before the list ("Channels, in order:")


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[tuple[str, ...], int], ...]  # (cells, line)
    line: int

    def column(self, index: int) -> list[tuple[str, int]]:
        return [(cells[index], line) for cells, line in self.rows if index < len(cells)]


@dataclass(frozen=True)
class CodeBlock:
    info: str
    content: str
    line: int  # line of the opening fence


@dataclass
class Section:
    title: str
    level: int
    line: int
    end_line: int = 0  # last line of the section, subsections included
    paragraphs: list[tuple[str, int]] = field(default_factory=list)
    lists: list[ListBlock] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    code: list[CodeBlock] = field(default_factory=list)
    fields: list[Field] = field(default_factory=list)
    children: list[Section] = field(default_factory=list)

    def own_text(self) -> str:
        parts = [p for p, _ in self.paragraphs]
        parts += [t for block in self.lists for t, _ in block.items]
        parts += [" ".join(c) for table in self.tables for c, _ in table.rows]
        parts += [c.content for c in self.code]
        return "\n".join(parts).strip()

    def text(self) -> str:
        """Body text including subsections."""
        return "\n".join([self.own_text()] + [c.title + "\n" + c.text() for c in self.children]).strip()

    def all_lists(self) -> list[ListBlock]:
        return self.lists + [b for c in self.children for b in c.all_lists()]

    def all_tables(self) -> list[Table]:
        return self.tables + [t for c in self.children for t in c.all_tables()]

    def all_code(self) -> list[CodeBlock]:
        return self.code + [b for c in self.children for b in c.all_code()]


@dataclass
class ParsedMarkdown:
    path: str
    lines: list[str]
    title: tuple[str, int] | None
    sections: list[Section]  # every section in document order (a preamble has level 0)
    fields: list[Field]
    front_matter: dict[str, object]

    @cached_property
    def prose_lines(self) -> list[tuple[int, str]]:
        """Numbered non-blank lines outside code fences, headings left out (a heading is evidence
        only with content under it): what the card's text searches read, computed once."""
        found = []
        in_fence = False
        for number, line in enumerate(self.lines, start=1):
            stripped = line.lstrip()
            if stripped.startswith(("```", "~~~")):
                in_fence = not in_fence
            elif stripped and not in_fence and not stripped.startswith("#"):
                found.append((number, line))
        return found


# `Key: value` on a line of plain text (markup already gone); keys are short phrases. The key is
# bounded (61 characters), so a start position costs at most 61 tries of the `\s*` after it.
_FIELD = re.compile(r"^\s*(?:[-*+]\s+)?(?:\*\*|__|\*|_)?([A-Za-z][\w /()&.,'+-]{0,60}?)(?:\*\*|__|\*|_)?\s*[:：](?:\*\*|__)?\s+(\S.*)$")
_MD = MarkdownIt("commonmark").enable("table")


def plain(text: str) -> str:
    """Inline Markdown to plain text, read from markdown-it's inline tokens: links and images keep
    their text and target, code spans their content; emphasis, ticks and escapes go."""
    tokens = _MD.parseInline(text)
    return _render_plain(tokens[0].children or []).strip() if tokens else ""


def _render_plain(children: list[Token]) -> str:
    """The plain text of an inline token's children; soft and hard breaks stay line breaks (a
    newline inside a code span becomes a space, as in the rendered card)."""
    parts: list[str] = []
    link_starts: list[tuple[int, str]] = []  # (index in parts, href) of each open link
    for child in children:
        kind = child.type
        if kind in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif kind == "image":
            parts.append(_with_target(child.content, str(child.attrs.get("src") or "")))
        elif kind == "link_open":
            link_starts.append((len(parts), str(child.attrs.get("href") or "")))
        elif kind == "link_close" and link_starts:
            start, href = link_starts.pop()
            parts[start:] = [_with_target("".join(parts[start:]), href)]
    return "".join(parts)


def _with_target(text: str, target: str) -> str:
    return f"{text} {target}" if target and target not in text else text


# Several fields on one line: "Version: 0.1 · Authors: A, B | Contact: x@y". The separator starts
# where a whitespace run starts (the lookbehind), so a long run is scanned once, not once per space.
_FIELD_SEPARATOR = re.compile(r"(?<!\s)\s+[·•|]\s+(?=(?:\*\*|__)?[A-Za-z][\w /()&.,'+-]{0,60}?(?:\*\*|__)?\s*[:：])")


def _fields_from_lines(text: str, first_line: int) -> list[Field]:
    """`Key: value` statements in plain text (see _render_plain), with the line of each."""
    found = []
    for offset, raw in enumerate(text.splitlines()):
        for part in _FIELD_SEPARATOR.split(raw):
            match = _FIELD.match(part)
            if match and len(match.group(1).split()) <= 6 and "://" not in match.group(1):
                found.append(Field(match.group(1).strip(), match.group(2).strip(), first_line + offset))
    return found


def _split_front_matter(source: str) -> tuple[dict[str, object], list[Field], int]:
    """YAML front matter (Hugging Face style cards): its mapping, fields, and lines it spans."""
    lines = source.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}, [], 0
    for end in range(1, min(len(lines), 500)):
        if lines[end].strip() in ("---", "..."):
            break
    else:
        return {}, [], 0
    try:
        data = yaml.safe_load("\n".join(lines[1:end]))
    except (yaml.YAMLError, RecursionError):  # RecursionError: a nesting bomb
        return {}, [], end + 1
    if not isinstance(data, dict):
        return {}, [], end + 1
    found = []
    for number, raw in enumerate(lines[1:end], start=2):
        key = raw.split(":", 1)[0].strip()
        if key in data and not raw.startswith((" ", "\t", "-")):
            value = data[key]
            shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            found.append(Field(key.replace("_", " "), shown, number))
    return {str(k): v for k, v in data.items()}, found, end + 1


def parse_markdown(source: str, path: str) -> ParsedMarkdown:
    front, front_fields, skip = _split_front_matter(source)
    lines = source.splitlines()
    body = "\n" * skip + "\n".join(lines[skip:]) if skip else source
    tokens = _MD.parse(body)

    preamble = Section("", 0, 1)
    sections = [preamble]
    stack = [preamble]
    all_fields = list(front_fields)
    title: tuple[str, int] | None = None
    lead_in = ""
    i = 0

    def current() -> Section:
        return stack[-1]

    while i < len(tokens):
        tok = tokens[i]
        line = (tok.map[0] + 1) if tok.map else 0
        if tok.type == "heading_open":
            level = int(tok.tag[1])
            text = _inline_plain(tokens[i + 1]).strip()
            section = Section(text, level, line)
            if level == 1 and title is None:
                title = (text, line)
            while len(stack) > 1 and stack[-1].level >= level:
                stack.pop()
            stack[-1].children.append(section)
            stack.append(section)
            sections.append(section)
            lead_in = ""
            i += 3
            continue
        if tok.type in ("bullet_list_open", "ordered_list_open"):
            i = _read_list(tokens, i, current(), all_fields, lead_in)
            lead_in = ""
            continue
        if tok.type == "table_open":
            i = _read_table(tokens, i, current(), all_fields)
            lead_in = ""
            continue
        if tok.type != "paragraph_close":
            lead_in = "" if tok.type != "inline" else lead_in
        if tok.type in ("fence", "code_block"):
            current().code.append(CodeBlock(tok.info.strip(), tok.content, line))
        elif tok.type == "paragraph_open" and tokens[i + 1].type == "inline":
            content = _inline_plain(tokens[i + 1])
            current().paragraphs.append((content.strip(), line))
            lead_in = content.strip()
            found = _fields_from_lines(content, line)
            current().fields.extend(found)
            all_fields.extend(found)
        i += 1

    total = len(lines)
    for index, section in enumerate(sections):
        following = [s.line for s in sections[index + 1:] if s.level and s.level <= max(section.level, 1)]
        section.end_line = (following[0] - 1) if following else total
    return ParsedMarkdown(path, lines, title, sections, all_fields, front)


def _inline_plain(tok: Token) -> str:
    return _render_plain(tok.children or [])


def _read_list(tokens: list[Token], i: int, section: Section, all_fields: list[Field], lead_in: str = "") -> int:
    """Read one (possibly nested) list; nested items are flattened into the outer list."""
    open_tok = tokens[i]
    ordered = open_tok.type == "ordered_list_open"
    depth = 0
    items: list[tuple[str, int]] = []
    while i < len(tokens):
        tok = tokens[i]
        if tok.type in ("bullet_list_open", "ordered_list_open"):
            depth += 1
        elif tok.type in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
            if depth == 0:
                break
        elif tok.type == "inline" and tok.map:
            line = tok.map[0] + 1
            first = _inline_plain(tok).split("\n", 1)[0]
            items.append((first.strip(), line))
            found = _fields_from_lines(first, line)
            section.fields.extend(found)
            all_fields.extend(found)
        elif tok.type in ("fence", "code_block") and tok.map:
            section.code.append(CodeBlock(tok.info.strip(), tok.content, tok.map[0] + 1))
        i += 1
    section.lists.append(ListBlock(ordered, tuple(items), (open_tok.map[0] + 1) if open_tok.map else 0, lead_in))
    return i + 1


def _read_table(tokens: list[Token], i: int, section: Section, all_fields: list[Field]) -> int:
    span = tokens[i].map
    start = (span[0] + 1) if span else 0
    header: list[str] = []
    rows: list[tuple[tuple[str, ...], int]] = []
    cells: list[str] = []
    in_head = False
    row_line = start
    while i < len(tokens) and tokens[i].type != "table_close":
        tok = tokens[i]
        if tok.type == "thead_open":
            in_head = True
        elif tok.type == "thead_close":
            in_head = False
        elif tok.type == "tr_open":
            cells = []
            row_line = (tok.map[0] + 1) if tok.map else row_line
        elif tok.type == "inline":
            cells.append(_inline_plain(tok).strip())
        elif tok.type == "tr_close":
            if in_head:
                header = cells
            else:
                rows.append((tuple(cells), row_line))
        i += 1
    table = Table(tuple(header), tuple(rows), start)
    section.tables.append(table)
    # Two-column tables are key/value tables (| Field | Value |); so is the header row itself.
    if len(header) == 2:
        pairs = [(tuple(header), start)] + list(rows)
        key_like = sum(1 for c, _ in pairs if c and len(c[0].split()) <= 6)
        if key_like == len(pairs):
            for row, line in pairs:
                if len(row) == 2 and row[0] and row[1] and row[0].lower() not in ("field", "key", "property", "item", "name"):
                    entry = Field(row[0], row[1], line)
                    section.fields.append(entry)
                    all_fields.append(entry)
    return i + 1


# Re-exported for the card checks.
ModelCard = ParsedMarkdown
parse_card = parse_markdown
