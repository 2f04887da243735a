"""Area safetensors: every *.safetensors file is a valid safetensors file carrying the guideline's metadata.

The format itself is checked by validator.readers.safetensors (header only, never the tensors);
this check turns its problems into findings and then reads the `__metadata__` map.

The recommended metadata has one rule per key (MC410-MC419) rather than one rule for all: the
guideline asks for some keys only "where practical" (training data references), so an author
can switch off exactly the recommendation that does not apply to the model, in model-check.toml.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from validator.checks.base import Skip, StaticCheck
from validator.core.catalogue import Rule, rule
from validator.core.findings import Area, Finding
from validator.core.options import Options
from validator.readers.package import ModelPackage
from validator.readers.safetensors import BUFFER, ENTRY, FRAMING, IO, JSON, METADATA, NOT_SAFETENSORS, OFFSETS, SafetensorsHeader

SAFE_WEIGHTS = "The guideline's 'Publish Safe Weights': model.safetensors is a state dictionary in a non-pickle format"
RECOMMENDED = "The guideline's 'Publish Safe Weights' recommends metadata including"
SPEC = "huggingface/safetensors format"


PROBLEM_RULES: dict[str, Rule] = {
    IO: rule("safetensors-header-length"), FRAMING: rule("safetensors-header-length"), NOT_SAFETENSORS: rule("safetensors-not-safetensors"), JSON: rule("safetensors-header-json"),
    ENTRY: rule("safetensors-tensor-entry"), OFFSETS: rule("safetensors-data-offsets"), BUFFER: rule("safetensors-buffer-not-indexed"), METADATA: rule("safetensors-metadata-type"),
}

LONG_VALUE = 1000  # characters; the guideline's example values are well under 200


@dataclass(frozen=True)
class RecommendedKey:
    """One metadata item of the guideline, and the key spellings that satisfy it."""

    rule_id: str
    slug: str
    label: str
    example: str
    keys: frozenset[str]
    prefixes: tuple[str, ...] = ()


RECOMMENDED_KEYS = (
    RecommendedKey("MC410", "model-id", "model identifier", "model_id='earthcode-goes-cloud-regime-classifier'",
                   frozenset({"model_id", "model_name", "model", "name", "id"})),
    RecommendedKey("MC411", "version", "version", "version='v0.1.0'", frozenset({"version", "model_version"})),
    RecommendedKey("MC412", "architecture", "architecture name", "architecture='timm.resnet50d'",
                   frozenset({"architecture", "arch", "model_architecture", "model_type"})),
    RecommendedKey("MC413", "input-shape", "input shape", "input_shape='N,4,128,128'",
                   frozenset({"input_shape", "input_shapes"})),
    RecommendedKey("MC414", "channel-names", "channel names", "channel_names='BT15_minus_BT14,BT14_minus_BT11,BT14,COD'",
                   frozenset({"channel_names", "channels", "input_channels", "band_names", "bands"})),
    RecommendedKey("MC415", "channel-units", "channel units", "channel_units='K,K,K,1'",
                   frozenset({"channel_units", "units", "band_units", "input_units"})),
    RecommendedKey("MC416", "output-names", "output names or class names", "class_names='Solid stratus,Closed MCC,...'",
                   frozenset({"class_names", "classes", "labels", "output_names", "outputs", "output_variables"})),
    RecommendedKey("MC417", "license", "license", "license='Apache-2.0'",
                   frozenset({"license", "licence", "license_id", "spdx_license"})),
    RecommendedKey("MC418", "source-repository", "source repository", "source_repository='https://github.com/...'",
                   frozenset({"source_repository", "repository", "repository_url", "repo", "source", "source_url",
                              "code_repository", "source_code"})),
    RecommendedKey("MC419", "data-references", "training or validation data references",
                   "training_data='<DOI or EarthCODE Product id>'",
                   frozenset({"datasets", "dataset", "data_references", "training", "validation"}),
                   prefixes=("training_", "train_", "validation_", "val_")),
)

KEY_RULES: dict[str, Rule] = {
    item.slug: rule(item.rule_id)
    for item in RECOMMENDED_KEYS
}


class SafetensorsCheck(StaticCheck):
    name = "safetensors files"
    area = Area.SAFETENSORS

    def run(self, pkg: ModelPackage, options: Options) -> Iterable[Finding] | Skip:
        if not pkg.with_suffix(".safetensors"):
            return Skip("the package has no .safetensors file")
        return self._findings(pkg)

    def _findings(self, pkg: ModelPackage) -> Iterable[Finding]:
        for rel, header in pkg.safetensors.items():
            for problem in header.problems:
                yield PROBLEM_RULES[problem.kind].finding(problem.message, file=rel)
            if not header.parsed:
                continue
            yield rule("safetensors-summary").finding(_summary(header), file=rel)
            if not any(p.kind == METADATA for p in header.problems):
                yield from _metadata_findings(header)


def _summary(header: SafetensorsHeader) -> str:
    dtypes = ", ".join(f"{dtype} x {count:,}" for dtype, count in sorted(header.dtypes.items())) or "none"
    return (f"{header.rel}: {len(header.tensors):,} tensors, {header.total_parameters:,} parameters "
            f"(dtypes: {dtypes}), {header.size:,} bytes")


def _metadata_findings(header: SafetensorsHeader) -> Iterable[Finding]:
    rel, metadata = header.rel, header.metadata
    if metadata is None:
        wanted = ", ".join(item.label for item in RECOMMENDED_KEYS)
        yield rule("safetensors-metadata-missing").finding(f"{rel} has no __metadata__; the guideline recommends: {wanted}", file=rel)
        return
    present = {_normalise(key) for key in metadata}
    for item in RECOMMENDED_KEYS:
        if not any(key in item.keys or key.startswith(item.prefixes) for key in present):
            yield KEY_RULES[item.slug].finding(
                f"{rel}: __metadata__ has no {item.label} (e.g. {item.example})", file=rel)
    for key, value in metadata.items():
        problem = _bloat(value)
        if problem:
            yield rule("safetensors-metadata-bloated").finding(f"{rel}: __metadata__[{key[:80]!r}] {problem}", file=rel)


def _normalise(key: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")


def _bloat(value: str) -> str | None:
    """Why a metadata value is not compact, or None."""
    nested = _nested_json(value)
    if len(value) > LONG_VALUE:
        return f"is {len(value):,} characters long" + (" of nested JSON" if nested else "")
    if nested:
        return f"holds nested JSON ({nested})"
    return None


def _nested_json(value: str) -> str | None:
    text = value.strip()
    if not text.startswith(("{", "[")) or len(text) > 1_000_000:
        return None
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if isinstance(parsed, dict):
        return "a JSON object"
    if isinstance(parsed, list) and any(isinstance(item, (dict, list)) for item in parsed):
        return "a JSON list of lists or objects"
    return None  # a flat list of scalars is compact enough
