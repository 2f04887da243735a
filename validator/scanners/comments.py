"""Where the comments are in a text file, per language, so that scanners can leave out what nothing runs.

A commented-out line does not need the private path it names (the private-path rule asks what is
needed to run), but a credential in a comment is still a credential: only the private-path scan
uses this module. Package content is hostile, so every reader here errs towards "not a comment":
text that the language would run must never be taken for a comment. Each reader returns the
comment spans as absolute character offsets, or no spans at all when it cannot be sure of the
file (it does not tokenize, a string or heredoc is left open, the file is too large to read
exactly):

- Python (`.py`, code cells of Python notebooks): the `tokenize` module's COMMENT tokens, exactly as
  Python reads them (trailing comments included; a `#` inside a string is in a STRING token); a file
  with an error token (an unclosed quote) gets none.
- shell (`.sh`, `.bash`) and `.env` files: a small lexer that follows quotes, backslashes and
  heredocs; a comment starts at a `#` that begins a word (line start or after a blank). `.env`
  files: whole-line comments only (docker's --env-file keeps a `#` after the value).
- Dockerfile / Containerfile: whole lines starting with `#`, outside heredoc bodies.
- YAML that PyYAML parses: the gaps between its scanner's tokens (block and quoted scalars are tokens).
- pip requirements and constraints files: pip's own rule, a `#` at the line start or after a blank.
- TOML (`.toml`, uv.lock, poetry.lock, Cargo.lock, pdm.lock) that `tomllib` accepts: a `#` outside
  strings (multi-line strings followed).
- `.cfg` / `.ini`: whole lines starting with `#` or `;` (configparser's default).

Other formats (JSON, R, Julia, Makefiles, …) get no spans: every line of them is read.
"""

from __future__ import annotations

import io
import re
import tokenize
import tomllib
from pathlib import PurePosixPath

import yaml

Span = tuple[int, int]  # [start, end) character offsets of one comment

MAX_EXACT_CHARS = 512 * 1024  # larger files (generated data, not hand-written code) are read whole
YAML_MAX_CHARS = 256 * 1024  # with libyaml; a quarter of it with PyYAML's pure-Python scanner
TOML_LOCKS = ("uv.lock", "poetry.lock", "cargo.lock", "pdm.lock")
_HEREDOC = re.compile(r"<<(?!<)(-?)\s*(['\"]?)\\?([^\s'\"<>|&;()`]+)\2")


def language(rel: str) -> str | None:
    """The comment syntax of a package file, by its name; None when its comments are not read."""
    path = PurePosixPath(rel)
    name, suffix = path.name.lower(), path.suffix.lower()
    if suffix == ".py":
        return "python"
    if suffix in (".sh", ".bash"):
        return "shell"
    if suffix == ".env" or name == ".env" or name.startswith(".env."):
        return "env"
    if name.startswith(("dockerfile", "containerfile")) or suffix in (".dockerfile", ".containerfile"):
        return "docker"
    if suffix in (".yml", ".yaml"):
        return "yaml"
    if name.startswith(("requirements", "constraints")) and suffix in (".txt", ".in", ""):
        return "requirements"
    if suffix == ".toml" or name in TOML_LOCKS:
        return "toml"
    if suffix in (".cfg", ".ini"):
        return "ini"
    return None


def comment_spans(rel: str, text: str) -> list[Span]:
    """The comments of `text` read as the language of `rel`; [] when unsure or not read."""
    kind = language(rel)
    if kind is None or len(text) > MAX_EXACT_CHARS:
        return []
    try:
        return _READERS[kind](text)
    except Exception:  # a reader that trips on hostile input leaves every line in
        return []


def without_comments(text: str, spans: list[Span]) -> str:
    """`text` with each comment blanked to spaces; line breaks (every one str.splitlines knows) are
    kept, so line numbers do not move."""
    if not spans:
        return text
    chars = list(text)
    for start, end in spans:
        for index in range(start, min(end, len(chars))):
            if not _breaks_line(chars[index]):
                chars[index] = " "
    return "".join(chars)


_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")  # what str.splitlines splits at


def _breaks_line(char: str) -> bool:
    return char in _LINE_BREAKS


# -- Python ----------------------------------------------------------------------------------------
def python_spans(text: str) -> list[Span]:
    lines = io.StringIO(text, newline="").readlines()  # \n, \r\n and \r, as Python's tokenizer splits
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    spans: list[Span] = []
    for token in tokenize.generate_tokens(io.StringIO(text, newline="").readline):
        if token.type == tokenize.ERRORTOKEN:  # e.g. an unclosed quote: what follows may be a string's content
            raise ValueError("not Python")
        if token.type == tokenize.COMMENT:
            (row, col), (end_row, end_col) = token.start, token.end
            spans.append((starts[row - 1] + col, starts[end_row - 1] + end_col))
    return spans


def notebook_cell_spans(source: str) -> list[Span]:
    """A code cell: Python, with IPython's line magics (`!cmd`, `%magic`) read as code, never as comments
    (they are blanked before tokenizing, keeping every offset); a cell magic (`%%bash`, …) makes the
    whole cell another language: no spans."""
    if source.lstrip().startswith("%%") or len(source) > MAX_EXACT_CHARS:
        return []
    lines = io.StringIO(source, newline="").readlines()
    masked = "".join(_blank_line(line) if line.lstrip().startswith(("!", "%")) else line for line in lines)
    try:
        return python_spans(masked)
    except Exception:  # does not tokenize: every line is read
        return []


def _blank_line(line: str) -> str:
    body = line.rstrip("\r\n")
    return " " * len(body) + line[len(body):]


# -- shell -----------------------------------------------------------------------------------------
def _shell_spans(text: str, whole_lines_only: bool) -> list[Span]:
    spans: list[Span] = []
    i, n = 0, len(text)
    pending: list[tuple[str, bool]] = []  # heredoc terminators opened on the current line
    line_start = True
    while i < n:
        char = text[i]
        if char == "\n":
            i += 1
            line_start = True
            if pending:
                i = _skip_heredocs(text, i, pending)
                if i < 0:
                    return []  # a heredoc left open: unsure of the rest
                pending = []
            continue
        # a `#` begins a word after a blank or an unescaped line break (backslash-newline joins lines)
        at_word_start = i == 0 or text[i - 1] in " \t" or (text[i - 1] == "\n" and (i < 2 or text[i - 2] != "\\"))
        if char == "#" and at_word_start and (not whole_lines_only or line_start):
            end = text.find("\n", i)
            end = n if end < 0 else end
            spans.append((i, end))
            i = end
            continue
        if char not in " \t":
            line_start = False
        if char == "\\":
            i += 2
        elif char == "'":
            ansi = i > 0 and text[i - 1] == "$"
            i = _close_quote(text, i + 1, "'", escapes=ansi)
        elif char in "\"`":
            i = _close_quote(text, i + 1, char, escapes=True)
        elif text.startswith("<<", i):
            match = _HEREDOC.match(text, i)
            if match:
                pending.append((match.group(3), match.group(1) == "-"))
                i = match.end()
            else:
                i += 3 if text.startswith("<<<", i) else 2
        else:
            i += 1
        if i < 0:
            return []  # a quote left open
    return spans if not pending else []


def _close_quote(text: str, i: int, quote: str, escapes: bool) -> int:
    """The index after the closing quote, or -1 when the quote is never closed."""
    while i < len(text):
        if escapes and text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    return -1


def _skip_heredocs(text: str, i: int, pending: list[tuple[str, bool]]) -> int:
    """The index after the bodies of the heredocs opened on the line before `i`; -1 if one never ends."""
    for word, strip_tabs in pending:
        while True:
            if i >= len(text):
                return -1
            end = text.find("\n", i)
            line = text[i:] if end < 0 else text[i:end]
            i = len(text) if end < 0 else end + 1
            if (line.lstrip("\t") if strip_tabs else line) == word:
                break
    return i


def shell_spans(text: str) -> list[Span]:
    return _shell_spans(text, whole_lines_only=False)


def env_spans(text: str) -> list[Span]:
    """Whole-line comments only; python-dotenv also breaks lines at a lone \\r (same length, so offsets hold)."""
    return _shell_spans(text.replace("\r", "\n"), whole_lines_only=True)


# -- Dockerfile ------------------------------------------------------------------------------------
def docker_spans(text: str) -> list[Span]:
    spans: list[Span] = []
    pending: list[tuple[str, bool]] = []
    offset = 0
    for line in text.split("\n"):
        start, offset = offset, offset + len(line) + 1
        if pending:
            word, strip_tabs = pending[0]
            if (line.lstrip("\t") if strip_tabs else line).rstrip("\r") == word:
                pending.pop(0)
            continue
        if line.lstrip(" \t").startswith("#"):
            spans.append((start, start + len(line)))
            continue
        pending += [(m.group(3), m.group(1) == "-") for m in _HEREDOC.finditer(line)]
    return spans if not pending else []


# -- YAML ------------------------------------------------------------------------------------------
def yaml_spans(text: str) -> list[Span]:
    """libyaml's parser is quadratic in the nesting depth of flow collections ('[' * 100,000 takes 20 s):
    a file with more brackets than a hand-written one has, or larger than YAML_MAX_CHARS, is read whole."""
    fast = getattr(yaml, "__with_libyaml__", False)
    loader: type = yaml.CSafeLoader if fast else yaml.SafeLoader
    if len(text) > (YAML_MAX_CHARS if fast else YAML_MAX_CHARS // 4) or text.count("[") + text.count("{") > 5_000:
        return []
    for _ in yaml.parse(text, Loader=loader):  # raises on anything that is not YAML: then no spans
        pass
    covered: list[Span] = []
    for token in yaml.scan(text, Loader=loader):
        start, end = token.start_mark.index, token.end_mark.index
        if end > start:
            covered.append((start, end))
    spans: list[Span] = []
    position = 0
    for start, end in sorted(covered) + [(len(text), len(text))]:
        if start > position:
            spans += _hash_comments(text, position, start)
        position = max(position, end)
    return spans


def _hash_comments(text: str, start: int, end: int) -> list[Span]:
    """Comments (a `#` at a line start or after a blank, to the line end) in text[start:end]."""
    spans: list[Span] = []
    i = start
    while i < end:
        if text[i] == "#" and (i == 0 or text[i - 1] in " \t\r\n"):
            stop = i
            while stop < end and text[stop] not in "\r\n":
                stop += 1
            spans.append((i, stop))
            i = stop
        else:
            i += 1
    return spans


# -- pip requirements ------------------------------------------------------------------------------
def requirements_spans(text: str) -> list[Span]:
    """pip splits the file with str.splitlines, then drops `#` to the line end at a line start or after
    a blank."""
    spans: list[Span] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        match = re.search(r"(?:^|(?<=\s))#", line)
        if match:
            body = len(line.rstrip("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"))
            spans.append((offset + match.start(), offset + body))
        offset += len(line)
    return spans


# -- TOML ------------------------------------------------------------------------------------------
def toml_spans(text: str) -> list[Span]:
    tomllib.loads(text)  # raises on anything TOML does not accept: then no spans
    spans: list[Span] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == "#":
            end = n
            for stop in ("\n", "\r"):
                found = text.find(stop, i)
                end = min(end, found) if found >= 0 else end
            spans.append((i, end))
            i = end
        elif text.startswith(('"""', "'''"), i):
            quote = text[i:i + 3]
            i = _close_triple(text, i + 3, quote)
        elif text[i] in "\"'":
            i = _close_quote(text, i + 1, text[i], escapes=text[i] == '"')
        else:
            i += 1
        if i < 0:
            return []
    return spans


def _close_triple(text: str, i: int, quote: str) -> int:
    while i < len(text):
        if quote == '"""' and text[i] == "\\":
            i += 2
            continue
        if text.startswith(quote, i):
            while text.startswith(quote[0], i + 3):  # up to two quotes may end the string's content
                i += 1
            return i + 3
        i += 1
    return -1


# -- configparser files ----------------------------------------------------------------------------
def ini_spans(text: str) -> list[Span]:
    """configparser: a line whose first non-blank character is `#` or `;` (lines split as finely as
    str.splitlines does, so no line break configparser honours can end a comment early)."""
    spans: list[Span] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        stripped = line.lstrip(" \t")
        if stripped.startswith(("#", ";")):
            spans.append((offset + len(line) - len(stripped), offset + len(line)))
        offset += len(line)
    return spans


_READERS = {"python": python_spans, "shell": shell_spans, "env": env_spans, "docker": docker_spans,
            "yaml": yaml_spans, "requirements": requirements_spans, "toml": toml_spans, "ini": ini_spans}
