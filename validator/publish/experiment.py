"""The OSC experiment record (experiments/<id>/record.json) and its input parameters file
(experiments/<id>/input.yaml): the run linking the workflow, its configuration, the input products
and the output product, as an OGC API Records feature with `type: experiment`.

Linked as the catalog links its experiments: `osc:workflow` and a `related` link to the workflow,
`child` to the output product (the model package), `input` to the input parameters file and to each
input product the card's training data names, `environment` to each runtime file of the package.
Input products are only those the card names as EarthCODE products; none is ever assumed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from validator.publish.chain import Chain, add_links, link
from validator.publish.provenance import Provenance, Source, pointer
from validator.readers import stac_assets as kinds

INPUT_NAME = "input.yaml"
CONFIG_FILES = ("config.json", "config.yaml", "config.yml")


@dataclass(frozen=True)
class BuiltExperiment:
    record: dict[str, Any]
    provenance: Provenance
    input_yaml: str | None  # the input parameters file, None when the package states none


def build_experiment(chain: Chain) -> BuiltExperiment:
    experiment_id, workflow_id = chain.chain.experiment_id, chain.chain.workflow_id
    if experiment_id is None or workflow_id is None:
        raise ValueError("an experiment needs its workflow (ChainSettings.workflow_id and experiment_id)")
    prov = Provenance()
    description = (f"The run of {chain.workflow_title} that produced the model package {chain.name}"
                   + (f" {chain.version}" if chain.version else "") + ".")
    record = chain.record(
        experiment_id, "experiment", chain.experiment_title, description, prov,
        Source("item", chain.built.file_name, None, "the model name + \" experiment\""),
        Source("item", chain.built.file_name, None, "composed from the workflow title, the model name and version"))
    prov.add(pointer("id"), Source("--experiment") if chain.chain.experiment_id_given
             else Source("item", chain.built.file_name, None, "the item id + \"-experiment\""))
    record["properties"]["osc:workflow"] = workflow_id
    prov.add(pointer("properties", "osc:workflow"), chain.written())
    input_yaml, input_sources = _input_parameters(chain, prov)
    add_links(record, _links(chain, prov, input_yaml is not None), prov)
    for key, source in input_sources.items():
        prov.add(f"{INPUT_NAME}#{pointer(key)}", source)
    return BuiltExperiment(record, prov, input_yaml)


def _links(chain: Chain, prov: Provenance, has_input: bool) -> list[tuple[dict[str, Any], Source]]:
    workflow_id = chain.chain.workflow_id or ""
    links = chain.catalog_links("Experiments")
    links.append((link("related", chain.href("workflows", workflow_id), "application/json", f"Workflow: {chain.workflow_title}"),
                  chain.written()))
    links.append((link("child", chain.href("products", chain.product_id), "application/json", chain.product_title),
                  chain.written()))
    links.append((link("related", chain.item_href, "application/json", f"Model: {chain.name}"),
                  Source("item", chain.built.file_name, None, "the STAC MLM item of the output product")))
    if has_input:
        links.append((link("input", f"./{INPUT_NAME}", "application/yaml", "Input parameters"),
                      Source("model-check publish", INPUT_NAME, None, "the input parameters file written beside the record")))
    else:
        prov.omit(pointer("links", "input"), "the package states no inference command, configuration file or training data: "
                                             "there is no input parameters file (the catalog requires one)")
    _input_products(chain, prov, links)
    if chain.runtime_files:
        for rel in chain.runtime_files:
            links.append((link("environment", chain.settings.href(rel), kinds.runtime_kind(rel).media_type,
                               f"Execution environment: {rel}"), Source("artefact manifest", rel, None, "href = base URL + path")))
    else:
        prov.omit(pointer("links", "environment"), "the package has no runtime file (requirements.txt, environment.yml, "
                                                   "Dockerfile): there is no execution environment to link")
    repository = chain.repository_link(prov, pointer("links", "git"))
    if repository is not None:
        links.append(repository)
    return links


def _input_products(chain: Chain, prov: Provenance, links: list[tuple[dict[str, Any], Source]]) -> None:
    named = chain.named
    for ref in named.inputs:
        links.append((link("input", ref.href, "application/json", f"Input product: {ref.title or ref.id}"),
                      Source(ref.source.source, ref.source.file, ref.source.line, "an EarthCODE product the training data names")))
    if named.inputs:
        return
    if named.training is None:
        reason = "the card states no training data: no input product is linked; add a `Training data:` line naming the EarthCODE products"
    else:
        text, line = named.training
        reason = (f"the card's training data ({chain.readme}:{line}: {text[:80]!r}) names no EarthCODE product: no input product "
                  "is linked; name the products by id or catalog URL (e.g. `EarthCODE product <id>`)")
    prov.omit(pointer("links", "input products"), reason)


def _input_parameters(chain: Chain, prov: Provenance) -> tuple[str | None, dict[str, Source]]:
    """input.yaml: the values of the package a rerun needs, each with its source; None when it states none."""
    values: dict[str, str] = {}
    sources: dict[str, Source] = {}
    command = chain.facts.inference_command if chain.facts else None
    if command is not None:
        values["command"] = str(command.value)
        sources["command"] = Source("model card", chain.readme, command.line, "the inference command")
    config = next((rel for rel in CONFIG_FILES if rel in chain.files), None)
    if config is not None:
        values["configuration"] = chain.settings.href(config)
        sources["configuration"] = Source("artefact manifest", config, None, "href = base URL + path")
    if chain.named.training is not None:
        values["training_data"] = chain.named.training[0]
        sources["training_data"] = Source("model card", chain.readme, chain.named.training[1], "the training data statement")
    if not values:
        return None, {}
    lines = [f"# Input parameters of the experiment {chain.experiment_title!r}, as the model package states them.",
             f"# Written by model-check publish; where each value comes from: the provenance sidecar ({INPUT_NAME}#/<key>)."]
    lines += [f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in values.items()]  # JSON strings are YAML
    return "\n".join(lines) + "\n", sources
