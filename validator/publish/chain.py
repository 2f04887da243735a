"""What the provenance chain's records share: the ids and titles of product, workflow and experiment,
where each is written in the catalog's folder layout, and the parts every OGC API Records feature of
the Open Science Catalog carries (record core, root/parent links, themes, contacts, license).

The catalog keeps each entry in its own folder (products/<id>/collection.json,
workflows/<id>/record.json, experiments/<id>/record.json), so records link each other with
`../../<kind>/<id>/<file>`; `model-check publish --workflow/--experiment` writes that tree under --out.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from validator.publish.item import BuiltItem, PublishSettings
from validator.publish.provenance import Provenance, Source, pointer
from validator.publish.references import Named
from validator.publish.vcs import Versioning
from validator.readers import stac_assets as kinds
from validator.readers.card import CardFacts

RECORD_CORE = "http://www.opengis.net/spec/ogcapi-records-1/1.0/req/record-core"
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


@dataclass(frozen=True)
class ChainSettings:
    workflow_id: str | None  # None: no workflow record is written; "": the default id (<item id>-workflow)
    experiment_id: str | None  # None: no experiment record is written; "": the default id (<item id>-experiment)
    workflow_id_given: bool = False
    experiment_id_given: bool = False


@dataclass
class Chain:
    """The records of one publication and what they share (built once, read by each record's builder)."""

    built: BuiltItem
    settings: PublishSettings
    chain: ChainSettings
    versioning: Versioning
    named: Named
    facts: CardFacts | None
    readme: str | None
    files: list[str]  # the package's files (artefact manifest)
    runtime_files: list[str]
    product_id: str
    created: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"))

    @property
    def name(self) -> str:
        return str(self.built.item["properties"].get("title") or self.built.id)

    @property
    def version(self) -> str | None:
        value = self.built.item["properties"].get("version")
        return str(value) if value else None

    @property
    def workflow_title(self) -> str:
        return f"{self.name} workflow"

    @property
    def experiment_title(self) -> str:
        return f"{self.name} experiment"

    @property
    def product_title(self) -> str:
        return self.name

    def written(self) -> Source:
        """The source of a link to another record of this publication."""
        return Source("model-check publish", detail="a record written in the same publication (--product/--workflow/--experiment)")

    # -- where each record lives in the catalog tree (relative to --out) -----------------------
    @property
    def product_dir(self) -> str:
        return f"products/{self.product_id}"

    def record_path(self, kind: str, record_id: str) -> str:
        return f"{kind}/{record_id}/record.json"

    def href(self, kind: str, record_id: str) -> str:
        """From one entry's folder to another entry of the catalog."""
        return f"../../{kind}/{record_id}/{'collection.json' if kind == 'products' else 'record.json'}"

    @property
    def item_href(self) -> str:
        return f"../../{self.product_dir}/{self.built.file_name}"

    # -- the parts every record has ------------------------------------------------------------
    def record(self, record_id: str, kind: str, title: str, description: str, prov: Provenance,
               title_source: Source, description_source: Source) -> dict[str, Any]:
        props: dict[str, Any] = {"created": self.created, "updated": self.created, "type": kind, "title": title,
                                 "description": description}
        prov.add(pointer("properties", "created"), Source("model-check publish", detail="time the record was written"))
        prov.add(pointer("properties", "updated"), Source("model-check publish", detail="time the record was written"))
        prov.add(pointer("properties", "type"), Source("model-check publish", detail=f"an OSC {kind} record"))
        prov.add(pointer("properties", "title"), title_source)
        prov.add(pointer("properties", "description"), description_source)
        self._license(props, prov)
        self._themes(props, prov)
        self._contacts(props, prov)
        return {"id": record_id, "type": "Feature", "conformsTo": [RECORD_CORE], "geometry": None, "properties": props,
                "linkTemplates": [], "links": []}

    def catalog_links(self, section: str) -> list[tuple[dict[str, Any], Source]]:
        here = Source("model-check publish", detail="the catalog's folder layout")
        links = [(link("root", "../../catalog.json", "application/json", "Open Science Catalog"), here),
                 (link("parent", "../catalog.json", "application/json", section), here)]
        if self.settings.project:
            links.append((link("related", f"../../projects/{self.settings.project}/collection.json", "application/json",
                                f"Project: {self.settings.project}"), Source("--project")))
        for theme in self.settings.themes:
            links.append((link("related", f"../../themes/{theme}/catalog.json", "application/json", f"Theme: {theme}"),
                          Source("--theme")))
        return links

    def repository_link(self, prov: Provenance, at: str) -> tuple[dict[str, Any], Source] | None:
        repo, tag, commit = self.versioning.repository, self.versioning.tag, self.versioning.commit
        if repo is None or not repo.value.startswith(("https://", "http://")):
            prov.omit(at, "no source repository is stated: add a `Source repository:` line to the card, or pass --repository")
            return None
        href, detail = repo.value, "the repository URL"
        ref = commit or tag
        if ref is not None and re.match(r"^https://(github\.com|gitlab\.com)/[^/]+/[^/]+$", repo.value):
            href = f"{repo.value}/tree/{ref.value}"
            where = f"{ref.source.file}:{ref.source.line}" if ref.source.file and ref.source.line else ref.source.file or ""
            detail = f"the repository URL at the {'commit' if commit else 'tag'} ({ref.source.source} {where})".replace(" )", ")")
        parts = [f"tag {tag.value}" if tag else "", f"commit {commit.value}" if commit else ""]
        title = "Git source repository" + (f" ({', '.join(p for p in parts if p)})" if tag or commit else "")
        return link("git", href, "text/html", title), Source(repo.source.source, repo.source.file, repo.source.line, detail)

    def link_product(self, collection: dict[str, Any], prov: Provenance) -> None:
        """The product's side of the chain: osc:experiment and `related` links to workflow and experiment
        (titles prefixed as the catalog checks them), and to the catalog entries the card names."""
        found: list[tuple[dict[str, Any], Source]] = []
        if self.chain.workflow_id is not None:
            found.append((link("related", self.href("workflows", self.chain.workflow_id), "application/json",
                               f"Workflow: {self.workflow_title}"), self.written()))
        if self.chain.experiment_id is not None:
            collection["osc:experiment"] = self.chain.experiment_id
            prov.add(pointer("osc:experiment"), self.written())
            found.append((link("related", self.href("experiments", self.chain.experiment_id), "application/json",
                               f"Experiment: {self.experiment_title}"), self.written()))
        for ref in self.named.related:
            found.append((link("related", ref.href, "application/json", ref.link_title),
                          Source(ref.source.source, ref.source.file, ref.source.line, f"an EarthCODE {ref.kind[:-1]} the card names")))
            if ref.title is None:
                prov.omit(pointer("links", len(collection["links"]) + len(found) - 1, "title"),
                          f"the card names {ref.kind[:-1]} {ref.id} without its title: write `{ref.id} (<title>)`")
        add_links(collection, found, prov)

    # -- shared properties -------------------------------------------------------------------
    def _license(self, props: dict[str, Any], prov: Provenance) -> None:
        license_id = self.built.item["properties"].get("license")
        if license_id:
            props["license"] = license_id
            prov.add(pointer("properties", "license"), Source("item", self.built.file_name, None, "/properties/license"))
        else:
            prov.omit(pointer("properties", "license"), "the package declares no SPDX license: state it in the card")

    def _themes(self, props: dict[str, Any], prov: Provenance) -> None:
        if self.settings.themes:
            props["themes"] = [{"scheme": kinds.OSC_THEME_SCHEME, "concepts": [{"id": t} for t in self.settings.themes]}]
            prov.add(pointer("properties", "themes"), Source("--theme"))
        else:
            prov.omit(pointer("properties", "themes"), "no --theme given: the OSC catalog expects at least one theme")

    def _contacts(self, props: dict[str, Any], prov: Provenance) -> None:
        facts = self.facts
        authors = facts.found.get("authors") if facts else None
        contact = facts.found.get("contact") if facts else None
        email = _EMAIL.search(contact.value) if contact else None
        if authors is None and email is None:
            prov.omit(pointer("properties", "contacts"), "the card names no authors or contact e-mail")
            return
        named_by = authors or contact
        entry: dict[str, Any] = {"name": authors.value if authors else email.group(0) if email else ""}
        prov.add(pointer("properties", "contacts", 0, "name"),
                 Source("model card", self.readme, named_by.line if named_by else None,
                        "the Authors field" if authors else "the contact e-mail: the card names no authors"))
        if email is not None and contact is not None:
            entry["emails"] = [{"value": email.group(0)}]
            prov.add(pointer("properties", "contacts", 0, "emails"), Source("model card", self.readme, contact.line))
        props["contacts"] = [entry]


def link(rel: str, href: str, media_type: str | None, title: str | None) -> dict[str, Any]:
    link: dict[str, Any] = {"rel": rel, "href": href}
    if media_type:
        link["type"] = media_type
    if title:
        link["title"] = title
    return link


def add_links(record: dict[str, Any], links: list[tuple[dict[str, Any], Source]], prov: Provenance) -> None:
    for entry, source in links:
        prov.add(pointer("links", len(record["links"])), source)
        record["links"].append(entry)


