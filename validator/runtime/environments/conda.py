"""The conda builder: environment.yml made into a prefix by micromamba, mamba or conda when one is
on PATH (none is, on the machines this project is tested on: its build path is untested there).

Conda prefixes are not relocatable, so each is built in place, at `env` inside a folder of its own
(`<cache>/<key>`), the only folder the build can write. Installing runs package code (conda's
post-link scripts, the pip section's sdists), so it runs in the sandbox with the installer's limits
and no secrets, with network access (the report says so). The folder's record, written last, holds
a manifest of the prefix; a prefix without a record, or one that changed since, is removed and
rebuilt, never reused. A prefix whose environment.yml has a pip section or names a channel by path
or URL depends on more than the file's text (local paths, sdists built with the package's files at
hand): it is private to this run and never reused. Nothing of a prefix runs outside the sandbox:
its packages and Python version are read from conda-meta and the metadata files.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import time
from pathlib import Path

from packaging.utils import canonicalize_name

from validator.core.options import Options
from validator.readers.package import ModelPackage
from validator.readers.runtime_spec import RuntimeSpec
from validator.runtime.environments.builder import BuildFailure, BuildInfo, Progress, with_replacements
from validator.runtime.environments.cache_dir import default_cache_dir
from validator.runtime.environments.cpu_pins import CpuPins, flag_of, for_environment, write_derived
from validator.runtime.environments.host_env import HostEnv
from validator.runtime.environments.installed import distributions
from validator.runtime.environments.installer import strip_userinfo
from validator.runtime.environments.manifest import difference, record
from validator.runtime.environments.torch_backend import (
    GpuProbe,
    TorchChoice,
    backend_notes,
    choose,
    fallback_note,
    index_reachable,
    index_url,
    machine_gpu,
)
from validator.runtime.environments.venv import (
    MARKER,
    NETWORK_NOTE,
    TOOL_LAYERS,
    install_limits,
    output_tail,
    private_root,
)
from validator.sandbox.bubblewrap import SECRET_NAME, remove_tree, run_sandboxed, scratch_copy

TOOLS = ("micromamba", "mamba", "conda")
CONDA_FORMAT = "model-check-conda-2"  # 2: the prefix at env/, recorded with a manifest
META_MAX_BYTES = 64 * 1024 * 1024
_PIP_SECTION = re.compile(r"^[^\S\n]*(?:-[^\S\n]*)?pip[^\S\n]*:", re.M)  # within a line: linear on any text
# torch, torchvision or torchaudio named in a pip section's list ("- torch==2.4.0"), within a line
_PIP_TORCH = re.compile(r"^[^\S\n]*-[^\S\n]*(?:torch|torchvision|torchaudio)(?![\w.-])", re.M | re.I)


def find_conda() -> str | None:
    return next((path for path in map(shutil.which, TOOLS) if path), None)


class CondaEnv(HostEnv):
    kind = "conda"

    def __init__(self, prefix: Path, info: BuildInfo, tool: str) -> None:
        super().__init__(prefix, info)
        self.tool = tool

    def environment_variables(self) -> dict[str, str]:
        return {**super().environment_variables(), "CONDA_PREFIX": str(self.prefix)}

    def installed(self) -> dict[str, str]:
        found = conda_packages(self.prefix)
        for name, version in distributions(self.prefix).items():  # pip-installed ones
            found.setdefault(name, version)
        return found


def conda_packages(prefix: Path) -> dict[str, str]:
    """name -> version of each conda package, from conda-meta/*.json (read as data, never through a symlink)."""
    found: dict[str, str] = {}
    meta = prefix / "conda-meta"
    if meta.is_symlink() or not meta.is_dir():
        return found
    for path in sorted(meta.glob("*.json")):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as handle:
                data = json.loads(handle.read(META_MAX_BYTES))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("name"), str) and isinstance(data.get("version"), str):
            found.setdefault(canonicalize_name(data["name"]), data["version"])
    return found


class CondaBuilder:
    kind = "conda"

    def __init__(self, tool: str | None = None, gpu: GpuProbe = machine_gpu) -> None:
        self.tool = tool or find_conda()
        self.gpu = gpu  # what shows an NVIDIA GPU here (for --torch-backend auto)

    def unavailable(self) -> str | None:
        if self.tool:
            return None
        return ("environment.yml needs micromamba, mamba or conda, and none is on PATH: install one "
                "(e.g. mamba-org/setup-micromamba in CI), or use --env docker")

    def build(self, pkg: ModelPackage, spec: RuntimeSpec, options: Options,
              progress: Progress | None = None) -> CondaEnv | BuildFailure:
        started = time.monotonic()
        env_file = pkg.find("environment.yml", "environment.yaml")
        if env_file is None or self.tool is None:
            return BuildFailure("the conda builder needs environment.yml and micromamba, mamba or conda")
        text = pkg.path(env_file).read_bytes()
        choice = choose(options.torch_backend, self.gpu)
        torch_index, torch_notes = pip_torch_index(text.decode("utf-8", "replace"), choice, options.ca_bundle)
        cpu = for_environment(pkg, spec, env_file, choice.backend)  # GPU-only pins replaced for a CPU build
        digest = hashlib.sha256(text)
        digest.update(f"{platform.machine()} {platform.system()} {Path(self.tool).name}".encode())
        if torch_index:
            digest.update(f" {torch_index}".encode())
        for item in cpu.replaced:
            digest.update(f" {item.shown()}".encode())
        key = "conda-" + digest.hexdigest()[:32]
        cache = Path(options.cache_dir).expanduser() if options.cache_dir else default_cache_dir()
        private = bool(_PIP_SECTION.search(text.decode("utf-8", "replace"))) or any(
            option == "channel" for option, _, file, _ in spec.index_options if file == env_file)
        notes = [f"built with {Path(self.tool).name}", NETWORK_NOTE, *cpu.notes(flag_of(choice.requested))]
        holder = cache / key
        problem = None if private else ("--fresh-env" if options.fresh_env else verify(holder))
        cached = problem is None
        if not cached:
            if os.path.lexists(holder) and not private:
                notes.append(f"the cached environment {key} was not reused but rebuilt: {problem}")
            remove_tree(holder)  # a half-built or changed prefix is never reused
            if private:
                holder = private_root(cache)
                notes.append("environment.yml has a pip section or a channel given by path or URL: the prefix "
                             "depends on more than the file's text, is private to this run and not reused")
            holder.mkdir(parents=True, exist_ok=True)
            if progress:
                progress(f"environment: {Path(self.tool).name} create")
            failure = self._create(holder, pkg, env_file, options, torch_index, cpu)
            if failure is not None:
                remove_tree(holder)
                return with_replacements(failure, cpu.replaced, cpu.notes(flag_of(choice.requested)))
            if not private:
                (holder / MARKER).write_text(json.dumps({"format": CONDA_FORMAT, "file": env_file,
                                                         "manifest": record(holder / "env")}), encoding="utf-8")
        prefix = holder / "env"
        requested = spec.python[0] if spec.python else None
        info = BuildInfo("conda", env_file, conda_packages(prefix).get("python"), requested, "",
                         None if private else key, cached, time.monotonic() - started,
                         choice.backend if torch_index else None, tuple(notes), torch_notes, tuple(cpu.replaced))
        env = CondaEnv(prefix, info, self.tool)
        env.also_readable = (cache / TOOL_LAYERS,)
        return env

    def _create(self, holder: Path, pkg: ModelPackage, env_file: str, options: Options,
                torch_index: str | None = None, cpu: CpuPins | None = None) -> BuildFailure | None:
        assert self.tool is not None
        prefix = holder / "env"
        if Path(self.tool).name == "micromamba":
            argv = [self.tool, "create", "--yes", "--prefix", str(prefix), "--file", env_file]
        else:
            argv = [self.tool, "env", "create", "--prefix", str(prefix), "--file", env_file]
        passed = {k: strip_userinfo(v) for k, v in os.environ.items()
                  if k.startswith(("CONDA_", "MAMBA_", "HTTP", "HTTPS", "NO_PROXY", "http", "no_proxy", "SSL_CERT", "REQUESTS_CA"))
                  and not SECRET_NAME.search(k)}
        passed.update({"CONDA_ALWAYS_YES": "true", "CONDA_PKGS_DIRS": str(holder / "pkgs")})  # a private package cache
        if options.ca_bundle:
            passed.update({"SSL_CERT_FILE": options.ca_bundle, "REQUESTS_CA_BUNDLE": options.ca_bundle})
        if torch_index:  # the pip section's torch from the PyTorch index of the chosen backend
            passed["PIP_EXTRA_INDEX_URL"] = torch_index
        workdir = scratch_copy(pkg.root)
        try:
            if cpu is not None:
                write_derived(workdir, cpu.texts)  # the build's own copy: the package is never changed
            done = run_sandboxed(argv, workdir, install_limits(options), passed, [holder])
        finally:
            remove_tree(workdir)
            remove_tree(holder / "pkgs")
        if done.returncode != 0:
            return BuildFailure(f"{env_file} does not build with {Path(self.tool).name} (status {done.returncode})",
                                output_tail(done), env_file)
        return None


def pip_torch_index(text: str, choice: TorchChoice, ca_bundle: str | None = None) -> tuple[str | None, tuple[str, ...]]:
    """The PyTorch index the pip section of environment.yml gets (PIP_EXTRA_INDEX_URL), and the torch notes.

    Only a pip section naming torch gets one, and only when the index answers from this machine: pip would
    retry an unreachable extra index for every project. conda packages of torch are left to the solver
    (conda-forge picks a CUDA build only where the __cuda virtual package shows a GPU driver)."""
    solver = "conda packages of torch are the solver's choice (CUDA builds only where a GPU driver is present)"
    if not choice.backend or not _PIP_SECTION.search(text) or not _PIP_TORCH.search(text):
        return None, (choice.reason, solver)
    unreachable = index_reachable(choice.backend, ca_bundle)
    if unreachable:
        return None, (choice.reason, fallback_note(choice, unreachable, tool="pip without the PyTorch index"))
    return index_url(choice.backend), (*backend_notes(choice, True), f"the pip section got the PyTorch "
                                       f"{choice.backend} index (PIP_EXTRA_INDEX_URL)")


def verify(holder: Path) -> str | None:
    """Why the cached prefix in holder must not be reused (none, not ours, changed since), or None."""
    try:
        marker = json.loads((holder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"its record ({MARKER}) is missing or unreadable"
    if not isinstance(marker, dict) or marker.get("format") != CONDA_FORMAT:
        return "it was made by another version of model-check"
    return difference(holder / "env", marker.get("manifest"))
