"""Area publishing: STAC / OSC records shipped in a package (an Item or Collection describing the
model) agree with the MLM extension and with the package itself.

A record is any *.json with "stac_version", or a "Feature"/"Collection" with assets. Each finding
points at the record and the line of the offending key. The shapes of the mistakes come from the
GOES cloud-regime classifier published in the Open Science Catalog (see EARTHCODE.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from validator.checks.base import Skip, StaticCheck
from validator.core.catalogue import Rule, rule
from validator.core.findings import Area, Finding
from validator.core.options import Options
from validator.readers import stac_assets as kinds
from validator.readers.declared import LICENSE, MODEL_ID, NAME, VERSION, DeclaredFacts
from validator.readers.license import parse_spdx, same_license
from validator.readers.package import ModelPackage
from validator.readers.stac_records import URL_NAME, Record
from validator.readers.stac_schemas import load_schemas

PUBLISH = ("The guideline: publish the packaged model as an EarthCODE Product that points to the model artefacts, "
           "model card, version, license, and validation evidence.")

MAX_SCHEMA_FINDINGS = 10
# Field prefixes (and unprefixed fields) -> the extension that defines them, with a current schema URL.
EXTENSIONS = {
    "mlm": kinds.MLM_SCHEMA, "osc": kinds.OSC_SCHEMA, "file": "https://stac-extensions.github.io/file/v2.1.0/schema.json",
    "classification": "https://stac-extensions.github.io/classification/v1.1.0/schema.json",
    "processing": "https://stac-extensions.github.io/processing/v1.1.0/schema.json",
    "raster": "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "eo": "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "sci": "https://stac-extensions.github.io/scientific/v1.0.0/schema.json",
    "themes": kinds.THEMES_SCHEMA, "version": "https://stac-extensions.github.io/version/v1.2.0/schema.json",
}
_UNPREFIXED = {"themes": "themes", "version": "version"}  # top-level (or item properties) fields of an extension
_TITLE_FORMATS = {"safetensors": re.compile(r"safe\s*tensors", re.IGNORECASE), "onnx": re.compile(r"\bonnx\b", re.IGNORECASE),
                  "torch": re.compile(r"\b(pytorch|torchscript|\.pth?)\b", re.IGNORECASE)}
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class PublishingCheck(StaticCheck):
    name = "catalog records"
    area = Area.PUBLISHING

    def run(self, pkg: ModelPackage, options: Options) -> Iterable[Finding] | Skip:
        found = pkg.stac_records
        if not found.records and not found.unreadable:
            return Skip("no STAC or OSC record in the package (a JSON file with stac_version, or a Feature/Collection with assets)")
        return self._findings(pkg, options)

    def _findings(self, pkg: ModelPackage, options: Options) -> Iterable[Finding]:
        found = pkg.stac_records
        for unreadable in found.unreadable:
            yield rule("record-unreadable").finding(f"{unreadable.problem}: fix the JSON of this STAC record", file=unreadable.rel,
                                            line=unreadable.line)
        facts = pkg.declared
        package_license = self._package_license(pkg, facts)
        schemas = load_schemas(Path(options.schema_dir) if options.schema_dir else None)
        for record in found.records:
            yield from _RecordLint(record, pkg, facts, package_license).findings()
            errors, _ = schemas.validate_declared(record.data)
            for error in errors[:MAX_SCHEMA_FINDINGS]:
                yield rule("record-schema-invalid").finding(
                    f"{error.where}: {error.message} (schema {error.schema})", file=record.rel, line=record.line(*error.path))

    @staticmethod
    def _package_license(pkg: ModelPackage, facts: DeclaredFacts) -> tuple[str, str] | None:
        """(SPDX expression, where it is stated) of the package."""
        agreed = pkg.license.agreed
        for fact in facts.of(LICENSE):
            parsed = parse_spdx(str(fact.value))
            if parsed.spdx:
                return agreed or parsed.spdx, fact.where
        return (agreed, "the package") if agreed else None


class _RecordLint:
    def __init__(self, record: Record, pkg: ModelPackage, facts: DeclaredFacts, package_license: tuple[str, str] | None) -> None:
        self.record = record
        self.pkg = pkg
        self.facts = facts
        self.package_license = package_license
        self.by_name: dict[str, list[str]] = {}
        for rel in pkg.files:
            self.by_name.setdefault(PurePosixPath(rel).name, []).append(rel)
        self.manifest = {a.path: a for a in pkg.manifest}

    def findings(self) -> Iterator[Finding]:
        yield from self._mlm_declared()
        yield from self._undeclared()
        for key, asset in self.record.assets.items():
            yield from self._asset(key, asset)
        yield from self._duplicates()
        yield from self._title()
        yield from self._identity()

    def _finding(self, rule: Rule, message: str, *path: str | int) -> Finding:
        return rule.finding(message, file=self.record.rel, line=self.record.line(*path))

    # -- extensions --------------------------------------------------------------------------
    def _model_files(self) -> list[str]:
        return sorted({kinds.href_name(a["href"]) for a in self.record.assets.values()
                       if isinstance(a.get("href"), str) and kinds.model_family(a["href"]) is not None})

    def _mlm_declared(self) -> Iterator[Finding]:
        files = self._model_files()
        if not files or self.record.declares("mlm"):
            return
        declared = self.record.data.get("stac_extensions")
        state = "is empty" if declared == [] else "does not declare the MLM extension"
        yield self._finding(rule("record-mlm-missing"), (
            f"stac_extensions {state} although the assets carry model files ({', '.join(files)}): declare "
            f"{kinds.MLM_SCHEMA} and describe the model with mlm:name, mlm:architecture, mlm:tasks, mlm:input and "
            f"mlm:output (`model-check publish` writes such an item)"), "stac_extensions")

    def _undeclared(self) -> Iterator[Finding]:
        for extension, path in _extension_fields(self.record).items():
            if not self.record.declares(extension):
                shown = "/" + "/".join(str(p) for p in path)
                yield self._finding(rule("record-extension-undeclared"), (
                    f"{shown} is a field of the {URL_NAME.get(extension, extension)} extension, which stac_extensions "
                    f"does not declare: add {EXTENSIONS[extension]}"), *path)

    # -- assets ------------------------------------------------------------------------------
    def _asset(self, key: str, asset: dict[str, Any]) -> Iterator[Finding]:
        href = asset.get("href")
        if not isinstance(href, str):
            return
        name = kinds.href_name(href)
        family = kinds.model_family(href)
        roles = [r for r in asset.get("roles", []) if isinstance(r, str)] if isinstance(asset.get("roles"), list) else []
        if family is not None:
            yield from self._model_asset(key, asset, name, family, roles)
        rel = self._package_file(href, name)
        if rel is None:
            if PurePosixPath(name).suffix and not name.lower().endswith((".html", ".htm")) and name != kinds.REPORT_NAME:
                yield self._finding(rule("record-asset-unknown"), (
                    f"asset {key!r} points at {name}, but the package has no file of that name: point it at a file "
                    f"of this package, or add the file"), "assets", key, "href")
            return
        yield from self._file_fields(key, asset, rel)

    def _model_asset(self, key: str, asset: dict[str, Any], name: str, family: str, roles: list[str]) -> Iterator[Finding]:
        expected = _expected_kind(family)
        if "mlm:model" not in roles:
            wanted = list(expected.roles) if expected else ["mlm:model"]
            ad_hoc = [r for r in roles if not r.startswith("mlm:") and r not in ("data", "metadata", "model", "weights")]
            why = f" ({', '.join(map(repr, ad_hoc))} is defined by no STAC extension)" if ad_hoc else ""
            yield self._finding(rule("record-model-role"), (
                f"asset {key!r} ({name}) has roles {json.dumps(roles)}{why}: give it the roles {json.dumps(wanted)}"
                + (f" and \"mlm:artifact_type\": {expected.artifact_type!r}" if expected and expected.artifact_type else "")),
                "assets", key, "roles" if "roles" in asset else "href")
        else:
            artifact = asset.get("mlm:artifact_type")
            suggestion = kinds.ARTIFACT_EXAMPLES.get(family)
            if not isinstance(artifact, str) or not artifact:
                yield self._finding(rule("record-artifact-type"), (
                    f"asset {key!r} ({name}) has the role mlm:model but no mlm:artifact_type"
                    + (f": add \"mlm:artifact_type\": {suggestion!r}" if suggestion else ": name how the file is loaded")),
                    "assets", key, "roles")
            elif suggestion and not _artifact_fits(family, artifact):
                yield self._finding(rule("record-artifact-type"), (
                    f"asset {key!r} ({name}) has mlm:artifact_type {artifact!r}, which does not load a {family} file: "
                    f"use {suggestion!r}"), "assets", key, "mlm:artifact_type")
        media = asset.get("type")
        main = media.split(";", 1)[0].strip().lower() if isinstance(media, str) else ""
        vague = not isinstance(media, str) or media.strip().lower() == "application/octet-stream" or main.startswith(("text/", "image/"))
        if vague:
            better = expected.media_type if expected else "application/octet-stream; framework=<framework>"
            shown = f"type {media!r}" if isinstance(media, str) else "no type"
            yield self._finding(rule("record-model-media-type"), (
                f"asset {key!r} ({name}) has {shown}, which does not tell its format: use {better!r} (MLM, Model "
                f"Artifact Media-Type)"), "assets", key, "type" if "type" in asset else "href")

    def _file_fields(self, key: str, asset: dict[str, Any], rel: str) -> Iterator[Finding]:
        artefact = self.manifest.get(rel)
        if artefact is None:
            return
        size = asset.get("file:size")
        if isinstance(size, int) and not isinstance(size, bool) and size != artefact.bytes:
            yield self._finding(rule("record-file-mismatch"), (
                f"asset {key!r}: file:size {size:,} differs from {rel} ({artefact.bytes:,} bytes): the record describes "
                f"another file; regenerate it from the package"), "assets", key, "file:size")
        checksum = asset.get("file:checksum")
        if not isinstance(checksum, str):
            return
        value = checksum.strip().lower()
        if value.startswith("1220") and len(value) == 68:
            if value[4:] != artefact.sha256:
                yield self._finding(rule("record-file-mismatch"), (
                    f"asset {key!r}: file:checksum differs from the sha256 of {rel}: write 1220{artefact.sha256}"),
                    "assets", key, "file:checksum")
        elif _HEX64.match(value):
            state = "matches" if value == artefact.sha256 else "differs from"
            yield self._finding(rule("record-file-mismatch"), (
                f"asset {key!r}: file:checksum is a bare hex digest ({state} the sha256 of {rel}); the file extension "
                f"wants a multihash: write 1220{artefact.sha256}"), "assets", key, "file:checksum")

    def _package_file(self, href: str, name: str) -> str | None:
        candidates = self.by_name.get(name, [])
        path = href.split("#", 1)[0].split("?", 1)[0]
        exact = [rel for rel in candidates if path == rel or path.endswith("/" + rel)]
        if len(exact) == 1:
            return exact[0]
        return candidates[0] if len(candidates) == 1 else None

    def _duplicates(self) -> Iterator[Finding]:
        by_href: dict[str, list[str]] = {}
        for key, asset in self.record.assets.items():
            if isinstance(asset.get("href"), str):
                by_href.setdefault(asset["href"].strip(), []).append(key)
        for href, keys in by_href.items():
            if len(keys) > 1:
                quoted = " and ".join(repr(k) for k in keys)
                yield self._finding(rule("record-duplicate-asset"), (
                    f"assets {quoted} point at the same file {kinds.href_name(href)}: keep one asset per file and give it "
                    f"every role it has"), "assets", keys[1])

    # -- title, id, license, version ---------------------------------------------------------
    def _title(self) -> Iterator[Finding]:
        carried = {kinds.model_family(a["href"]) for a in self.record.assets.values() if isinstance(a.get("href"), str)}
        carried.discard(None)
        places = [(("title",), self.record.data.get("title")), (("properties", "title"), self.record.properties.get("title"))]
        for path, title in places:
            if not isinstance(title, str):
                continue
            named = {family for family, rx in _TITLE_FORMATS.items() if rx.search(title)}
            others = sorted(f for f in carried - named if f)
            if named and others:
                card_name = self.facts.first(NAME)
                hint = f", e.g. {card_name!r} (the card's model name)" if card_name else ""
                yield self._finding(rule("record-title-format"), (
                    f"the title {title!r} names the {'/'.join(sorted(named))} artefact, but the record also carries "
                    f"{', '.join(others)} files: title the model, not one of its files{hint}"), *path)

    def _identity(self) -> Iterator[Finding]:
        fields, base = self.record.fields, self.record.field_path
        model_id = self.facts.of(MODEL_ID)
        record_id = self.record.data.get("id")
        if self.record.is_item and model_id and isinstance(record_id, str):
            wanted = str(model_id[0].value)
            if record_id != wanted and not re.match(re.escape(wanted) + r"[-_.]v?\d", record_id):
                yield self._finding(rule("record-id-mismatch"), (
                    f"item id {record_id!r} differs from the model_id {wanted!r} of {model_id[0].where}: use the model id "
                    f"so that catalog and package name the same model"), "id")
        license_ = fields.get("license")
        if isinstance(license_, str) and self.package_license is not None:
            spdx, where = self.package_license
            if not same_license(license_, spdx):
                yield self._finding(rule("record-license-mismatch"), (
                    f"the record says license {license_!r}, the package {spdx!r} ({where}): publish one license"), *base, "license")
        version = fields.get("version")
        declared = self.facts.of(VERSION)
        if isinstance(version, str) and declared:
            wanted = str(declared[0].value)
            if version.strip().lower().lstrip("v") != wanted.strip().lower().lstrip("v"):
                yield self._finding(rule("record-version-mismatch"), (
                    f"the record says version {version!r}, the package {wanted!r} ({declared[0].where}): write {wanted!r}"),
                    *base, "version")


def _extension_fields(record: Record) -> dict[str, tuple[str | int, ...]]:
    """The first path of a field of each extension used in the record. Values of mlm: fields are
    MLM's own (e.g. classification:classes inside mlm:output) and are not searched."""
    found: dict[str, tuple[str | int, ...]] = {}
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), record.data)]
    while stack:  # depth first, in document order
        path, value = stack.pop()
        children: list[tuple[tuple[str | int, ...], Any]] = []
        if isinstance(value, dict):
            for key, child in value.items():
                prefix = key.split(":", 1)[0] if ":" in key else None
                if prefix in EXTENSIONS and prefix not in found:
                    found[prefix] = path + (key,)
                unprefixed = _UNPREFIXED.get(key) if path == record.field_path else None
                if unprefixed and unprefixed not in found:
                    found[unprefixed] = path + (key,)
                if prefix != "mlm":
                    children.append((path + (key,), child))
        elif isinstance(value, list):
            children = [(path + (i,), child) for i, child in enumerate(value)]
        stack.extend(reversed(children))
    return found


def _expected_kind(family: str) -> kinds.AssetKind | None:
    return {"safetensors": kinds.SAFETENSORS, "onnx": kinds.ONNX}.get(family)


def _artifact_fits(family: str, artifact: str) -> bool:
    text = artifact.lower()
    if family == "safetensors":
        return text.startswith("safetensors.")
    if family == "onnx":
        return "onnx" in text
    if family == "torch":
        return text.startswith("torch.")
    return True
