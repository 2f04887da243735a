"""CITATION.cff, read once (ModelPackage.citation): safe YAML with the line of every node.

The text is read with ModelPackage's size cap. Plain scalars that YAML 1.1 would turn into dates stay
text (the CFF schema wants strings) as `DateText`, which also keeps the date YAML would give.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from validator.readers.locate import PathPart, line_starting, yaml_line

if TYPE_CHECKING:
    from validator.readers.package import ModelPackage


class DateText(str):
    """A plain scalar YAML 1.1 reads as a timestamp, kept as written; `stamp` is that timestamp (None when invalid)."""

    stamp: dt.date | None

    def __new__(cls, text: str, stamp: dt.date | None) -> DateText:
        made = super().__new__(cls, text)
        made.stamp = stamp
        return made


@dataclass(frozen=True)
class Citation:
    """CITATION.cff as read: its data and YAML nodes, or why it cannot be read."""

    rel: str
    text: str | None
    data: Any  # the YAML document, untrusted; a mapping unless `problem` says otherwise
    node: yaml.Node | None
    problem: str | None = None  # why it cannot be read, or is no mapping
    problem_line: int | None = None

    @property
    def fields(self) -> dict[str, Any]:
        """The top-level keys; empty when the file is not a readable mapping."""
        return self.data if isinstance(self.data, dict) else {}

    def line_of(self, path: Sequence[PathPart]) -> int | None:
        """The line of the node at `path` (of its nearest existing parent)."""
        return yaml_line(self.node, path)

    def key_line(self, key: str) -> int | None:
        """The first line starting with `key:` (a top-level key, written plainly)."""
        return line_starting(self.text, f"{key}:") if self.text is not None else None

    def scalar(self, key: str) -> str | None:
        """A top-level string or number as text; None for anything else, dates included."""
        value = self.fields.get(key)
        if isinstance(value, (bool, DateText)) or not isinstance(value, (str, int, float)):
            return None
        return str(value)

    @property
    def date_released(self) -> dt.date | None:
        """`date-released` as a date: a YAML date, or text in ISO format."""
        value = self.fields.get("date-released")
        if isinstance(value, DateText):
            return value.stamp
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                return None
        return value if isinstance(value, dt.date) else None


class _CffLoader(yaml.SafeLoader):
    """Safe YAML whose timestamps stay text (DateText)."""


def _date_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> DateText:
    text = loader.construct_scalar(node)  # a ConstructorError (YAMLError) for `!!timestamp [list]`
    try:
        stamp = loader.construct_yaml_timestamp(node)
    except ValueError:  # "2024-02-30": a date-like text that is no date
        stamp = None
    return DateText(text, stamp)


_CffLoader.add_constructor("tag:yaml.org,2002:timestamp", _date_text)


def read_citation(pkg: ModelPackage, rel: str) -> Citation:
    """Parse `rel`; never raises: what is wrong is `problem` (and `problem_line`)."""
    read = pkg.read_text(rel)
    if read.text is None:
        return Citation(rel, None, None, None, read.problem)
    text = read.text
    loader = _CffLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return Citation(rel, text, None, None, f"is not valid YAML: {getattr(exc, 'problem', None) or exc}",
                        mark.line + 1 if mark is not None else None)
    except ValueError as exc:  # a scalar its YAML type cannot hold, such as the integer 0b_
        return Citation(rel, text, None, None, f"is not valid YAML: {exc}")
    except RecursionError:
        return Citation(rel, text, None, None, "is nested too deeply to read")
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        return Citation(rel, text, data, node, "is not a YAML mapping of CFF keys", 1)
    return Citation(rel, text, data, node)
