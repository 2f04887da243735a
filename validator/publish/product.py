"""The OSC product Collection skeleton for a published model: `products/<id>/collection.json` of the
Open Science Catalog, holding the item beside it. Links follow the catalog's folder layout
(../../projects/<project>/collection.json, ../../themes/<theme>/catalog.json, …).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pystac

from validator.publish.item import BuiltItem, PublishSettings
from validator.publish.provenance import Provenance, Source, pointer
from validator.readers import stac_assets as kinds

WHOLE_WORLD = [-180.0, -90.0, 180.0, 90.0]
PROJECT_PLACEHOLDER = "TODO-osc-project-id"  # osc:project is required; without --project the skeleton says so


def build_product(built: BuiltItem, settings: PublishSettings) -> tuple[dict[str, Any], Provenance]:
    product_id = built.collection_id
    if product_id is None:
        raise ValueError("the item was not built for an OSC product (PublishSettings.product)")
    item = built.item
    props = item["properties"]
    prov = Provenance()
    title = props.get("title") or built.id
    prov.add(pointer("title"), Source("item", built.file_name, None, "/properties/title" if "title" in props else "/id"))
    description = props.get("description") or title
    prov.add(pointer("description"), Source("item", built.file_name, None,
                                            "/properties/description" if "description" in props else "the title: no description"))
    collection = pystac.Collection(
        id=product_id, title=title, description=description, extent=_extent(item, settings, prov),
        license=props.get("license", "other"), stac_extensions=[kinds.OSC_SCHEMA],
    )
    prov.add(pointer("id"), Source("--product-id") if settings.product_id else Source("item", built.file_name, None, "/id"))
    if "license" in props:
        prov.add(pointer("license"), Source("item", built.file_name, None, "/properties/license"))
    else:
        prov.placeholder(pointer("license"), "the package declares no SPDX license: \"other\" is written; state the license in the card")
    status, status_source = settings.osc_status
    fields: dict[str, Any] = {"osc:type": "product", "osc:project": settings.project or PROJECT_PLACEHOLDER, "osc:status": status}
    if settings.project:
        prov.add(pointer("osc:project"), Source("--project"))
    else:
        prov.placeholder(pointer("osc:project"), "no --project given: replace it with the id of the OSC project "
                                                 "(projects/<id>/collection.json of the catalog), or pass --project")
    prov.add(pointer("osc:status"), status_source)
    if settings.variables:
        fields["osc:variables"] = list(settings.variables)
        prov.add(pointer("osc:variables"), Source("--variable"))
    if settings.missions:
        fields["osc:missions"] = list(settings.missions)
        prov.add(pointer("osc:missions"), Source("--mission"))
    if settings.themes:
        collection.stac_extensions.append(kinds.THEMES_SCHEMA)
        fields["themes"] = [{"scheme": kinds.OSC_THEME_SCHEME, "concepts": [{"id": t} for t in settings.themes]}]
        prov.add(pointer("themes"), Source("--theme"))
    else:
        prov.omit(pointer("themes"), "no --theme given: the OSC catalog expects at least one theme (e.g. atmosphere)")
    collection.extra_fields.update(fields)
    for link in _links(built, settings):
        collection.add_link(link)
    return collection.to_dict(include_self_link=False, transform_hrefs=False), prov


def _extent(item: dict[str, Any], settings: PublishSettings, prov: Provenance) -> pystac.Extent:
    if settings.bbox is not None:
        bbox = list(settings.bbox)
        prov.add(pointer("extent", "spatial"), Source("--bbox"))
    else:
        bbox = WHOLE_WORLD
        prov.placeholder(pointer("extent", "spatial"), "a model has no footprint and STAC requires a bounding box: the whole "
                                                       "world is written; pass --bbox W S E N for the region the model is meant for")
    start = dt.datetime.fromisoformat(item["properties"]["datetime"])
    prov.add(pointer("extent", "temporal"), Source("item", None, None, "from the item's datetime, open-ended"))
    return pystac.Extent(pystac.SpatialExtent([bbox]), pystac.TemporalExtent([[start, None]]))


def _links(built: BuiltItem, settings: PublishSettings) -> list[pystac.Link]:
    links = [pystac.Link("item", f"./{built.file_name}", "application/geo+json", built.item["properties"].get("title", built.id))]
    if settings.project:
        links.append(pystac.Link("related", f"../../projects/{settings.project}/collection.json", "application/json",
                                 f"Project: {settings.project}"))
    for theme in settings.themes:
        links.append(pystac.Link("related", f"../../themes/{theme}/catalog.json", "application/json", f"Theme: {theme}"))
    for variable in settings.variables:
        links.append(pystac.Link("related", f"../../variables/{variable}/catalog.json", "application/json", f"Variable: {variable}"))
    for mission in settings.missions:
        links.append(pystac.Link("related", f"../../eo-missions/{mission}/catalog.json", "application/json", f"EO Mission: {mission}"))
    # the validation evidence: the report, and the attestation and signature when the package carries them
    for kind in (kinds.REPORT, kinds.ATTESTATION, kinds.SIGNATURE):
        asset = built.item.get("assets", {}).get(kind.key)
        if asset is not None:
            links.append(pystac.Link("describedby", asset["href"], kind.media_type, kind.title))
    return links
