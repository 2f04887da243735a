"""Card items the card does not state in words but the package shows elsewhere: the implicit outcome.

Three outcomes per card item: stated (validator.readers.card), implicit (here), missing. Implicit means
the guideline's intent is met by a structured file of the package or by the card's own code: the name in
pyproject.toml / setup.cfg / setup.py, the authors in CITATION.cff, the license in LICENSE or CITATION.cff,
the classes in labels.json / config.json, the channel order in config.json, normalisation statistics in a
JSON sidecar (`{"mean": …, "std": …}`), the input shape or band indices
only inside the card's code. The model-card check reports these at a lower severity than a missing item,
saying where the fact was found and to state it in the card too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from validator.readers.declared import class_names_from_json
from validator.readers.dist_metadata import read_dist_metadata
from validator.readers.locate import line_containing

if TYPE_CHECKING:
    from validator.readers.card import CardFacts
    from validator.readers.package import ModelPackage

MAX_SHOWN = 8  # names quoted in a message


@dataclass(frozen=True)
class Implicit:
    """Where an item the card does not state was found, and what it says there."""

    file: str
    line: int | None
    value: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


def implicit_items(pkg: ModelPackage, facts: CardFacts, readme: str) -> dict[str, Implicit]:
    """For each card item key the card does not state: where the package states it, if anywhere."""
    found: dict[str, Implicit] = {key: Implicit(readme, e.line, e.value) for key, e in facts.implicit.items()}
    metadata = read_dist_metadata(pkg)
    if metadata.name is not None:
        found["name"] = Implicit(metadata.name.file, metadata.name.line, metadata.name.value)
    if (authors := _citation_authors(pkg)) is not None:
        found["authors"] = authors
    if (license_found := _license(pkg)) is not None:
        found["license"] = license_found
    if (classes := _classes(pkg)) is not None:
        found.setdefault("classes", classes)
    if (channels := _config_list(pkg, ("channel_names", "band_names", "bands", "channels"))) is not None:
        found["channels"] = channels
    if (statistics := _statistics(pkg)) is not None:
        found["normalization"] = statistics
    return {key: value for key, value in found.items() if key not in facts.found}


def _citation_authors(pkg: ModelPackage) -> Implicit | None:
    cff = pkg.citation
    if cff is None or cff.problem is not None or not isinstance(cff.data, dict):
        return None
    authors = cff.data.get("authors")
    if not isinstance(authors, list):
        return None
    names = [name for name in (_person(a) for a in authors) if name]
    return Implicit(cff.rel, cff.key_line("authors"), _shown(names)) if names else None


def _person(entry: Any) -> str:
    if not isinstance(entry, dict):
        return ""
    if isinstance(entry.get("name"), str):
        return str(entry["name"]).strip()
    parts = [entry.get(k) for k in ("given-names", "family-names")]
    return " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())


def _license(pkg: ModelPackage) -> Implicit | None:
    """The license a LICENSE file holds (by its text), else the one CITATION.cff names."""
    stated = pkg.license
    for text in stated.texts:
        if text.guess is not None:
            return Implicit(text.file, None, text.guess.name)
    for statement in stated.declared:
        if statement.source == "CITATION.cff" and statement.spdx:
            return Implicit(statement.file, statement.line, statement.spdx)
    return None


def _classes(pkg: ModelPackage) -> Implicit | None:
    for rel in ("labels.json", "config.json"):
        if rel not in pkg.files:
            continue
        value, problem = pkg.read_json(rel)
        names = class_names_from_json(value) if problem is None else None
        if names:
            text = pkg.read_text(rel).text or ""
            return Implicit(rel, line_containing(text, f'"{names[0]}"'), _shown(names))
    return None


def _config_list(pkg: ModelPackage, keys: tuple[str, ...]) -> Implicit | None:
    if "config.json" not in pkg.files:
        return None
    value, problem = pkg.read_json("config.json")
    if problem is not None or not isinstance(value, dict):
        return None
    for key in keys:
        names = value.get(key)
        if isinstance(names, list) and names and all(isinstance(v, str) for v in names):
            text = pkg.read_text("config.json").text or ""
            return Implicit("config.json", line_containing(text, f'"{key}"'), _shown(names))
    return None


def _statistics(pkg: ModelPackage) -> Implicit | None:
    """Normalisation statistics in a JSON sidecar at the package root (`{"mean": [...], "std": [...]}`)."""
    for rel in sorted(f for f in pkg.files if "/" not in f and f.lower().endswith(".json")):
        value, problem = pkg.read_json(rel)
        if problem is not None or not isinstance(value, dict):
            continue
        keys = [str(k) for k in value]
        mean = next((k for k in keys if "mean" in k.lower()), None)
        std = next((k for k in keys if "std" in k.lower()), None)
        if mean is not None and std is not None:
            text = pkg.read_text(rel).text or ""
            return Implicit(rel, line_containing(text, f'"{mean}"'), f"{mean} and {std}")
    return None


def _shown(names: list[str]) -> str:
    more = f", … ({len(names)} in all)" if len(names) > MAX_SHOWN else ""
    return ", ".join(names[:MAX_SHOWN]) + more
