"""The OSC workflow record (workflows/<id>/record.json): the versioned code of the model package, its
runtime environment and execution instructions, as an OGC API Records feature with `type: workflow`.

Linked as the catalog links its workflows: root and parent, `child` to the experiment that ran it,
`related` to project, themes and the model product, `git` to the source repository (at the stated
commit or tag), `jupyter-notebook` to the package's notebook, `application` to the inference code
and an OGC Application Package the package ships, `describedby` to the model card.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from validator.publish.chain import Chain, add_links, link
from validator.publish.product import PROJECT_PLACEHOLDER
from validator.publish.provenance import Provenance, Source, pointer

_FORMATS = {".onnx": "ONNX", ".safetensors": "safetensors"}


def build_workflow(chain: Chain) -> tuple[dict[str, Any], Provenance]:
    workflow_id = chain.chain.workflow_id
    if workflow_id is None:
        raise ValueError("no workflow is requested (ChainSettings.workflow_id)")
    prov = Provenance()
    command = chain.facts.inference_command if chain.facts else None
    description = f"Versioned code, runtime environment and execution instructions of the model package {chain.name}"
    description += f" {chain.version}." if chain.version else "."
    if command is not None:
        description += f" Inference: `{command.value}`."
    else:
        prov.omit(pointer("properties", "description"), "the card states no inference command: the description gives none")
    record = chain.record(
        workflow_id, "workflow", chain.workflow_title, description, prov,
        Source("item", chain.built.file_name, None, "the model name + \" workflow\""),
        Source("model card", chain.readme, command.line if command else None,
               "composed from the model name, version and the card's inference command"))
    prov.add(pointer("id"), Source("--workflow") if chain.chain.workflow_id_given
             else Source("item", chain.built.file_name, None, "the item id + \"-workflow\""))
    props = record["properties"]
    props["osc:project"] = chain.settings.project or PROJECT_PLACEHOLDER
    if chain.settings.project:
        prov.add(pointer("properties", "osc:project"), Source("--project"))
    else:
        prov.placeholder(pointer("properties", "osc:project"), "no --project given: the catalog requires the OSC project id "
                                                               "of the workflow; pass --project")
    status, status_source = chain.settings.osc_status
    props["osc:status"] = status
    prov.add(pointer("properties", "osc:status"), status_source)
    if chain.versioning.tag is not None:
        props["version"] = chain.versioning.tag.value
        prov.add(pointer("properties", "version"), chain.versioning.tag.source)
    else:
        prov.omit(pointer("properties", "version"), "no release tag is stated: add a `Release tag:` line or pass --ref")
    formats = sorted({_FORMATS[PurePosixPath(f).suffix] for f in chain.files if PurePosixPath(f).suffix in _FORMATS})
    if formats:
        props["formats"] = [{"name": name} for name in formats]
        prov.add(pointer("properties", "formats"), Source("artefact manifest", detail="the model artefacts' file types"))
    add_links(record, _links(chain, prov), prov)
    return record, prov


def _links(chain: Chain, prov: Provenance) -> list[tuple[dict[str, Any], Source]]:
    links = chain.catalog_links("Workflows")
    if chain.chain.experiment_id is not None:
        links.append((link("child", chain.href("experiments", chain.chain.experiment_id), "application/json", chain.experiment_title),
                      chain.written()))
    links.append((link("related", chain.href("products", chain.product_id), "application/json", f"Product: {chain.product_title}"),
                  chain.written()))
    links.append((link("related", chain.item_href, "application/json", f"Model: {chain.name}"),
                  Source("item", chain.built.file_name, None, "the STAC MLM item of the model")))
    repository = chain.repository_link(prov, pointer("links", "git"))
    if repository is not None:
        links.append(repository)
    for rel in chain.files:
        path = PurePosixPath(rel)
        href = chain.settings.href(rel)
        if path.suffix == ".ipynb" and len(path.parts) == 1:
            links.append((link("jupyter-notebook", href, "application/x-ipynb+json", f"Jupyter Notebook: {rel}"),
                          Source("artefact manifest", rel, None, "href = base URL + path")))
        elif path.suffix == ".cwl":
            links.append((link("application", href, "application/cwl", f"OGC Application Package: {rel}"),
                          Source("artefact manifest", rel, None, "href = base URL + path")))
        elif rel == "inference.py":
            links.append((link("application", href, "text/x-python", f"Inference code: {rel}"),
                          Source("artefact manifest", rel, None, "href = base URL + path")))
    if chain.readme is not None:
        links.append((link("describedby", chain.settings.href(chain.readme), "text/markdown", "Model card"),
                      Source("artefact manifest", chain.readme, None, "href = base URL + path")))
    return links
