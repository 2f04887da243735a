"""Offline JSON Schema validation of STAC records against a folder of extension schemas.

The folder holds files named `<extension>-v<version>.schema.json` (the bundled copies live in
validator/schemas/stac/). Each is registered in a `referencing` registry under its own `$id` and
under the stac-extensions URL its file name spells: the processing v1.1.0 file says `$id` v1.0.0
while MLM v1.5.2 refers to it as v1.1.0, so both names must resolve. Nothing is fetched.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # jsonschema and referencing are imported where records are validated (CLI start-up: issue 16)
    from jsonschema.exceptions import ValidationError
    from referencing import Registry, Resource

STAC_EXTENSIONS = "https://stac-extensions.github.io"
_FILE_NAME = re.compile(r"^(?P<name>[a-z0-9-]+)-v(?P<version>\d+\.\d+\.\d+)\.schema\.json$")
MAX_ERRORS = 20  # per record and schema: the first ones say what to fix


def extension_url(name: str, version: str) -> str:
    return f"{STAC_EXTENSIONS}/{name}/v{version}/schema.json"


def bundled_dir() -> Path:
    return Path(str(resources.files("validator").joinpath("schemas/stac")))


@dataclass(frozen=True)
class SchemaError:
    schema: str  # the extension URL
    path: tuple[str | int, ...]  # where in the record
    message: str

    @property
    def where(self) -> str:
        return "/" + "/".join(str(p) for p in self.path)


@dataclass
class SchemaSet:
    """The schemas of one folder: URL -> contents, and a registry resolving references between them."""

    directory: Path
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    registry: Registry = field(default_factory=lambda: _empty_registry())
    problems: list[str] = field(default_factory=list)  # files that could not be used

    def has(self, url: str) -> bool:
        return url in self.schemas

    def validate(self, record: Any, url: str) -> list[SchemaError]:
        import jsonschema
        from jsonschema.exceptions import best_match

        schema = self.schemas[url]
        validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        validator = validator_class(schema, registry=self.registry)
        errors: list[SchemaError] = []
        for error in validator.iter_errors(record):
            leaf = best_match([error]) or error
            errors.append(SchemaError(url, tuple(leaf.absolute_path), _message(leaf)))
            if len(errors) >= MAX_ERRORS:
                break
        return errors

    def validate_definition(self, value: Any, url: str, name: str, at: tuple[str | int, ...] = ()) -> list[SchemaError]:
        """`value` checked against the definition `name` of the schema `url` ($defs or definitions; none: no
        errors); the errors' paths start with `at`, where the value sits in its record."""
        schema = self.schemas[url]
        section = next((key for key in ("$defs", "definitions") if name in (schema.get(key) or {})), None)
        if section is None:
            return []
        import jsonschema
        from jsonschema.exceptions import best_match

        ref = {"$ref": f"{url}#/{section}/{name.replace('~', '~0').replace('/', '~1')}"}
        validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        validator = validator_class(ref, registry=self.registry)
        errors: list[SchemaError] = []
        for error in validator.iter_errors(value):
            leaf = best_match([error]) or error
            errors.append(SchemaError(url, at + tuple(leaf.absolute_path), _message(leaf)))
            if len(errors) >= MAX_ERRORS:
                break
        return errors

    def validate_declared(self, record: Any) -> tuple[list[SchemaError], list[str]]:
        """Validate against every declared extension found here; also return the declared URLs not found."""
        declared = record.get("stac_extensions") if isinstance(record, dict) else None
        if not isinstance(declared, list):
            return [], []
        errors: list[SchemaError] = []
        unchecked: list[str] = []
        for url in dict.fromkeys(u for u in declared if isinstance(u, str)):
            if self.has(url):
                errors += self.validate(record, url)
            else:
                unchecked.append(url)
        return errors, unchecked


def _message(error: ValidationError) -> str:
    text = error.message
    shown = repr(error.instance)
    if len(shown) > 60 and text.startswith(shown):  # "{…whole object…} is not valid under …"
        text = "the value" + text[len(shown):]
    return text if len(text) <= 300 else text[:300] + "…"


def load_schemas(directory: Path | None = None) -> SchemaSet:
    """The schemas of `directory` (default: the copies bundled with model-check); never raises."""
    return _load(str((directory or bundled_dir()).resolve()))


def _empty_registry() -> Registry:
    from referencing import Registry

    return Registry()


@lru_cache(maxsize=4)
def _load(directory: str) -> SchemaSet:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    folder = Path(directory)
    found = SchemaSet(folder)
    if not folder.is_dir():
        found.problems.append(f"{folder} is not a folder of schemas")
        return found
    resources_by_url: list[tuple[str, Resource[Any]]] = []
    for path in sorted(folder.glob("*.json")):
        try:
            contents = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            found.problems.append(f"{path.name} cannot be read: {exc}")
            continue
        if not isinstance(contents, dict):
            found.problems.append(f"{path.name} is not a JSON Schema object")
            continue
        resource = Resource.from_contents(contents, default_specification=DRAFT7)
        own_id = contents["$id"].rstrip("#") if isinstance(contents.get("$id"), str) else None
        named = extension_url(m["name"], m["version"]) if (m := _FILE_NAME.match(path.name)) else None
        # The file name says which extension version the file is (the registry resolves both names).
        canonical = named or own_id
        if canonical is None:
            found.problems.append(f"{path.name} has no $id and is not named <extension>-v<version>.schema.json")
            continue
        found.schemas[canonical] = contents
        resources_by_url += [(url, resource) for url in {own_id, named} if url]
    found.registry = Registry().with_resources(resources_by_url)
    return found
