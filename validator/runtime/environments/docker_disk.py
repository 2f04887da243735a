"""The peak disk use of a docker environment build, measured on the engine and attributed to the build.

What a build puts on the engine's disk, the thing that fills a CI runner's:
- the download step (generated requirements builds): a volume holding the build context put in it
  (with the wheelhouse) and the wheels pip saved; both sizes are known to the client, which sent the
  one and streamed the other back;
- the image build: the build context, unpacked on the engine's disk for the length of the build (the
  classic builder); the writable layer of each RUN step's container while it runs; and the layers
  every step commits, the install stage's as well as the final image's, all present at the end of
  the build, before the install stage is removed.
The peak is the larger of the two phases; for the build: context + committed layers + the largest
writable layer of a step (a step's layer and the layer committed from it exist together while it is
committed). Layers are this build's alone: the images created during the build that carry its key
label, and the new images they descend from (the final stage's COPY step), each counted by its own
layer (its size less its parent's), read from one image listing at the end (`/images/json`, no
size walk). Step containers are sized by the build watcher, which already inspects them every second
(`size=1`); nothing is added to the build's cost but two image listings. Unlike the engine-wide
`/system/df` (which walks every container's and volume's files at each call, and counts whatever
else runs on the engine), this is neither slowed down nor inflated by other work on a shared engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docker.client import DockerClient

from validator.runtime.environments.docker_sandbox import ENGINE_ERRORS


def image_table(client: DockerClient) -> dict[str, dict[str, Any]] | None:
    """Every image of the engine, intermediate ones included: id -> its listing (Size, ParentId, Labels)."""
    try:
        return {entry["Id"]: entry for entry in client.api.images(all=True) if isinstance(entry, dict) and entry.get("Id")}
    except ENGINE_ERRORS:
        return None


def build_layers(before: Mapping[str, Any], after: Mapping[str, Mapping[str, Any]], key: str) -> int:
    """Bytes of the layers a build added: images new since `before` labelled with `key`, and their new ancestors."""
    ours: set[str] = set()
    for image_id, entry in after.items():
        if image_id in before or (entry.get("Labels") or {}).get("model-check.key") != key:
            continue
        current: str | None = image_id
        while current and current not in before and current in after and current not in ours:
            ours.add(current)
            current = after[current].get("ParentId") or None
    total = 0
    for image_id in ours:
        size = int(after[image_id].get("Size") or 0)
        parent = after.get(after[image_id].get("ParentId") or "")
        total += max(0, size - int(parent.get("Size") or 0)) if parent else size
    return total


class DiskUse:
    """What one build held on the engine's disk at most (`peak()`), phase by phase."""

    def __init__(self, client: DockerClient, key: str) -> None:
        self.client = client
        self.key = key
        self.before = image_table(client)
        self.download = 0  # the download volume: context put in + wheels streamed back
        self.context = 0  # the build context the engine unpacks
        self.largest_step = 0  # the largest writable layer of a running build step
        self.layers: int | None = None

    def finish(self) -> None:
        """Read the layers the build committed: call at its end, before the install stage is removed."""
        after = image_table(self.client)
        if self.before is not None and after is not None:
            self.layers = build_layers(self.before, after, self.key)

    def peak(self) -> int | None:
        """The peak in bytes; None when the engine's images could not be listed."""
        if self.layers is None:
            return None
        return max(self.download, self.context + self.layers + self.largest_step)
