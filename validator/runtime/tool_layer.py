"""The notebook tool layer: ipykernel and nbclient for a package environment that lacks them.

Running a notebook needs a Jupyter kernel and client in the package's interpreter, yet a package's
runtime rarely pins ipykernel, and model-check must neither change the package's pins nor write
into its cached environment. So the tools go into a separate folder, installed with
`uv pip install --target` for that interpreter's version (binary wheels only: no package code runs
while installing), cached beside the environments, built transactionally (a half-built layer is
never used) and verified against its manifest before reuse. The notebook probe APPENDS the folder
to sys.path, for the client and for the kernel: a distribution the environment has always wins
over the layer's copy, so the notebook runs against the package's own pins.

The environment's interpreter is only ever run in the sandbox, with `-I -S` (the version query, and
compileall over the new layer, with only the layer writable, as the venv builder compiles an
environment); uv installs for its version with model-check's own interpreter, so nothing of the
package environment runs while uv's shared cache is writable.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from validator.core.options import Options
from validator.runtime.environments.cache_dir import default_cache_dir
from validator.runtime.environments.installer import build_area, installer, move_into_place
from validator.runtime.environments.manifest import difference, record
from validator.runtime.environments.pipconfig import installer_settings, read_pip_settings
from validator.runtime.environments.venv import TOOL_LAYERS, compile_folder, install_limits, uv_binary
from validator.sandbox.base import Limits
from validator.sandbox.bubblewrap import remove_tree, run_sandboxed

TOOLS = ("ipykernel>=6.29", "nbclient>=0.10", "nbformat>=5.10")
LAYER_FORMAT = "model-check-tool-layer-3"  # 2: recorded with a manifest; 3: with bytecode
COMPLETE = ".complete"  # the record, written last, before the rename
_QUERY = ("import sys, sysconfig; v = sys.version_info; "
          "print(sys.version.split()[0], sysconfig.get_platform(), sys.implementation.cache_tag, f'{v[0]}.{v[1]}')")


@dataclass(frozen=True)
class Layer:
    path: Path | None  # None when it could not be built
    problem: str = ""  # why not, with the installer's output tail


def notebook_layer(python: str, options: Options) -> Layer:
    """The tool layer for `python` (an environment's interpreter), built on first use."""
    identity = interpreter_identity(python)
    if identity is None:
        return Layer(None, f"cannot run {python} in the sandbox to ask its version")
    return layer_for(identity, options, compiler=python)


def layer_for(identity: str, options: Options, python_platform: str | None = None, compiler: str | None = None) -> Layer:
    """The tool layer for an interpreter of `identity` (version, platform, cache tag, X.Y: what
    interpreter_identity prints), built on first use; for `python_platform` (uv's --python-platform,
    e.g. x86_64-manylinux_2_36) when the interpreter runs elsewhere (a container image). Its bytecode is
    compiled by `compiler` (that environment's interpreter), or by model-check's own when the cache tags
    agree, so that the client and kernel do not compile IPython and Jupyter in memory on every run (2 s of CPU)."""
    target = f"\n{python_platform}" if python_platform else ""
    key = hashlib.sha256(("\n".join(TOOLS) + "\n" + identity + target).encode()).hexdigest()[:16]
    root = (Path(options.cache_dir).expanduser() if options.cache_dir else default_cache_dir()) / TOOL_LAYERS
    final = root / f"notebook-{key}"
    refresh = os.path.lexists(final)
    if refresh:
        if verify(final) is None:
            return Layer(final)
        remove_tree(final)  # not ours, or changed after it was built: never used, and rebuilt from fresh files
    root.mkdir(parents=True, exist_ok=True)
    settings = installer_settings(read_pip_settings(), os.environ, options.ca_bundle, options.wheelhouse)
    install = installer(uv_binary(), settings, os.environ)
    area, writable = build_area(install, root, f".notebook-{key}-")
    try:
        building = area / "layer"
        building.mkdir()
        args = (*install.args, "--refresh") if refresh else install.args  # uv hardlinks: its cache may share the change
        problem = _install(identity.split()[-1], building, args, install.env, writable, install.readable, options,
                           python_platform)
        if problem:
            return Layer(None, problem)
        python = sys.executable if identity.split()[2:3] == [sys.implementation.cache_tag] else compiler
        if python is not None:  # no .pth file runs (-I -S), nothing is imported; a failure only costs speed
            compile_folder(python, building, building, install_limits(options))
        (building / COMPLETE).write_text(json.dumps({"format": LAYER_FORMAT, "identity": identity,
                                                     "manifest": record(building, frozenset({COMPLETE}))}),
                                         encoding="utf-8")
        if not move_into_place(building, final) and verify(final) is not None:  # not a concurrent run's twin
            return Layer(None, f"cannot move the tool layer into {final}")
        return Layer(final)
    finally:
        remove_tree(area)


def interpreter_identity(python: str) -> str | None:
    """Version, platform, cache tag and X.Y of an environment's interpreter, asked in the sandbox with
    -I -S (no site, no package code; and whatever stands at that path cannot reach the host)."""
    scratch = Path(tempfile.mkdtemp(prefix="model-check-query-"))
    try:
        done = run_sandboxed([python, "-I", "-S", "-c", _QUERY], scratch, Limits(wall_s=60, memory_mb=1024), {})
    finally:
        remove_tree(scratch)
    words = done.stdout.split()
    return " ".join(words) if done.returncode == 0 and len(words) == 4 else None


def verify(layer: Path) -> str | None:
    """Why a cached layer must not be used (not ours, or changed since it was built), or None."""
    try:
        marker = json.loads((layer / COMPLETE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "its record is missing or unreadable"
    if not isinstance(marker, dict) or marker.get("format") != LAYER_FORMAT:
        return "it was made by another version of model-check"
    return difference(layer, marker.get("manifest"), frozenset({COMPLETE}))


def _install(version: str, target: Path, args: tuple[str, ...], env: dict[str, str], writable: list[Path],
             readable: tuple[Path, ...], options: Options, python_platform: str | None = None) -> str:
    """uv with the same index settings as the environment builder, in the sandbox, network allowed,
    for the environment's Python version (and platform) but run with model-check's own interpreter."""
    platform = ["--python-platform", python_platform] if python_platform else []
    argv = [uv_binary(), "pip", "install", "--quiet", "--python", sys.executable, "--python-version", version, *platform,
            "--target", str(target), "--no-build", "--link-mode", "hardlink", "--no-compile-bytecode", *args, *TOOLS]
    scratch = Path(tempfile.mkdtemp(prefix="model-check-layer-"))  # uv refuses to run inside its own cache
    try:
        done = run_sandboxed(argv, scratch, install_limits(options), env, writable, readable)
    finally:
        remove_tree(scratch)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        return f"installing {', '.join(TOOLS)} for the notebook failed: {tail}"
    return ""
