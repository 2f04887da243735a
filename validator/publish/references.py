"""The Open Science Catalog entries a model card names: EarthCODE Products, Experiments and Workflows
(`Related EarthCODE Products: <id> (<title>)`, a catalog URL …), and the products its training data
statement names. Only ids and URLs the card writes are taken; prose without one names nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from validator.publish.provenance import Source
from validator.readers.markdown import ParsedMarkdown, plain

Kind = Literal["products", "experiments", "workflows"]
FILE_OF: dict[Kind, str] = {"products": "collection.json", "experiments": "record.json", "workflows": "record.json"}
TITLE_PREFIX: dict[Kind, str] = {"products": "Product", "experiments": "Experiment", "workflows": "Workflow"}

_ID = r"[a-z0-9][a-z0-9._-]{1,99}"
# A catalog URL: the browser (opensciencedata.esa.int/products/<id>/…) or the metadata repository's file.
_URL = re.compile(rf"https?://\S+?/(?P<kind>products|experiments|workflows)/(?P<id>{_ID})(?=[/\s).,;]|$)\S*", re.IGNORECASE)
_NAMED_FIELD = re.compile(r"earthcode\s+(?P<kind>products?|experiments?|workflows?)\b", re.IGNORECASE)
_TRAINING_FIELD = re.compile(r"^(training (data|dataset|data sources|set)|trained on|train data|input products?)$", re.IGNORECASE)
# `goes-tiles (GOES ABI tiles)`, with or without backticks, one per comma/semicolon-separated part.
_ENTRY = re.compile(rf"^`?(?P<id>{_ID})`?(?:\s*\((?P<title>[^()]{{1,200}})\))?\s*(?::.*)?$")
# In a training data statement an id counts only when the card says it is an EarthCODE product.
_TRAINING_ID = re.compile(rf"EarthCODE products?:?\s+`?(?P<id>{_ID})`?(?:\s*\((?P<title>[^()]{{1,200}})\))?", re.IGNORECASE)
_NONE = re.compile(r"^(none|n/?a|-|—|not applicable|no)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Reference:
    kind: Kind
    id: str
    title: str | None
    source: Source

    @property
    def href(self) -> str:
        """The entry's file, relative to another entry's folder of the catalog."""
        return f"../../{self.kind}/{self.id}/{FILE_OF[self.kind]}"

    @property
    def link_title(self) -> str | None:
        return f"{TITLE_PREFIX[self.kind]}: {self.title}" if self.title else None


@dataclass(frozen=True)
class Named:
    related: list[Reference]  # Related EarthCODE Products / Experiments / Workflows
    inputs: list[Reference]  # EarthCODE products the training data statement names
    training: tuple[str, int] | None  # the training data statement and its line


def named(card: ParsedMarkdown | None, readme: str | None) -> Named:
    if card is None:
        return Named([], [], None)
    related: list[Reference] = []
    inputs: list[Reference] = []
    training = None
    for entry in card.fields:
        key = plain(entry.key).strip(" `*:")
        value = plain(entry.value).strip()
        if _TRAINING_FIELD.match(key):
            training = training or (value, entry.line)
            if not _NONE.match(value):
                inputs += _in_training(value, Source("model card", readme, entry.line))
        elif (m := _NAMED_FIELD.search(key)) and not _NONE.match(value):
            kind = _kind(m["kind"])
            related += _listed(value, kind, Source("model card", readme, entry.line))
    return Named(_unique(related), _unique(inputs), training)


def _kind(word: str) -> Kind:
    return "products" if word.lower().startswith("product") else "experiments" if word.lower().startswith("exp") else "workflows"


def _listed(value: str, kind: Kind, source: Source) -> list[Reference]:
    found = [Reference(_kind(m["kind"]), m["id"].lower(), None, source) for m in _URL.finditer(value)]
    if found:
        return found
    refs = []
    for part in re.split(r"[;,](?![^()]*\))", value):
        if m := _ENTRY.match(part.strip()):
            refs.append(Reference(kind, m["id"], (m["title"] or "").strip() or None, source))
    return refs


def _in_training(value: str, source: Source) -> list[Reference]:
    refs = [Reference("products", m["id"].lower(), None, source) for m in _URL.finditer(value) if _kind(m["kind"]) == "products"]
    refs += [Reference("products", m["id"], (m["title"] or "").strip() or None, source) for m in _TRAINING_ID.finditer(value)]
    return refs


def _unique(refs: list[Reference]) -> list[Reference]:
    seen: dict[tuple[str, str], Reference] = {}
    for ref in refs:
        key = (ref.kind, ref.id)
        if key not in seen or (seen[key].title is None and ref.title):
            seen[key] = ref
    return list(seen.values())
