"""The notebook tool layer: ipykernel and nbclient for a package environment that lacks them.

Running a notebook needs a Jupyter kernel and client in the package's interpreter, yet a package's
runtime rarely pins ipykernel, and model-check must neither change the package's pins nor write
into its cached environment. So the tools go into a separate folder, installed with
`uv pip install --target` for that interpreter's version and platform (binary wheels only: no
package code runs while installing), cached beside the environments and built transactionally
(a half-built layer is never used). The notebook probe APPENDS the folder to sys.path, for the
client and for the kernel: a distribution the environment has always wins over the layer's copy,
so the notebook runs against the package's own pins.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .config import Options
from .environment.pipconfig import installer_settings, read_pip_settings
from .environment.sandbox import remove_tree, run_sandboxed
from .environment.venv import (
    default_cache_dir,
    install_limits,
    installer_environment,
    installer_writable,
    uv_binary,
)

TOOLS = ("ipykernel>=6.29", "nbclient>=0.10", "nbformat>=5.10")


@dataclass(frozen=True)
class Layer:
    path: Path | None  # None when it could not be built
    problem: str = ""  # why not, with the installer's output tail


def notebook_layer(python: str, options: Options) -> Layer:
    """The tool layer for `python` (an environment's interpreter), built on first use."""
    identity = _interpreter_identity(python)
    if identity is None:
        return Layer(None, f"cannot run {python} to ask its version")
    key = hashlib.sha256(("\n".join(TOOLS) + "\n" + identity).encode()).hexdigest()[:16]
    root = (Path(options.cache_dir).expanduser() if options.cache_dir else default_cache_dir()) / "tool-layers"
    final = root / f"notebook-{key}"
    if (final / ".complete").is_file():
        return Layer(final)
    root.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".notebook-{key}-", dir=root))
    try:
        problem = _install(python, building, options)
        if problem:
            return Layer(None, problem)
        (building / ".complete").write_text(identity, encoding="utf-8")
        try:
            building.rename(final)
        except OSError:  # another run finished the same layer first
            if not (final / ".complete").is_file():
                return Layer(None, f"cannot move the tool layer into {final}")
        return Layer(final)
    finally:
        remove_tree(building)


def _interpreter_identity(python: str) -> str | None:
    """Version and platform of an interpreter, asked with -I -S (no site, no package code)."""
    code = "import sys, sysconfig; print(sys.version.split()[0], sysconfig.get_platform(), sys.implementation.cache_tag)"
    try:
        done = subprocess.run([python, "-I", "-S", "-c", code], check=False, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def _install(python: str, target: Path, options: Options) -> str:
    """uv with the same index settings as the environment builder, in the sandbox, network allowed."""
    uv = uv_binary()
    settings = installer_settings(read_pip_settings(), os.environ, options.ca_bundle, options.wheelhouse)
    argv = [uv, "pip", "install", "--quiet", "--python", python, "--target", str(target), "--only-binary", ":all:",
            *settings.args, *TOOLS]
    env = installer_environment(uv, settings, os.environ)
    done = run_sandboxed(argv, target, install_limits(options), env, installer_writable(env, target.parent))
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        return f"installing {', '.join(TOOLS)} for the notebook failed: {tail}"
    return ""
