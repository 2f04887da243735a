"""The provenance chain of a publication: the model product, the workflow that holds the package's
code and the experiment that produced it, built together so that each points at the others, then
checked offline (schemas and links). Paths are those of the Open Science Catalog's tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from validator.publish.chain import Chain, ChainSettings
from validator.publish.experiment import INPUT_NAME, build_experiment
from validator.publish.item import BuiltItem, PublishSettings
from validator.publish.provenance import Provenance
from validator.publish.records import chain_problems, validate_record
from validator.publish.references import Named, named
from validator.publish.vcs import Context, Versioning, versioning
from validator.publish.workflow import build_workflow
from validator.readers.card import CardFacts
from validator.readers.package import ModelPackage

OSC_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")  # also a safe folder name of the catalog tree


@dataclass(frozen=True)
class PackageView:
    """What the chain reads of the package, taken while the package is open."""

    facts: CardFacts | None
    readme: str | None
    files: list[str]
    runtime_files: list[str]
    named: Named
    versioning: Versioning


def view(pkg: ModelPackage, root: Path, context: Context) -> PackageView:
    readme = pkg.find("README.md")
    facts = pkg.card_facts
    return PackageView(facts, readme, [a.path for a in pkg.manifest], list(pkg.runtime_files), named(pkg.card, readme),
                       versioning(root, facts, readme, context))


@dataclass
class ChainRecords:
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # catalog path -> workflow / experiment record
    texts: dict[str, str] = field(default_factory=dict)  # catalog path -> other files (the experiment's input.yaml)
    provenance: dict[str, Any] = field(default_factory=dict)  # "workflow" / "experiment" -> sidecar section
    problems: list[str] = field(default_factory=list)  # schema and link problems: nothing is written when any


def build_chain(package: PackageView, built: BuiltItem, settings: PublishSettings, chain_settings: ChainSettings,
                collection: dict[str, Any], collection_prov: Provenance) -> ChainRecords:
    """Workflow and experiment records; adds the product's links to them to `collection`."""
    product_id = str(collection["id"])
    chain_settings = replace(chain_settings, workflow_id=chain_settings.workflow_id or f"{built.id}-workflow",
                             experiment_id=None if chain_settings.experiment_id is None
                             else chain_settings.experiment_id or f"{built.id}-experiment")
    out = ChainRecords()
    for what, value in (("product", product_id), ("workflow", chain_settings.workflow_id), ("experiment", chain_settings.experiment_id)):
        if value is not None and not OSC_ID.fullmatch(value):
            out.problems.append(f"the {what} id {value!r} is not an OSC id (lower-case letters, digits, '.', '_', '-'): "
                                f"pass --{what}{'-id' if what == 'product' else ''} ID")
    if out.problems:
        return out
    chain = Chain(built, settings, chain_settings, package.versioning, package.named, package.facts, package.readme,
                  package.files, package.runtime_files, product_id)
    chain.link_product(collection, collection_prov)
    if chain_settings.workflow_id is not None:
        record, prov = build_workflow(chain)
        path = chain.record_path("workflows", chain_settings.workflow_id)
        out.records[path] = record
        out.provenance["workflow"] = {"file": path, **prov.to_dict()}
        out.problems += [f"{path} {p}" for p in validate_record(record, "workflow")]
    if chain_settings.experiment_id is not None:
        experiment = build_experiment(chain)
        path = chain.record_path("experiments", chain_settings.experiment_id)
        out.records[path] = experiment.record
        if experiment.input_yaml is not None:
            out.texts[f"experiments/{chain_settings.experiment_id}/{INPUT_NAME}"] = experiment.input_yaml
        out.provenance["experiment"] = {"file": path, **experiment.provenance.to_dict()}
        out.problems += [f"{path} {p}" for p in validate_record(experiment.record, "experiment")]
    out.problems += chain_problems({f"products/{product_id}/collection.json": collection, **out.records})
    return out
