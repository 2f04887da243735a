"""Docker environments carried across CI jobs (`--env-cache DIR`, action input `env-cache`).

A fresh CI runner has an empty engine, so without this every push rebuilds the package's environment.
After a build, the image is written to DIR/<key>.tar (`docker save`, without its tag); before a build,
a DIR/<key>.tar that is present is loaded instead (`docker load`), `key` being the docker builder's
cache key (a hash of the build context, i.e. the runtime files, the Dockerfile's path, base image ids,
build arguments). The workflow carries DIR between jobs (actions/cache keyed by `hashFiles` of the
runtime files: docs/caching.md).

What is loaded is checked, since DIR comes from outside this run:
- before loading, the archive's index (manifest.json, repositories, index.json: names only, no layer
  is read) must name no image: model-check saves it untagged, and a tagged archive would re-point
  tags of the engine (a base image's, say) as it loads;
- after loading, it must be one image carrying the labels model-check's build put on it
  (`model-check=1`, `model-check.key=<key>`); otherwise it is removed and the environment rebuilt,
  with a note. Only then is it tagged `model-check-env:<key>`.
A label is no signature: whoever can write DIR (or the Actions cache) can make an image that passes.
That is why a release run trusts no cache (`--fresh-env`, which the Action sets on tag pushes), and
why the image only ever runs package code in locked-down containers.

The archive is not compressed: actions/cache compresses what it stores (zstd, multi-threaded), and
an uncompressed archive lets the index be read without reading the layers. Written to a temporary
name and renamed, so an interrupted save leaves no DIR/<key>.tar. After a save, the archives in DIR
of the same package under other keys (older runtime files: the image's `model-check.package` label,
a hash of the package folder's path, read from the archive's config) are removed, so a cache carried
from job to job does not grow with every change of the runtime files; archives of other packages
sharing DIR are left alone.
"""

from __future__ import annotations

import json
import os
import tarfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docker.client import DockerClient

from validator.core.records import EnvCacheRecord
from validator.runtime.environments.docker_sandbox import ENGINE_ERRORS

SUFFIX = ".tar"
INDEX_FILES = ("manifest.json", "repositories", "index.json")
INDEX_MAX_BYTES = 16 * 1024 * 1024
PACKAGE_LABEL = "model-check.package"  # a hash of the package folder's path: whose environment an archive holds


@dataclass(frozen=True)
class Loaded:
    """A tarball loaded and verified (ok), or not used: the record's `problem` says why."""

    record: EnvCacheRecord
    ok: bool


def tarball(folder: str | Path, key: str) -> Path:
    return Path(folder).expanduser() / f"{key}{SUFFIX}"


def names_in(path: Path) -> list[str] | str:
    """The image names an archive of `docker save` carries (none for an untagged save), or why it cannot be read."""
    names: list[str] = []
    try:
        with tarfile.open(path, "r:") as archive:  # uncompressed: headers are read, layers skipped over
            for member in archive:
                if member.name.lstrip("./") not in INDEX_FILES or not member.isfile():
                    continue
                if member.size > INDEX_MAX_BYTES:
                    return f"its {member.name} is larger than {INDEX_MAX_BYTES // (1024 * 1024)} MiB"
                handle = archive.extractfile(member)
                data = json.loads(handle.read()) if handle is not None else None
                names += _names(member.name.lstrip("./"), data)
    except (OSError, tarfile.TarError, ValueError) as exc:
        return f"it is not a readable image archive ({exc})"
    return names


def labels_in(path: Path) -> dict[str, str]:
    """The labels of the image in an archive of `docker save` (read from its config; {} when it cannot be read)."""
    try:
        with tarfile.open(path, "r:") as archive:
            members = {member.name.lstrip("./"): member for member in archive.getmembers()}
            manifest = members.get("manifest.json")
            handle = archive.extractfile(manifest) if manifest is not None and manifest.size <= INDEX_MAX_BYTES else None
            entries = json.loads(handle.read()) if handle is not None else []
            config = members.get(str(entries[0].get("Config", "")).lstrip("./")) if entries else None
            handle = archive.extractfile(config) if config is not None and config.size <= INDEX_MAX_BYTES else None
            data = json.loads(handle.read()) if handle is not None else {}
    except (OSError, tarfile.TarError, ValueError, AttributeError, IndexError, KeyError):
        return {}
    labels = (data.get("config") or {}).get("Labels") if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def _names(file: str, data: Any) -> list[str]:
    if file == "manifest.json" and isinstance(data, list):
        return [str(tag) for entry in data if isinstance(entry, dict) for tag in entry.get("RepoTags") or []]
    if file == "repositories" and isinstance(data, dict):
        return [f"{repository}:{tag}" for repository, tags in data.items() for tag in (tags or {})]
    if file == "index.json" and isinstance(data, dict):
        found = []
        for entry in data.get("manifests") or []:
            annotations = entry.get("annotations") or {} if isinstance(entry, dict) else {}
            found += [str(value) for name, value in annotations.items()
                      if name in ("io.containerd.image.name", "org.opencontainers.image.ref.name")]
        return found
    return []


def load(client: DockerClient, path: Path, key: str, labels: dict[str, str], tag: str) -> Loaded:
    """Load DIR/<key>.tar, verify it and tag it `tag`; whatever fails is removed and said."""
    started = time.monotonic()
    size = path.stat().st_size

    def outcome(ok: bool, problem: str = "") -> Loaded:
        record: EnvCacheRecord = {"file": str(path), "loaded": ok, "saved": False, "bytes": size,
                                  "seconds": round(time.monotonic() - started, 3)}
        if problem:
            record["problem"] = problem
        return Loaded(record, ok)

    names = names_in(path)
    if isinstance(names, str):
        return outcome(False, names)
    if names:
        return outcome(False, f"it names images ({', '.join(sorted(set(names))[:5])}), and loading it would re-point "
                              "those tags on the engine; model-check saves environments untagged")
    try:
        present = {image.id for image in client.images.list(all=True)}  # never removed below, whatever the archive holds
        with open(path, "rb") as handle:
            images = client.images.load(handle)
    except ENGINE_ERRORS as exc:
        return outcome(False, f"the engine could not load it ({_first_line(exc)})")
    if len(images) != 1:
        for image in images:
            _remove(client, image.id, present)
        return outcome(False, f"it holds {len(images)} images, not one")
    image = images[0]
    found = image.labels or {}
    wrong = {name: found.get(name) for name, value in labels.items() if found.get(name) != value}
    if wrong:
        _remove(client, image.id, present)
        shown = ", ".join(f"{name}={value!r}" for name, value in wrong.items())
        return outcome(False, f"its image does not carry the labels of this environment's build ({shown}; expected "
                              f"model-check.key={key})")
    try:
        repository, _, name = tag.rpartition(":")
        image.tag(repository, name)
    except ENGINE_ERRORS as exc:
        return outcome(False, f"the loaded image could not be tagged ({_first_line(exc)})")
    return outcome(True)


def save(client: DockerClient, tag: str, path: Path, package_id: str = "") -> EnvCacheRecord:
    """Write the image `tag` to `path` (untagged), through a temporary name, then remove the archives of the
    same package (`package_id`) under other keys: older environments of it. The record says how it went."""
    started = time.monotonic()
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    record: EnvCacheRecord = {"file": str(path), "loaded": False, "saved": False, "bytes": None, "seconds": 0.0}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        image = client.images.get(tag)
        with open(temporary, "wb") as handle:
            for chunk in image.save(named=False):
                handle.write(chunk)
        os.replace(temporary, path)
        record["saved"], record["bytes"] = True, path.stat().st_size
        pruned = prune(path, package_id) if package_id else []
        if pruned:
            record["pruned"] = pruned
    except (OSError, *ENGINE_ERRORS) as exc:
        record["problem"] = f"the image could not be written to {path}: {_first_line(exc)}"
        temporary.unlink(missing_ok=True)
    record["seconds"] = round(time.monotonic() - started, 3)
    return record


def prune(kept: Path, package_id: str) -> list[str]:
    """Remove the archives beside `kept` that hold another environment of the same package; their names."""
    removed = []
    for other in sorted(kept.parent.glob(f"*{SUFFIX}")):
        if other == kept or not other.is_file() or other.is_symlink():
            continue
        if labels_in(other).get(PACKAGE_LABEL) == package_id:
            other.unlink(missing_ok=True)
            removed.append(other.name)
    return removed


def _remove(client: DockerClient, image_id: str | None, present: set[str | None]) -> None:
    """Remove an image the archive brought, unless the engine had it before (a base image, say)."""
    if not image_id or image_id in present:
        return
    try:
        client.images.remove(image_id)
    except ENGINE_ERRORS:
        pass  # in use or gone: untagged, a later prune takes it


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "explanation", None) or getattr(exc, "strerror", None) or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]
