"""Private absolute paths and non-public hosts in text: what ties a package to its author's machine.

Paths: home folders (/home/<user>, /Users/<user>, C:\\Users\\<user>), cluster file systems
(/scratch, /gpfs, /lustre), mounts (/mnt, /media/<user>) and file:// URLs. Hosts, in URLs and
`user@host:` remotes: localhost, loopback, private and link-local addresses (judged by the
`ipaddress` module), private DNS suffixes (.local, .internal, …) and single-label intranet names;
bare IP addresses count too, unless they read like a version: a pin (`pkg==10.4.0.35`) or the value
of a version key (`version = "10.3.9.90"` in uv.lock, `version: 0.1.0.0` in a package.yaml).

What a file does not need in order to run is left out (`scan_text`): commented-out code
(validator/scanners/comments.py), and in notebooks (`scan_notebook`) the cell outputs (returned apart,
for one note per notebook) and the metadata; cell sources are read in full. Package content is
hostile: each of these is decided from the file's structure, and whatever cannot be read exactly is
read whole.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from validator.readers.notebook import NotebookLines, is_base64_payload
from validator.scanners.comments import comment_spans, notebook_cell_spans, without_comments

PATH = "path"
HOST = "host"

_NOT_AFTER = r"(?<![\w.~/:$%{<-])"  # not inside a URL, a longer path or a template
_USER = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
_PATHS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(_NOT_AFTER + r"/home/" + _USER), "a home folder"),
    (re.compile(_NOT_AFTER + r"/Users/" + _USER), "a macOS home folder"),
    (re.compile(r"(?<![\w])[A-Za-z]:(?:\\\\|\\|/)Users(?:\\\\|\\|/)" + _USER), "a Windows user folder"),
    (re.compile(_NOT_AFTER + r"/(?:scratch|gpfs|lustre)\b/?"), "a cluster file system"),
    (re.compile(_NOT_AFTER + r"/(?:mnt|media)/" + _USER), "a mounted drive"),
)
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s'\"<>`)\]}]*")
# git@host:org/repo; the user part starts where a run of its characters starts (the lookbehind), so
# a long run without "@" is scanned once, not once per character.
_REMOTE = re.compile(r"(?<![\w.-])[\w.-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*):")
_BARE_IP = re.compile(r"(?<![\w.:=/@-])(\d{1,3}(?:\.\d{1,3}){3})(?![\w.])")
_QUOTED_LOCALHOST = re.compile(r"""(?<=['"])localhost(?=['":])""")
# what precedes a dotted quad that is the value of a version key: `version = "`, `"version": "`,
# `version: `, `tensorrt_version=`, `__version__ = '`
_VERSION_KEY = re.compile(r"""(?i)(?<![a-z0-9])version_*['"]?\s*[:=]\s*['"]?$""")
# the rest of a private path after the part that makes it private (/home/alice -> /home/alice/data/x.tif)
_PATH_TAIL = re.compile(r"""[^\s'"`,;:)\]}>|&*?<(${=]*""")
PRIVATE_SUFFIXES = (".local", ".localdomain", ".internal", ".intranet", ".lan", ".corp", ".home.arpa", ".localhost")


@dataclass(frozen=True)
class PrivateRef:
    line: int | None  # None: a notebook cell whose line in the file is unknown (see `place`)
    kind: str  # PATH or HOST
    text: str  # what was found, e.g. "/home/alice" or "192.168.1.20"
    what: str  # why it is private, e.g. "a home folder"
    full: str = ""  # a path as written, to its end: "/home/alice/data/x.tif"
    place: str = ""  # in a notebook, e.g. "cell 3 source"


@dataclass(frozen=True)
class NotebookRefs:
    """A notebook's private references: in cell sources (reported), and in cell outputs (one note)."""

    sources: list[PrivateRef]
    outputs: list[PrivateRef]
    output_cells: list[int] = field(default_factory=list)  # cells whose outputs show any


def scan_text(rel: str, text: str) -> list[PrivateRef]:
    """The private references of a file's text that are not inside a comment of its language."""
    return find_private_refs(without_comments(text, comment_spans(rel, text)))


def find_private_refs(text: str) -> list[PrivateRef]:
    """Every private path and host in `text`, with its 1-based line, in order."""
    found: list[PrivateRef] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if is_base64_payload(line) or not _maybe_private(line):
            continue
        found.extend(_in_line(line, number))
    return found


def _maybe_private(line: str) -> bool:
    """A cheap filter before the regular expressions: most lines hold none of these."""
    return any(marker in line for marker in ("/", "\\", "@", "localhost")) or bool(_BARE_IP.search(line))


def _in_line(line: str, number: int) -> list[PrivateRef]:
    refs: list[PrivateRef] = []
    url_spans: list[tuple[int, int]] = []
    for match in _URL.finditer(line):
        url_spans.append(match.span())
        refs.extend(_url_ref(match.group(0), number))
    for pattern, what in _PATHS:
        for match in pattern.finditer(line):
            tail = _PATH_TAIL.match(line, match.end())
            refs.append(PrivateRef(number, PATH, match.group(0), what, match.group(0) + (tail.group(0) if tail else "")))
    hosts = [m for m in _REMOTE.finditer(line)]
    hosts += [m for m in _BARE_IP.finditer(line) if not any(start <= m.start() < end for start, end in url_spans)
              and not _VERSION_KEY.search(line, 0, m.start())]
    for match in hosts:
        privacy = host_privacy(match.group(1), single_label=False)
        if privacy is not None:
            refs.append(PrivateRef(number, HOST, match.group(1), privacy))
    refs += [PrivateRef(number, HOST, "localhost", "the local machine") for _ in _QUOTED_LOCALHOST.finditer(line)]
    return refs


def _url_ref(url: str, number: int) -> list[PrivateRef]:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return []
    if parts.scheme.lower() == "file":
        return [PrivateRef(number, PATH, url[:80], "a file:// URL to a local file")]
    if not host or parts.scheme.lower() not in ("http", "https", "ftp", "ftps", "sftp", "ssh", "git", "s3", "gs",
                                                 "ws", "wss", "git+https", "git+ssh", "git+http", "hdfs", "smb"):
        return []
    what = host_privacy(host, single_label=parts.scheme.lower() not in ("s3", "gs"))
    return [PrivateRef(number, HOST, host, what)] if what is not None else []


def host_privacy(host: str, single_label: bool = True) -> str | None:
    """Why `host` is not reachable by the public, or None when it may be (s3://bucket is a bucket)."""
    name = host.strip("[]").rstrip(".").lower()
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
    if address is not None:
        if address.is_loopback:
            return "a loopback address"
        if address.is_link_local:
            return "a link-local address"
        if address.is_private and not (address.is_unspecified or address.is_reserved):
            return "a private network address"
        return None
    if name == "localhost":
        return "the local machine"
    if name.endswith(PRIVATE_SUFFIXES):
        return "a private DNS name"
    if single_label and "." not in name and re.fullmatch(r"[a-z0-9-]+", name) and not name.isdigit():
        return "a single-label (intranet) host name"
    return None


# -- notebooks -------------------------------------------------------------------------------------
class _NotANotebook(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):  # which one would a reader take? Read the file whole instead
        raise _NotANotebook("duplicate key")
    return dict(pairs)


def scan_notebook(text: str) -> NotebookRefs | None:
    """A notebook read by its structure (the JSON Jupyter loads): references in cell sources, with the
    comments of code cells left out, and apart from them those in cell outputs; metadata (the
    notebook's and each cell's: kernel paths, Colab's `base_uri`) and attachments are not read.
    None when the text is not a well-formed notebook: then the caller reads it whole, as text."""
    try:
        notebook = json.loads(text, object_pairs_hook=_no_duplicate_keys)
        cells = _cells(notebook)
    except (ValueError, RecursionError):
        return None
    lines = text.splitlines()
    labels = NotebookLines(text)
    stretches: dict[str, list[int]] = {}
    for number in range(1, len(lines) + 1):
        stretches.setdefault(labels.label(number), []).append(number)
    sources: list[PrivateRef] = []
    outputs: list[PrivateRef] = []
    output_cells: list[int] = []
    python = _language(notebook) in ("", "python")  # comments are read as Python's: other kernels' are not left out
    for number, (cell_type, source, cell_outputs) in enumerate(cells, start=1):
        code = without_comments(source, notebook_cell_spans(source)) if cell_type == "code" and python else source
        for ref in find_private_refs(code):
            place = f"cell {number} source"
            sources.append(replace(ref, line=_file_line(lines, stretches.get(place, []), ref), place=place))
        found = [replace(ref, line=None, place=f"cell {number} output")
                 for string in _strings(cell_outputs) for ref in find_private_refs(string)]
        if found:
            outputs += found
            output_cells.append(number)
    return NotebookRefs(sources, outputs, output_cells)


def _language(notebook: dict[str, object]) -> str:
    """The notebook's kernel language (metadata.kernelspec.language, else language_info.name), lower case."""
    metadata = notebook.get("metadata")
    if not isinstance(metadata, dict):
        return ""
    for key, field_name in (("kernelspec", "language"), ("language_info", "name")):
        part = metadata.get(key)
        if isinstance(part, dict) and isinstance(part.get(field_name), str):
            return str(part[field_name]).strip().lower()
    return ""


def _cells(notebook: object) -> list[tuple[str, str, object]]:
    """(cell type, source, outputs) of each cell; raises _NotANotebook on anything Jupyter would not load."""
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise _NotANotebook("no cells")
    cells: list[tuple[str, str, object]] = []
    for cell in notebook["cells"]:
        if not isinstance(cell, dict):
            raise _NotANotebook("a cell is not an object")
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(part, str) for part in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise _NotANotebook("a cell's source is not text")
        cell_type = cell.get("cell_type")
        cells.append((cell_type if isinstance(cell_type, str) else "", source, cell.get("outputs", [])))
    return cells


def _strings(value: object, depth: int = 0) -> Iterator[str]:
    """Every string in an output (stream text, tracebacks, display data), lists of lines joined."""
    if depth > 50:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        if all(isinstance(item, str) for item in value):
            yield "".join(value)
        else:
            for item in value:
                yield from _strings(item, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key != "metadata":
                yield from _strings(item, depth + 1)


def _file_line(lines: list[str], stretch: list[int], ref: PrivateRef) -> int | None:
    """The line of the file that holds `ref` (found on line `ref.line` of the cell's source) within the
    cell's source lines `stretch`: as Jupyter writes notebooks, one JSON string per source line after
    the `"source": [` line. None when the file is laid out otherwise (the cell still names the place)."""
    needles = {ref.text, json.dumps(ref.text, ensure_ascii=False)[1:-1], json.dumps(ref.text)[1:-1]}
    if stretch and ref.line is not None:
        guess = stretch[0] + ref.line
        if guess in stretch and any(needle in lines[guess - 1] for needle in needles):
            return guess
    return next((n for n in stretch if any(needle in lines[n - 1] for needle in needles)), None)
