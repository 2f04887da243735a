"""The notebook tool layer of a docker environment: ipykernel and nbclient as an image layer of their own.

A docker environment's image rarely has a Jupyter kernel, and model-check must not change the
package's resolution for one. So the tools of validator/runtime/tool_layer.py (the same pins, the
same installer settings, binary wheels only) are installed on this side for the image's Python
version and platform (asked in a locked-down container of the image: `python -I -S`, nothing of
the package runs), then committed on top of the environment's image as one more layer, in a folder
of their own (TOOLS_DIR): nothing is run to add it (a created, never started container of the image
gets the files through the engine's API, then is committed), the environment's files stay as they
were, and the notebook probe APPENDS the folder to sys.path, so a distribution the package's
environment has always wins. The derived image is tagged after the environment's image, its id and
the layer (`model-check-env:<key>-notebook-<digest>`) and reused while both stay the same.

The notebook then runs in containers of the derived image exactly like the inference example:
no network, read-only root, no capabilities, the same limits (docker_sandbox.DockerEnv).
"""

from __future__ import annotations

import copy
import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from validator.core.options import Options
from validator.runtime.environments.docker_cleanup import RUN_LABEL
from validator.runtime.environments.docker_cleanup import labels as run_labels
from validator.runtime.environments.docker_context import TarBuilder
from validator.runtime.environments.docker_sandbox import ENGINE_ERRORS, DockerEnv
from validator.runtime.tool_layer import layer_for
from validator.sandbox.base import Limits

TOOLS_DIR = "/opt/model-check-notebook-tools"  # the layer's folder in the derived image
LABEL = "model-check.notebook-tools"  # on the derived image: the layer's key
# version, sysconfig platform, cache tag and X.Y (tool_layer's identity), then machine, libc and its version
QUERY = ("import platform, sys, sysconfig; v = sys.version_info; libc = platform.libc_ver(); "
         "print(sys.version.split()[0], sysconfig.get_platform(), sys.implementation.cache_tag, f'{v[0]}.{v[1]}', "
         "platform.machine(), libc[0] or 'none', libc[1] or 'none')")
MANYLINUX = (17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40)  # the glibc targets uv's --python-platform names


@dataclass(frozen=True)
class ImageTools:
    env: DockerEnv | None  # the environment on the derived image; None when it could not be made
    layer: str | None = None  # TOOLS_DIR, for the notebook probe
    problem: str = ""  # why not


def notebook_tools(env: object, options: Options) -> ImageTools | None:
    """The environment with the notebook tools on top of its image, or why not; None for an environment
    that is not a docker one."""
    if not isinstance(env, DockerEnv):
        return None
    facts = _ask(env)
    if isinstance(facts, str):
        return ImageTools(None, problem=f"cannot ask the image's Python for its version and platform: {facts}")
    identity, machine, libc, libc_version = " ".join(facts[:4]), facts[4], facts[5], facts[6]
    target = python_platform(machine, libc, libc_version)
    if target is None:
        return ImageTools(None, problem=f"model-check has no notebook tools for the image's platform ({machine}, "
                                        f"{libc} {libc_version}); add ipykernel and nbclient to the runtime")
    layer = layer_for(identity, options, target)
    if layer.path is None:
        return ImageTools(None, problem=layer.problem)
    try:
        tag = _derived_image(env, layer.path)
    except ENGINE_ERRORS as exc:
        return ImageTools(None, problem=f"the Docker engine could not add the notebook tools to {env.image}: "
                                        f"{str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__}")
    derived = copy.copy(env)
    derived.image = tag
    derived.description = f"{env.description}, with model-check's notebook tools in {TOOLS_DIR} ({tag})"
    return ImageTools(derived, TOOLS_DIR)


def python_platform(machine: str, libc: str, version: str) -> str | None:
    """uv's --python-platform for an image's machine and C library (the newest manylinux its glibc runs)."""
    if machine not in ("x86_64", "aarch64"):
        return None
    if libc == "none":
        return f"{machine}-unknown-linux-musl"
    if libc != "glibc":
        return None
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return None
    fits = [m for m in MANYLINUX if major == 2 and m <= minor]
    return f"{machine}-manylinux_2_{fits[-1]}" if fits else None


def _ask(env: DockerEnv) -> list[str] | str:
    """The image interpreter's facts (QUERY's seven words), or what went wrong."""
    with tempfile.TemporaryDirectory(prefix="model-check-query-") as empty:
        done = env.run(["python", "-I", "-S", "-c", QUERY], Path(empty),
                       Limits(wall_s=60, cpu_s=60, memory_mb=512, processes=32, file_size_mb=16))
    words = done.stdout.split()
    if done.returncode != 0 or len(words) != 7:
        return ((done.stderr or done.stdout).strip().splitlines() or [f"exit status {done.returncode}"])[-1][:300]
    return words


def _derived_image(env: DockerEnv, layer: Path) -> str:
    """The tag of env's image with the layer in TOOLS_DIR on top, made now unless it exists for this very image."""
    image = env.client.images.get(env.image)
    base_id = image.id or ""
    digest = hashlib.sha256(f"{base_id}\n{layer.name}\n{TOOLS_DIR}".encode()).hexdigest()[:12]  # the name holds the layer's key
    repository, _, tag = env.image.rpartition(":")
    derived = f"{repository}:{tag}-notebook-{digest}"
    try:
        if env.client.images.get(derived).labels.get(LABEL) == digest:
            return derived
    except ENGINE_ERRORS:
        pass  # not there yet
    tar = TarBuilder()
    tar.add_tree(TOOLS_DIR.lstrip("/"), layer)
    archive, _ = tar.finish()
    container = None
    try:
        # created, never started: nothing of the image runs; the files go in through the API
        config = image.attrs.get("Config") or {}
        command = None if config.get("Cmd") or config.get("Entrypoint") else ["true"]  # the engine wants one to create
        container = env.client.containers.create(env.image, command, labels=run_labels(), network_disabled=True)
        with archive:
            container.put_archive("/", archive)
        container.commit(repository, f"{tag}-notebook-{digest}",
                         conf={"Labels": {RUN_LABEL: "", LABEL: digest, "model-check.notebook-tools-base": base_id}})
    finally:
        if container is not None:
            try:
                container.remove(force=True)
            except ENGINE_ERRORS:
                pass  # labelled: docker_cleanup removes it at exit
    _remove_older(env, f"{repository}:{tag}-notebook-", derived)
    return derived


def _remove_older(env: DockerEnv, prefix: str, keep: str) -> None:
    """Untag the notebook images of an earlier build of the same environment (another image id): they would
    only take disk. One still in use stays."""
    try:
        older = {name for image in env.client.images.list(name=prefix.split(":")[0]) for name in image.tags
                 if name.startswith(prefix) and name != keep}
        for name in older:
            try:
                env.client.images.remove(name)
            except ENGINE_ERRORS:
                pass
    except ENGINE_ERRORS:
        pass
