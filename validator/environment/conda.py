"""The conda builder: environment.yml made into a prefix by micromamba, mamba or conda when one is
on PATH (none is, on the machines this project is tested on: its build path is untested there).

Conda prefixes are not relocatable, so the prefix is built in place and completed by a marker file
written last; a prefix without the marker is a half-built one and is removed, never reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

from packaging.utils import canonicalize_name

from ..config import Options
from ..package import ModelPackage
from ..runtime_spec import RuntimeSpec
from .builder import BuildFailure, BuildInfo, Progress
from .host_env import HostEnv
from .sandbox import SECRET_NAME, remove_tree, run_sandboxed, scratch_copy
from .venv import MARKER, default_cache_dir, install_limits, output_tail, python_version

TOOLS = ("micromamba", "mamba", "conda")


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
        result = subprocess.run([self.tool, "list", "--prefix", str(self.prefix), "--json"],
                                check=False, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"{self.tool} list failed: {result.stderr.strip()[-500:]}")
        return {canonicalize_name(item["name"]): item["version"] for item in json.loads(result.stdout)}


class CondaBuilder:
    kind = "conda"

    def __init__(self, tool: str | None = None) -> None:
        self.tool = tool or find_conda()

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
        digest = hashlib.sha256(pkg.path(env_file).read_bytes())
        digest.update(f"{platform.machine()} {platform.system()} {Path(self.tool).name}".encode())
        key = "conda-" + digest.hexdigest()[:32]
        prefix = (Path(options.cache_dir).expanduser() if options.cache_dir else default_cache_dir()) / key
        cached = (prefix / MARKER).is_file()
        if not cached:
            remove_tree(prefix)  # a half-built prefix is never reused
            prefix.parent.mkdir(parents=True, exist_ok=True)
            if progress:
                progress(f"environment: {Path(self.tool).name} create")
            failure = self._create(prefix, pkg, env_file, options)
            if failure is not None:
                remove_tree(prefix)
                return failure
            (prefix / MARKER).write_text(json.dumps({"file": env_file}))
        version = python_version(str(prefix / "bin" / "python"))
        requested = spec.python[0] if spec.python else None
        info = BuildInfo("conda", env_file, version, requested, "", key, cached, time.monotonic() - started,
                         options.torch_backend, (f"built with {Path(self.tool).name}",))
        return CondaEnv(prefix, info, self.tool)

    def _create(self, prefix: Path, pkg: ModelPackage, env_file: str, options: Options) -> BuildFailure | None:
        assert self.tool is not None
        if Path(self.tool).name == "micromamba":
            argv = [self.tool, "create", "--yes", "--prefix", str(prefix), "--file", env_file]
        else:
            argv = [self.tool, "env", "create", "--prefix", str(prefix), "--file", env_file]
        passed = {k: v for k, v in os.environ.items()
                  if k.startswith(("CONDA_", "MAMBA_", "HTTP", "HTTPS", "NO_PROXY", "http", "no_proxy", "SSL_CERT", "REQUESTS_CA"))
                  and not SECRET_NAME.search(k)}
        passed["CONDA_ALWAYS_YES"] = "true"
        if options.ca_bundle:
            passed.update({"SSL_CERT_FILE": options.ca_bundle, "REQUESTS_CA_BUNDLE": options.ca_bundle})
        workdir = scratch_copy(pkg.root)
        try:
            done = run_sandboxed(argv, workdir, install_limits(options), passed)
        finally:
            remove_tree(workdir)
        if done.returncode != 0:
            return BuildFailure(f"{env_file} does not build with {Path(self.tool).name} (status {done.returncode})",
                                output_tail(done), env_file)
        return None
