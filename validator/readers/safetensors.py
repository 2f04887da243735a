"""Read and validate a safetensors header without touching the tensor data.

The format (huggingface/safetensors): an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON
starting with `{` (space padded), then the data buffer. The JSON maps tensor names to
{"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the buffer) and may hold a
"__metadata__" string-to-string map. `read_header` checks every invariant the reference
implementation checks, plus what Python's json would let through (duplicate keys, NaN), and
reports each violation as a `HeaderProblem`: it never raises and never reads the tensor bytes.
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from validator.readers.file_kinds import HEAD_BYTES, Kind, kind_of
from validator.readers.json_strict import NonStandardConstant, repeated_keys, strict_decoder

MAX_HEADER_LENGTH = 100_000_000  # the reference implementation's limit
USIZE_MAX = 2**64 - 1  # offsets and shapes are u64 in the reference implementation
MAX_PROBLEMS_PER_KIND = 20  # a header of a million broken entries gives a bounded report
METADATA_KEY = "__metadata__"
ENTRY_FIELDS = ("dtype", "shape", "data_offsets")

# Element size in bits of every dtype of the format (safetensors 0.8: F4/F6 pack below a byte).
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8,
    "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32,
    "C64": 64, "F64": 64, "I64": 64, "U64": 64,
}
DTYPE_NAMES = {name: name for name in DTYPE_BITS}  # one shared str per dtype across all entries

# Problem kinds, one family each (the check maps each to a rule).
IO = "io"
NOT_SAFETENSORS = "not-safetensors"
FRAMING = "framing"
JSON = "json"
ENTRY = "entry"
OFFSETS = "offsets"
BUFFER = "buffer"
METADATA = "metadata"
UNPARSED_KINDS = frozenset({IO, NOT_SAFETENSORS, FRAMING, JSON})

Span = tuple[int, int, str]  # begin, end, tensor name


@dataclass(frozen=True, slots=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]
    begin: int  # offsets into the data buffer (after the header)
    end: int

    @property
    def parameters(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class HeaderProblem:
    kind: str  # one of the kinds above
    message: str


@dataclass(frozen=True)
class SafetensorsHeader:
    rel: str
    size: int  # file size in bytes
    header_length: int | None  # N from the first 8 bytes, when there were 8 bytes
    metadata: dict[str, str] | None  # "__metadata__", when present and a string map
    tensors: dict[str, TensorInfo]  # the valid entries
    problems: list[HeaderProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def parsed(self) -> bool:
        """True when the header was read as a JSON object (its entries may still be invalid)."""
        return not any(p.kind in UNPARSED_KINDS for p in self.problems)

    @property
    def total_parameters(self) -> int:
        return sum(t.parameters for t in self.tensors.values())

    @property
    def dtypes(self) -> Counter[str]:
        """How many tensors have each dtype."""
        return Counter(t.dtype for t in self.tensors.values())


class _Problems:
    """Collects problems, keeping at most MAX_PROBLEMS_PER_KIND of each kind plus a count."""

    def __init__(self) -> None:
        self.items: list[HeaderProblem] = []
        self.counts: Counter[str] = Counter()

    def add(self, kind: str, message: str) -> None:
        self.counts[kind] += 1
        if self.counts[kind] <= MAX_PROBLEMS_PER_KIND:
            self.items.append(HeaderProblem(kind, message))

    def finish(self) -> list[HeaderProblem]:
        for kind, count in self.counts.items():
            if count > MAX_PROBLEMS_PER_KIND:
                self.items.append(HeaderProblem(kind, f"… and {count - MAX_PROBLEMS_PER_KIND:,} more problems of this kind"))
        return self.items


def read_header(path: Path, rel: str) -> SafetensorsHeader:
    """Read the length prefix and the header of a safetensors file and validate them."""
    problems = _Problems()
    size, length, metadata = 0, None, None
    tensors: dict[str, TensorInfo] = {}
    try:
        size, length, raw = _read_prefix_and_header(path, rel, problems)
        if raw is not None:
            metadata, tensors = _validate(raw, size, rel, problems)
    except OSError as exc:
        problems.add(IO, f"{rel} cannot be read: {exc.strerror or exc}")
    return SafetensorsHeader(rel, size, length, metadata, tensors, problems.finish())


def _read_prefix_and_header(path: Path, rel: str, problems: _Problems) -> tuple[int, int | None, bytes | None]:
    # O_NONBLOCK: opening a FIFO put in place of the file must not hang; O_NOFOLLOW: no symlinks.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    with open(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            problems.add(IO, f"{rel} is not a regular file")
            return 0, None, None
        size = info.st_size
        prefix = handle.read(8)
        if len(prefix) < 8:
            foreign = _foreign_format(prefix, whole=True)
            if foreign:
                problems.add(NOT_SAFETENSORS, f"{rel} is not a safetensors file: it looks like {foreign}")
            elif size == 0:
                problems.add(FRAMING, f"{rel} is empty: a safetensors file starts with an 8-byte header length")
            else:
                problems.add(FRAMING, f"{rel} is {size} bytes long, shorter than the 8-byte header length "
                                      "every safetensors file starts with")
            return size, None, None
        (length,) = struct.unpack("<Q", prefix)
        framing = _framing_problem(rel, length, size)
        if framing is not None or handle.read(1) != b"{":
            # Not the framing of a safetensors file: say what the file is, when it is something known.
            handle.seek(0)
            head = handle.read(HEAD_BYTES)
            foreign = _foreign_format(head, whole=len(head) >= size)
            if foreign:
                problems.add(NOT_SAFETENSORS, f"{rel} is not a safetensors file: it looks like {foreign}")
                return size, length, None
            if framing is not None:
                problems.add(FRAMING, framing)
                return size, length, None
            # The length fits but no '{' follows: the JSON check tells what the header starts with.
        handle.seek(8)
        return size, length, handle.read(length)


def _framing_problem(rel: str, length: int, size: int) -> str | None:
    if length > MAX_HEADER_LENGTH:
        return (f"{rel} declares a header of {length:,} bytes in its first 8 bytes; "
                f"the format allows at most {MAX_HEADER_LENGTH:,}")
    if 8 + length > size:
        return (f"{rel} declares a header of {length:,} bytes, but the file is only {size:,} bytes: "
                "the header would end past the end of the file")
    return None


def _foreign_format(head: bytes, whole: bool) -> str | None:
    """What the file is instead, by content (validator.readers.file_kinds), for a clearer message."""
    kind = kind_of(head, whole)
    if kind is Kind.ZIP:
        return "a zip archive (torch.save writes its checkpoints as zip archives)"
    if kind is Kind.PICKLE:
        return "a pickle (e.g. a torch.save checkpoint in the legacy format)"
    return f"a {kind.value}" if kind is not None else None


# -- JSON ------------------------------------------------------------------------------------


def _validate(raw: bytes, size: int, rel: str, problems: _Problems) -> tuple[dict[str, str] | None, dict[str, TensorInfo]]:
    data_start = 8 + len(raw)
    text = _decode(raw, rel, problems)
    del raw  # a header can be 100 MB: keep one copy, not two
    header = _parse_json(text, rel, problems) if text is not None else None
    del text
    if header is None:
        return None, {}
    declared = header.pop(METADATA_KEY, None)  # null, like an absent key, is no metadata (as in the reference)
    metadata = _read_metadata(declared, rel, problems) if declared is not None else None
    tensors, other_spans, offsets_readable = _read_entries(header, rel, problems)
    if offsets_readable:
        data_length = _check_offsets(tensors, other_spans, rel, problems)
        if data_length is not None:
            _check_buffer(rel, size, data_start, data_length, problems)
    return metadata, tensors


def _decode(raw: bytes, rel: str, problems: _Problems) -> str | None:
    if raw.startswith(b"\xef\xbb\xbf"):
        problems.add(JSON, f"{rel}: the header starts with a UTF-8 byte-order mark; it must start with '{{'")
        return None
    if not raw.startswith(b"{"):
        shown = raw[:16].decode("utf-8", "backslashreplace")
        problems.add(JSON, f"{rel}: the header must be a JSON object starting with '{{', it starts with {shown!r}")
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.add(JSON, f"{rel}: the header is not valid UTF-8 (byte {exc.start:,} of the header)")
        return None


def _parse_json(text: str, rel: str, problems: _Problems) -> dict[str, Any] | None:
    decoder = strict_decoder(_ObjectBuilder(rel, problems))
    try:
        header, end = decoder.raw_decode(text)
    except NonStandardConstant as exc:
        problems.add(JSON, f"{rel}: the header contains {exc.name}, which is not valid JSON")
        return None
    except json.JSONDecodeError as exc:
        problems.add(JSON, f"{rel}: the header is not valid JSON: {exc.msg} at character {exc.pos:,}")
        return None
    except RecursionError:
        problems.add(JSON, f"{rel}: the header is JSON nested too deeply to read")
        return None
    padding = len(text) - end
    if text.count(" ", end) != padding:
        problems.add(JSON, f"{rel}: the header has other characters than space padding after its JSON object")
    if not isinstance(header, dict):  # a well-formed tensor entry alone: {"dtype":…} as the whole header
        problems.add(JSON, f"{rel}: the header is a single tensor entry, not a map of tensor names to entries")
        return None
    return header


class _ObjectBuilder:
    """object_pairs_hook: flags duplicate keys, and turns well-formed tensor entries into TensorInfo
    at once (a million-entry header then never holds a million dicts). Anything else stays a dict
    and is checked, with the tensor's name in each message, by _read_entry."""

    def __init__(self, rel: str, problems: _Problems) -> None:
        self.rel = rel
        self.problems = problems
        self.shapes: dict[tuple[int, ...], tuple[int, ...]] = {}  # one tuple per distinct shape

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any] | TensorInfo:
        result = dict(pairs)
        if len(result) != len(pairs):
            for key in repeated_keys(pairs):
                self.problems.add(JSON, f"{self.rel}: the header repeats the key {_quote(key)}; "
                                        "readers disagree on which value wins")
        elif len(pairs) == 3:
            info = _well_formed_entry(result, self.shapes)
            if info is not None:
                return info
        return result


def _well_formed_entry(fields: dict[str, Any], shapes: dict[tuple[int, ...], tuple[int, ...]]) -> TensorInfo | None:
    """The entry as TensorInfo if it satisfies every rule of _read_entry, else None (no messages)."""
    dtype, shape, offsets = fields.get("dtype"), fields.get("shape"), fields.get("data_offsets")
    if type(dtype) is not str or dtype not in DTYPE_BITS or type(shape) is not list:
        return None
    if type(offsets) is not list or len(offsets) != 2:
        return None
    begin, end = offsets
    if type(begin) is not int or type(end) is not int or not 0 <= begin <= end <= USIZE_MAX:
        return None
    count = 1
    for dim in shape:
        if type(dim) is not int or dim < 0:
            return None
        count *= dim
        if count > USIZE_MAX:
            return None
    nbits = count * DTYPE_BITS[dtype]
    if nbits > USIZE_MAX or nbits % 8 or end - begin != nbits // 8:
        return None
    dims = tuple(shape)
    return TensorInfo(DTYPE_NAMES[dtype], shapes.setdefault(dims, dims), begin, end)


# -- entries ---------------------------------------------------------------------------------


def _read_metadata(value: Any, rel: str, problems: _Problems) -> dict[str, str] | None:
    if isinstance(value, TensorInfo):
        value = {"dtype": value.dtype, "shape": list(value.shape), "data_offsets": [value.begin, value.end]}
    if not isinstance(value, dict):
        problems.add(METADATA, f"{rel}: {METADATA_KEY} must be a map of strings to strings, it is a {_json_type(value)}")
        return None
    wrong = {k: v for k, v in value.items() if not isinstance(v, str)}
    for key, item in wrong.items():
        problems.add(METADATA, f"{rel}: {METADATA_KEY}[{_quote(key)}] is a {_json_type(item)}; metadata values must be strings")
    return None if wrong else value


def _read_entries(header: dict[str, Any], rel: str,
                  problems: _Problems) -> tuple[dict[str, TensorInfo], list[Span], bool]:
    """The valid tensor entries; the spans of the invalid ones that have readable data_offsets
    (they still occupy the buffer); and whether every entry had readable data_offsets."""
    tensors: dict[str, TensorInfo] = {}
    other_spans: list[Span] = []
    offsets_readable = True
    for name, entry in header.items():
        if isinstance(entry, TensorInfo):  # already validated while parsing
            tensors[name] = entry
            continue
        if not isinstance(entry, dict):
            problems.add(ENTRY, f"{rel}: tensor {_quote(name)} must be an object with dtype, shape and data_offsets, "
                                f"it is a {_json_type(entry)}")
            offsets_readable = False
            continue
        offsets = _read_offsets(name, entry["data_offsets"], rel, problems) if "data_offsets" in entry else None
        info = _read_entry(name, entry, offsets, rel, problems)
        if info is not None:
            tensors[name] = info
        elif offsets is not None:
            other_spans.append((offsets[0], offsets[1], name))
        else:
            offsets_readable = False
    return tensors, other_spans, offsets_readable


def _read_entry(name: str, entry: dict[str, Any], offsets: tuple[int, int] | None, rel: str,
                problems: _Problems) -> TensorInfo | None:
    missing = [f for f in ENTRY_FIELDS if f not in entry]
    unknown = sorted(k for k in entry if k not in ENTRY_FIELDS)
    if missing:
        problems.add(ENTRY, f"{rel}: tensor {_quote(name)} lacks {', '.join(missing)}")
    if unknown:
        problems.add(ENTRY, f"{rel}: tensor {_quote(name)} has unknown fields {', '.join(map(repr, unknown))}")
    dtype, shape = entry.get("dtype"), entry.get("shape")
    bits = DTYPE_BITS.get(dtype) if isinstance(dtype, str) else None
    if "dtype" in entry and bits is None:
        shown = _quote(dtype) if isinstance(dtype, str) else f"a {_json_type(dtype)}"
        problems.add(ENTRY, f"{rel}: tensor {_quote(name)} has dtype {shown}, not one of the format's dtypes "
                            f"({', '.join(DTYPE_BITS)})")
    dims = _read_shape(name, shape, rel, problems) if "shape" in entry else None
    if missing or unknown or not isinstance(dtype, str) or bits is None or dims is None or offsets is None:
        return None
    nbits = _checked_product(dims, bits)
    if nbits is None:
        problems.add(ENTRY, f"{rel}: tensor {_quote(name)}: shape {_shorten(list(dims))} of {dtype} overflows "
                            "a 64-bit byte count")
        return None
    if nbits % 8:
        problems.add(ENTRY, f"{rel}: tensor {_quote(name)}: {nbits // bits:,} elements of {bits}-bit {dtype} "
                            "do not fill whole bytes")
        return None
    begin, end = offsets
    if end - begin != nbits // 8:
        problems.add(ENTRY, f"{rel}: tensor {_quote(name)}: data_offsets [{begin}, {end}] span {end - begin:,} bytes, "
                            f"but shape {_shorten(list(dims))} of {dtype} needs {nbits // 8:,}")
        return None
    return TensorInfo(DTYPE_NAMES[dtype], dims, begin, end)


def _read_shape(name: str, shape: Any, rel: str, problems: _Problems) -> tuple[int, ...] | None:
    if not isinstance(shape, list) or not all(_is_uint(d) for d in shape):
        problems.add(ENTRY, f"{rel}: tensor {_quote(name)}: shape must be a list of non-negative integers, "
                            f"it is {_shorten(shape)}")
        return None
    return tuple(shape)


def _read_offsets(name: str, offsets: Any, rel: str, problems: _Problems) -> tuple[int, int] | None:
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_uint(o) for o in offsets):
        problems.add(OFFSETS, f"{rel}: tensor {_quote(name)}: data_offsets must be [begin, end] with non-negative "
                              f"64-bit integers, it is {_shorten(offsets)}")
        return None
    begin, end = offsets
    if end < begin:
        problems.add(OFFSETS, f"{rel}: tensor {_quote(name)}: data_offsets [{begin}, {end}] end before they begin")
        return None
    return begin, end


def _check_offsets(tensors: dict[str, TensorInfo], other_spans: list[Span], rel: str,
                   problems: _Problems) -> int | None:
    """Sorted by begin, spans must tile the buffer from 0. The buffer length, or None if they do not."""
    if not other_spans:
        length = _tiled_length(tensors.values())
        if length is not None:  # writers list tensors in offset order: the usual, fast case
            return length
    spans = sorted([(info.begin, info.end, name) for name, info in tensors.items()] + other_spans)
    cursor = 0
    tiled = True
    for begin, end, name in spans:
        if begin > cursor:
            problems.add(OFFSETS, f"{rel}: tensor {_quote(name)} begins at byte {begin:,} of the data, leaving "
                                  f"a gap of {begin - cursor:,} bytes that no tensor indexes")
            tiled = False
        elif begin < cursor:
            problems.add(OFFSETS, f"{rel}: tensor {_quote(name)} begins at byte {begin:,} of the data, inside "
                                  f"another tensor that ends at byte {cursor:,}: tensors overlap")
            tiled = False
        cursor = max(cursor, end)
    return cursor if tiled else None


def _tiled_length(infos: Iterable[TensorInfo]) -> int | None:
    """The buffer length if the tensors, in the given order, tile it from 0; else None."""
    cursor = 0
    for info in infos:
        if info.begin != cursor:
            return None
        cursor = info.end
    return cursor


def _check_buffer(rel: str, size: int, data_start: int, data_length: int, problems: _Problems) -> None:
    expected = data_start + data_length
    if expected < size:
        problems.add(BUFFER, f"{rel} has {size - expected:,} bytes after the last tensor that the header does not "
                             "index (a polyglot file can hide another format there)")
    elif expected > size:
        problems.add(BUFFER, f"{rel} is truncated: the header indexes {data_length:,} bytes of tensor data, "
                             f"but only {max(size - data_start, 0):,} follow the header")


# -- helpers ---------------------------------------------------------------------------------


def _is_uint(value: Any) -> bool:
    return type(value) is int and 0 <= value <= USIZE_MAX  # bool is not an int here


def _checked_product(dims: tuple[int, ...], bits: int) -> int | None:
    """Elements x bits, folding left to right like the reference; None once it passes 64 bits."""
    total = 1
    for dim in dims:
        total *= dim
        if total > USIZE_MAX:
            return None
    total *= bits
    return total if total <= USIZE_MAX else None


def _json_type(value: Any) -> str:
    if isinstance(value, TensorInfo):  # an object parsed as a tensor entry
        return "object"
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "list", dict: "object"}.get(
        type(value), type(value).__name__)


def _quote(text: str, limit: int = 80) -> str:
    """A name for a message: quoted, control characters escaped, at most `limit` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _shorten(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=lambda obj: "{…}")
    return text if len(text) <= limit else text[: limit - 1] + "…"
