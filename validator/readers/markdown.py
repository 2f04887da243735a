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
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from validator.readers.card_html import HtmlPiece, inline_tag, read_html


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


@dataclass(frozen=True)
class Image:
    """An image of the card (Markdown or HTML), with the target of the link around it (badges)."""

    alt: str
    src: str
    link: str
    line: int


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

    def prose_text(self) -> str:
        """Body text including subsections, code blocks left out."""
        parts = [p for p, _ in self.paragraphs]
        parts += [t for block in self.lists for t, _ in block.items]
        parts += [" ".join(c) for table in self.tables for c, _ in table.rows]
        return "\n".join(["\n".join(parts)] + [c.title + "\n" + c.prose_text() for c in self.children]).strip()

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
    images: list[Image] = field(default_factory=list)

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


def plain(text: str, images: bool = True) -> str:
    """Inline Markdown to plain text, read from markdown-it's inline tokens: links and images keep
    their text and target, code spans their content; emphasis, ticks and escapes go (and images too,
    without `images`)."""
    tokens = _MD.parseInline(text)
    return _render_plain(tokens[0].children or [], images=images).strip() if tokens else ""


def _render_plain(children: list[Token], targets: bool = True, images: bool = True) -> str:
    """The plain text of an inline token's children; soft and hard breaks stay line breaks (a
    newline inside a code span becomes a space, as in the rendered card). Inline HTML is read as
    rendered: `<a href>` like a link, `<img alt src>` like an image, `<br>` a line break, other tags
    and comments dropped. Without `targets` (headings), images go and links keep their text only;
    without `images`, images go (a badge's alt text `License: MIT` is no `Key: value` statement)."""
    parts: list[str] = []
    link_starts: list[tuple[int, str]] = []  # (index in parts, href) of each open link
    for child in children:
        kind = child.type
        if kind in ("text", "code_inline"):
            parts.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif kind == "image":
            if targets and images:
                parts.append(_with_target(child.content, str(child.attrs.get("src") or "")))
        elif kind == "link_open":
            link_starts.append((len(parts), str(child.attrs.get("href") or "")))
        elif kind == "link_close" and link_starts:
            start, href = link_starts.pop()
            parts[start:] = [_with_target("".join(parts[start:]), href if targets else "")]
        elif kind == "html_inline":
            tag = inline_tag(child.content)
            if tag.name == "a" and not tag.closing:
                link_starts.append((len(parts), tag.attrs.get("href", "")))
            elif tag.name == "a" and link_starts:
                start, href = link_starts.pop()
                parts[start:] = [_with_target("".join(parts[start:]), href if targets else "")]
            elif tag.name == "img" and targets and images:
                parts.append(_with_target(tag.attrs.get("alt", ""), tag.attrs.get("src", "")))
            elif tag.name == "br":
                parts.append("\n")
    return "".join(parts)


# GitHub emoji shortcodes (`:cloud:`); bounded, so each start position costs a constant.
_SHORTCODE = re.compile(r":[a-z0-9_+-]{1,40}:")
_DECORATION = frozenset({"So", "Sk", "Cf", "Mn", "Zs", "Cs", "Co"})


def heading_text(children: list[Token]) -> str:
    """A heading as its words: no images, link targets, HTML comments, shortcodes or emoji around it."""
    text = _SHORTCODE.sub(" ", _render_plain(children, targets=False))
    return clean_heading(text)


def clean_heading(text: str) -> str:
    text = " ".join(_SHORTCODE.sub(" ", text).split())
    start, end = 0, len(text)
    while start < end and unicodedata.category(text[start]) in _DECORATION:
        start += 1
    while end > start and unicodedata.category(text[end - 1]) in _DECORATION:
        end -= 1
    return text[start:end].strip()


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


class _NoAliasLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing aliases: a card's metadata never needs them, and nested aliases
    make a value exponentially large (a billion-laughs front matter)."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("front matter with YAML aliases is not read")
        return super().compose_node(parent, index)


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
        data = yaml.load("\n".join(lines[1:end]), Loader=_NoAliasLoader)  # a SafeLoader without aliases
    except (yaml.YAMLError, RecursionError):  # RecursionError: a nesting bomb
        return {}, [], end + 1
    if not isinstance(data, dict):
        return {}, [], end + 1
    found = []
    for number, raw in enumerate(lines[1:end], start=2):
        key = raw.split(":", 1)[0].strip()
        if key in data and not raw.startswith((" ", "\t", "-")):
            found.append(Field(key.replace("_", " "), _front_value(data[key]), number))
    return {str(k): v for k, v in data.items()}, found, end + 1


class _Outline:
    """The section tree as it is built: headings (Markdown or HTML, `<summary>` too) open sections."""

    def __init__(self) -> None:
        self.preamble = Section("", 0, 1)
        self.sections = [self.preamble]
        self.stack = [self.preamble]
        self.summaries: list[Section] = []  # open <details> sections, innermost last
        self.title: tuple[str, int] | None = None
        self.first_heading: tuple[str, int, bool] | None = None  # (text, line, setext)

    @property
    def current(self) -> Section:
        return self.stack[-1]

    def heading(self, text: str, level: int, line: int, setext: bool = False) -> None:
        section = Section(text, level, line)
        if self.first_heading is None:
            self.first_heading = (text, line, setext)
        if level == 1 and self.title is None and text:
            self.title = (text, line)
        # Inside an open `<details>`, headings belong to its summary whatever their level.
        inner = self.summaries[-1] if self.summaries else None
        floor = self.stack.index(inner) + 1 if inner is not None and inner in self.stack else 1
        while len(self.stack) > floor and self.stack[-1].level >= level:
            self.stack.pop()
        self.stack[-1].children.append(section)
        self.stack.append(section)
        self.sections.append(section)

    def summary(self, text: str, line: int) -> None:
        """`<details><summary>Classes</summary>…</details>`: a section under the current one."""
        self.heading(clean_heading(text), min(max(self.current.level + 1, 2), 6), line)
        self.summaries.append(self.current)

    def details_end(self) -> None:
        if self.summaries:
            closing = self.summaries.pop()
            if closing in self.stack:
                del self.stack[self.stack.index(closing):]

    def card_title(self) -> tuple[str, int] | None:
        """The first H1 with words; without one, a setext heading that opens the card (`Name\n----`)."""
        if self.title is not None:
            return self.title
        if self.first_heading is not None and self.first_heading[2] and self.first_heading[0]:
            return self.first_heading[0], self.first_heading[1]
        return None


def _front_value(value: object) -> str:
    """A front-matter value as text: scalars, and the scalars of a list (`datasets: [a, b]`); nested
    structures are not expanded (YAML aliases can make them exponentially large: a billion-laughs value)."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value[:200] if isinstance(v, (str, int, float)))
    if isinstance(value, dict):
        return ", ".join(str(k) for k in list(value)[:200])
    return str(value)


def parse_markdown(source: str, path: str) -> ParsedMarkdown:
    front, front_fields, skip = _split_front_matter(source)
    lines = source.splitlines()
    body = "\n" * skip + "\n".join(lines[skip:]) if skip else source
    tokens = _MD.parse(body)

    outline = _Outline()
    all_fields = list(front_fields)
    lead_in = ""
    i = 0

    def paragraph(content: str, line: int, field_text: str | None = None) -> None:
        outline.current.paragraphs.append((content.strip(), line))
        found = _fields_from_lines(content if field_text is None else field_text, line)
        outline.current.fields.extend(found)
        all_fields.extend(found)

    while i < len(tokens):
        tok = tokens[i]
        line = (tok.map[0] + 1) if tok.map else 0
        if tok.type == "heading_open":
            outline.heading(heading_text(tokens[i + 1].children or []), int(tok.tag[1]), line, tok.markup in ("=", "-"))
            lead_in = ""
            i += 3
            continue
        if tok.type in ("bullet_list_open", "ordered_list_open"):
            i = _read_list(tokens, i, outline.current, all_fields, lead_in)
            lead_in = ""
            continue
        if tok.type == "table_open":
            i = _read_table(tokens, i, outline.current, all_fields)
            lead_in = ""
            continue
        if tok.type != "paragraph_close":
            lead_in = "" if tok.type != "inline" else lead_in
        if tok.type in ("fence", "code_block"):
            outline.current.code.append(CodeBlock(tok.info.strip(), tok.content, line))
        elif tok.type == "html_block":
            lead_in = _read_html_block(tok.content, line, outline, paragraph)
        elif tok.type == "paragraph_open" and tokens[i + 1].type == "inline":
            content = _inline_plain(tokens[i + 1])
            paragraph(content, line, _render_plain(tokens[i + 1].children or [], images=False))
            lead_in = content.strip()
        i += 1

    total = len(lines)
    sections = outline.sections
    for index, section in enumerate(sections):
        following = [s.line for s in sections[index + 1:] if s.level and s.level <= max(section.level, 1)]
        section.end_line = (following[0] - 1) if following else total
    return ParsedMarkdown(path, lines, outline.card_title(), sections, all_fields, front, _images(tokens))


def _read_html_block(content: str, line: int, outline: _Outline, paragraph: Callable[[str, int], None]) -> str:
    """An HTML block of the card: headings and summaries open sections, list items form a list, the
    rest is text. Returns the last text piece (a lead-in for a list that follows)."""
    pieces, _ = read_html(content)
    lead_in = ""
    items: list[HtmlPiece] = []

    def flush_items() -> None:
        if items:
            outline.current.lists.append(ListBlock(False, tuple((p.text, line + p.line) for p in items), line + items[0].line, lead_in))
            items.clear()

    for piece in pieces:
        if piece.kind != "item":
            flush_items()
        if piece.kind == "heading":
            outline.heading(clean_heading(piece.text), piece.level, line + piece.line)
        elif piece.kind == "summary":
            outline.summary(piece.text, line + piece.line)
        elif piece.kind == "details_end":
            outline.details_end()
        elif piece.kind == "item":
            items.append(piece)
        else:
            paragraph(piece.text, line + piece.line)
            lead_in = piece.text
    flush_items()
    return lead_in


def _images(tokens: list[Token]) -> list[Image]:
    """Every image of the card with the link around it: Markdown `[![alt](src)](href)` and HTML `<img>`."""
    found: list[Image] = []
    for tok in tokens:
        line = (tok.map[0] + 1) if tok.map else 0
        if tok.type == "html_block":
            found += [Image(im.alt, im.src, im.link, line + im.line) for im in read_html(tok.content)[1]]
            continue
        links: list[str] = []
        for child in tok.children or []:
            if child.type in ("softbreak", "hardbreak"):
                line += 1  # badges often stand one per line in one paragraph
            elif child.type == "link_open":
                links.append(str(child.attrs.get("href") or ""))
            elif child.type == "link_close" and links:
                links.pop()
            elif child.type == "image":
                found.append(Image(child.content, str(child.attrs.get("src") or ""), links[-1] if links else "", line))
            elif child.type == "html_inline":
                tag = inline_tag(child.content)
                if tag.name == "a":
                    links = links[:-1] if tag.closing else links + [tag.attrs.get("href", "")]
                elif tag.name == "img":
                    found.append(Image(tag.attrs.get("alt", ""), tag.attrs.get("src", ""), links[-1] if links else "", line))
    return found


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
