"""HTML inside a Markdown card, read as the rendered card shows it: headings, `<details>` summaries,
list items, text lines, link targets and images.

Authors write parts of their cards in HTML (`<h1 align="center">Name</h1>`, `<details><summary>…`,
a Creative Commons `<a rel="license" href=…><img …></a>` block, `<div align="center">` wrappers).
The stdlib HTMLParser reads it (linear, never raises on malformed markup); nothing is rendered or run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Literal

PieceKind = Literal["heading", "summary", "item", "text", "details_end"]
_BLOCK_TAGS = frozenset({"p", "div", "br", "li", "ul", "ol", "table", "tr", "details", "summary", "center", "hr",
                         "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "section", "td", "th"})


@dataclass(frozen=True)
class HtmlPiece:
    """One readable piece of an HTML fragment; `line` is 0-based within the fragment."""

    kind: PieceKind
    text: str
    line: int
    level: int = 0  # heading level


@dataclass(frozen=True)
class HtmlImage:
    alt: str
    src: str
    link: str  # href of the enclosing <a>, or ""
    line: int  # 0-based within the fragment


@dataclass
class _State:
    pieces: list[HtmlPiece] = field(default_factory=list)
    images: list[HtmlImage] = field(default_factory=list)
    buffer: list[str] = field(default_factory=list)
    start: int = 0
    kind: PieceKind = "text"
    level: int = 0
    hrefs: list[str] = field(default_factory=list)
    in_heading: bool = False


class _Reader(HTMLParser):
    def __init__(self, targets: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.targets = targets
        self.state = _State()

    def _line(self) -> int:
        return self.getpos()[0] - 1

    def _flush(self, next_kind: PieceKind = "text", level: int = 0) -> None:
        text = " ".join("".join(self.state.buffer).split())
        if text:
            self.state.pieces.append(HtmlPiece(self.state.kind, text, self.state.start, self.state.level))
        self.state.buffer = []
        self.state.kind, self.state.level, self.state.start = next_kind, level, self._line()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._flush("heading", int(tag[1]))
            self.state.in_heading = True
        elif self.state.in_heading:
            pass  # <br>, <img>, <a> inside a heading: still the heading
        elif tag == "summary":
            self._flush("summary")
        elif tag == "li":
            self._flush("item")
        elif tag in _BLOCK_TAGS:
            self._flush()
        if tag == "a":
            self.state.hrefs.append(values.get("href", ""))
        elif tag == "img":
            link = self.state.hrefs[-1] if self.state.hrefs else ""
            self.state.images.append(HtmlImage(values.get("alt", ""), values.get("src", ""), link, self._line()))
            if self.targets and not self.state.in_heading:
                self.state.buffer.append(" ".join(p for p in (values.get("alt", ""), values.get("src", "")) if p) + " ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.state.hrefs:
            href = self.state.hrefs.pop()
            if self.targets and href and not self.state.in_heading:
                self.state.buffer.append(f" {href} ")
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.state.in_heading = False
            self._flush()
        elif self.state.in_heading:
            pass
        elif tag == "details":
            self._flush()
            self.state.pieces.append(HtmlPiece("details_end", "", self._line()))
        elif tag in _BLOCK_TAGS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self.state.buffer and not data.strip():
            return
        if not self.state.buffer:
            self.state.start = self._line() + data[:len(data) - len(data.lstrip())].count("\n")
        self.state.buffer.append(data)


def read_html(fragment: str, targets: bool = True) -> tuple[list[HtmlPiece], list[HtmlImage]]:
    """The pieces and images of an HTML fragment (a block, or one inline tag). With `targets`, link
    targets and image alt/src stay in the text, as the card's text searches want them."""
    reader = _Reader(targets)
    try:
        reader.feed(fragment)
        reader.close()
    except (AssertionError, ValueError):  # HTMLParser's own complaints about malformed markup
        pass
    reader._flush()
    return reader.state.pieces, reader.state.images


@dataclass(frozen=True)
class InlineTag:
    """One inline HTML token (`<a href=…>`, `</a>`, `<img …>`, `<br>`, a comment)."""

    name: str  # lower-case tag name; "" for a comment or anything else
    closing: bool
    attrs: dict[str, str]


class _TagReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tag: InlineTag | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.tag is None:
            self.tag = InlineTag(tag, False, {k: v or "" for k, v in attrs})

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if self.tag is None:
            self.tag = InlineTag(tag, True, {})


def inline_tag(content: str) -> InlineTag:
    reader = _TagReader()
    try:
        reader.feed(content)
        reader.close()
    except (AssertionError, ValueError):
        pass
    return reader.tag or InlineTag("", False, {})
