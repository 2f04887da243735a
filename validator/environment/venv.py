"""The venv builder: a fresh virtual environment made with uv from the package's requirements.txt.

- Python: the version the package names (or --python) when uv finds one on this machine;
  otherwise the machine's own, and the environment check says so.
- Cache: one folder per key, the sha256 of the requirements files, Python, platform and installer
  settings. Built as `<key>.tmp-<random>` (a relocatable venv) and renamed into place only when
  complete, so a half-built environment is never reused.
- Installer: uv with the machine's pip configuration translated (pipconfig) and, on request,
  CPU-only torch wheels (`--torch-backend`). Installing runs package-supplied code (sdists), so
  uv runs in the sandbox too: same rlimits, no secrets; the network is allowed for it alone.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import secrets
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from ..config import Options
from ..package import ModelPackage
from ..runtime_spec import RuntimeSpec
from .base import Completed, Limits
from .builder import BuildFailure, BuildInfo, Progress
from .host_env import HostEnv
from .pipconfig import InstallerSettings, installer_settings, read_pip_settings
from .sandbox import SECRET_NAME, remove_tree, run_sandboxed, scratch_copy

CACHE_FORMAT = "model-check-venv-2"  # change it when the layout of cached environments changes (2: bytecode compiled at build)
MARKER = "model-check-env.json"  # written last, before the rename: its presence means complete
STALE_TMP_S = 24 * 3600
TAIL_LINES = 40
# Variables the installer needs beside the sandbox's allowlist: proxies, TLS roots, its config.
_INSTALLER_PASS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                   "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR", "XDG_CONFIG_DIRS")
# uv settings that change what gets installed, part of the cache key when set.
_UV_INSTALL_VARIABLES = ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX_URL", "UV_INDEX", "UV_FIND_LINKS",
                         "UV_NO_INDEX", "UV_INDEX_STRATEGY", "UV_CONSTRAINT", "UV_OVERRIDE", "UV_PRERELEASE",
                         "UV_RESOLUTION", "UV_EXCLUDE_NEWER", "UV_TORCH_BACKEND", "UV_NO_BINARY", "UV_NO_BUILD")


def install_limits(options: Options) -> Limits:
    """Installing: the sandbox's limits with room for big wheels and parallel builds, network allowed."""
    return Limits(wall_s=max(1800.0, options.timeout_s), cpu_s=7200, memory_mb=max(options.memory_mb, 8192),
                  file_size_mb=16384, processes=4096, output_bytes=2_000_000, network=True)


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: str
    requested: str | None
    problem: str = ""  # why the requested version was not found; "" when it was (or none was asked)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "model-check" / "envs"


@functools.cache
def uv_binary() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


class VenvEnv(HostEnv):
    kind = "venv"

    def environment_variables(self) -> dict[str, str]:
        return {**super().environment_variables(), "VIRTUAL_ENV": str(self.prefix)}

    def installed(self) -> dict[str, str]:
        return list_distributions(uv_binary(), self.python)


class VenvBuilder:
    kind = "venv"

    def __init__(self, uv: str | None = None, environ: Mapping[str, str] | None = None) -> None:
        self.uv = uv or uv_binary()
        self.environ = dict(os.environ if environ is None else environ)

    def unavailable(self) -> str | None:
        return None if Path(self.uv).is_file() else f"uv is not installed ({self.uv} is missing)"

    def build(self, pkg: ModelPackage, spec: RuntimeSpec, options: Options,
              progress: Progress | None = None) -> VenvEnv | BuildFailure:
        started = time.monotonic()
        requirements = pkg.find("requirements.txt")
        if requirements is None:
            return BuildFailure("the venv builder installs from requirements.txt, and the package has none")
        say = progress or (lambda _message: None)
        requested = options.python or (spec.python[0] if spec.python else None)
        interpreter = find_interpreter(self.uv, requested, self.environ)
        settings = self.installer_settings(options)
        other_definitions = {pkg.find("environment.yml", "environment.yaml"), pkg.find("Dockerfile")}
        files = [f for f in spec.files_read if f not in other_definitions] or [requirements]
        key = cache_key({rel: pkg.path(rel).read_bytes() for rel in files if pkg.has(rel)}, interpreter, settings,
                        options.torch_backend, self.environ)
        cache = Path(options.cache_dir).expanduser() if options.cache_dir else default_cache_dir()
        final = cache / key

        def info(cached: bool) -> BuildInfo:
            return BuildInfo("venv", requirements, interpreter.version, requested, interpreter.problem, key, cached,
                             time.monotonic() - started, options.torch_backend,
                             settings.notes + torch_backend_notes(options.torch_backend))

        if (final / MARKER).is_file():
            say("environment: cached venv")
            return VenvEnv(final, info(True))
        try:
            cache.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return BuildFailure(f"cannot create the environment cache {cache}: {exc.strerror or exc}; "
                                "choose a writable folder with --cache-dir")
        _remove_stale_builds(cache)
        building = cache / f"{key}.tmp-{secrets.token_hex(4)}"
        workdir = scratch_copy(pkg.root)
        try:
            say(f"environment: uv venv (Python {interpreter.version})")
            failure = self._create(building, workdir, requirements, interpreter, settings, options)
            if failure is not None:
                return failure
            (building / MARKER).write_text(json.dumps({"format": CACHE_FORMAT, "python": interpreter.version,
                                                       "requirements": requirements}, indent=1))
            if final.exists() and not (final / MARKER).is_file():
                remove_tree(final)  # not one of ours, or damaged: never reused
            try:
                building.rename(final)
            except OSError:
                if not (final / MARKER).is_file():  # not a concurrent run that finished first
                    raise
        finally:
            remove_tree(workdir)
            remove_tree(building)
        compile_bytecode_in_background(final)
        return VenvEnv(final, info(False))

    def installer_settings(self, options: Options) -> InstallerSettings:
        return installer_settings(read_pip_settings(), self.environ, options.ca_bundle, options.wheelhouse)

    def _create(self, target: Path, workdir: Path, requirements: str, interpreter: Interpreter,
                settings: InstallerSettings, options: Options) -> BuildFailure | None:
        limits = install_limits(options)
        env = installer_environment(self.uv, settings, self.environ)
        writable = installer_writable(env, target.parent)
        made = run_sandboxed(venv_argv(self.uv, interpreter.path, target), workdir, limits, env, writable)
        if made.returncode != 0:
            return BuildFailure(f"uv could not create a virtual environment for Python {interpreter.version}"
                                f" ({_ending(made)})", output_tail(made), requirements)
        argv = install_argv(self.uv, target / "bin" / "python", requirements, settings, options.torch_backend)
        done = run_sandboxed(argv, workdir, limits, env, writable)
        if done.returncode != 0:
            return BuildFailure(f"{requirements} does not install in a fresh environment: uv {_ending(done)}",
                                output_tail(done), requirements, settings.notes)
        return None


def compile_bytecode_in_background(prefix: Path) -> subprocess.Popen[bytes] | None:
    """Write the environment's bytecode while the checks go on.

    Package code runs with the environment mounted read-only (so it cannot tamper with a cached
    environment that later runs reuse), and could then not cache bytecode itself. Compiling is
    not executing: `-I -S` skips site-packages' .pth files, the only code that would run. Writes are
    atomic, so a run reading the environment meanwhile, or an interrupted compile, is harmless.
    """
    try:
        return subprocess.Popen([str(prefix / "bin" / "python"), "-I", "-S", "-m", "compileall", "-q", "-j", "0",
                                 str(prefix / "lib")], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        return None


def venv_argv(uv: str, python: str, target: Path) -> list[str]:
    return [uv, "venv", "--relocatable", "--no-project", "--python", python, str(target)]


def install_argv(uv: str, python: Path | str, requirements: str, settings: InstallerSettings,
                 torch_backend: str | None) -> list[str]:
    """The `uv pip install` command line for a package's requirements file (relative to the workdir)."""
    argv = [uv, "pip", "install", "--python", str(python), "-r", requirements, *settings.args]
    if torch_backend:
        argv += ["--torch-backend", torch_backend]
    return argv


def torch_backend_notes(backend: str | None) -> tuple[str, ...]:
    if not backend:
        return ()
    note = (f"torch installed for the {backend} backend (uv --torch-backend {backend}): the tested environment "
            "differs from a GPU user's only by the torch build")
    return (note,)


def installer_environment(uv: str, settings: InstallerSettings, environ: Mapping[str, str]) -> dict[str, str]:
    """Variables for uv inside the sandbox: its own settings and caches, proxies, TLS roots, pip's translation."""
    env = {name: environ[name] for name in _INSTALLER_PASS if environ.get(name)}
    env.update({name: value for name, value in environ.items() if name.startswith("UV_")})
    env["XDG_CONFIG_HOME"] = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")  # uv.toml
    for name, value in _uv_locations(uv).items():
        env.setdefault(name, value)
    env.update({"NO_COLOR": "1", "UV_NO_PROGRESS": "1", "UV_PYTHON_DOWNLOADS": "never"})
    env.update(settings.env)
    return env


def installer_writable(env: Mapping[str, str], *targets: Path) -> list[Path]:
    """The folders an install writes: its targets and uv's cache, as their common folder when they share
    a file system below the root (uv hardlinks from its cache, and a link cannot cross two mounts)."""
    folders = [Path(target) for target in targets]
    if env.get("UV_CACHE_DIR") and not env.get("UV_NO_CACHE"):
        uv_cache = Path(env["UV_CACHE_DIR"])
        uv_cache.mkdir(parents=True, exist_ok=True)
        folders.append(uv_cache)
    resolved = [folder.resolve() for folder in folders if folder.is_dir()]
    if len(resolved) > 1 and len({folder.stat().st_dev for folder in resolved}) == 1:
        common = Path(os.path.commonpath(resolved))
        if common != Path(common.anchor):
            return [common]
    return resolved


@functools.cache
def _uv_locations(uv: str) -> dict[str, str]:
    """uv's cache and managed-Python folders as seen from here; the sandbox's scratch HOME would hide them."""
    found = {}
    for name, command in (("UV_CACHE_DIR", ["cache", "dir"]), ("UV_PYTHON_INSTALL_DIR", ["python", "dir"])):
        if os.environ.get(name):
            continue
        try:
            result = subprocess.run([uv, *command], check=False, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if result.returncode == 0 and result.stdout.strip():
            found[name] = result.stdout.strip()
    return found


def find_interpreter(uv: str, requested: str | None, environ: Mapping[str, str]) -> Interpreter:
    """The interpreter to build with: the requested version when uv finds one here, else this Python."""
    problem = ""
    if requested:
        env = {**environ, "UV_PYTHON_DOWNLOADS": "never"}
        try:
            found = subprocess.run([uv, "python", "find", "--system", requested], check=False, capture_output=True, text=True,
                                   timeout=120, env=env, cwd=tempfile.gettempdir())
        except (OSError, subprocess.TimeoutExpired) as exc:
            found = subprocess.CompletedProcess([], 1, "", str(exc))
        if found.returncode == 0 and found.stdout.strip():
            path = found.stdout.strip()
            return Interpreter(path, python_version(path) or requested, requested)
        lines = found.stderr.strip().splitlines()
        problem = lines[0].removeprefix("error: ") if lines else f"no Python {requested} was found"
    return Interpreter(sys.executable, platform.python_version(), requested, problem)


def python_version(path: str) -> str | None:
    try:
        result = subprocess.run([path, "-I", "-S", "-c", "import platform; print(platform.python_version())"],
                                check=False, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None


def cache_key(files: Mapping[str, bytes], interpreter: Interpreter, settings: InstallerSettings,
              torch_backend: str | None, environ: Mapping[str, str]) -> str:
    """sha256 of everything that decides what the environment holds."""
    material = {
        "format": CACHE_FORMAT,
        "files": {rel: hashlib.sha256(data).hexdigest() for rel, data in sorted(files.items())},
        "python": interpreter.version,
        "implementation": platform.python_implementation(),
        "platform": sysconfig.get_platform(),
        "libc": list(platform.libc_ver()),
        "installer": list(settings.args),
        "installer_env": sorted(settings.env.items()),
        "constraints": {path: _file_digest(path) for path in _constraint_files(settings.args)},
        "torch_backend": torch_backend,
        "uv_settings": {name: environ[name] for name in _UV_INSTALL_VARIABLES if environ.get(name)},
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:32]


def _constraint_files(args: tuple[str, ...]) -> list[str]:
    return [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--constraint"]


def _file_digest(path: str) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _remove_stale_builds(cache: Path) -> None:
    """Leftovers of builds that crashed or were killed more than a day ago."""
    now = time.time()
    for leftover in cache.glob("*.tmp-*"):
        try:
            if now - leftover.stat().st_mtime > STALE_TMP_S:
                remove_tree(leftover)
        except OSError:
            continue


def list_distributions(uv: str, python: Path) -> dict[str, str]:
    """Every distribution installed for `python`: canonical name -> version (uv reads the metadata; nothing runs)."""
    env = {name: value for name, value in os.environ.items() if not SECRET_NAME.search(name)}
    result = subprocess.run([uv, "pip", "list", "--format", "json", "--python", str(python)],
                            check=False, capture_output=True, text=True, timeout=120, env=env, cwd=python.parent)
    if result.returncode != 0:
        raise RuntimeError(f"uv pip list failed: {result.stderr.strip()[-500:]}")
    return {canonicalize_name(item["name"]): item["version"] for item in json.loads(result.stdout)}


def output_tail(completed: Completed, lines: int = TAIL_LINES) -> str:
    text = completed.stderr.strip() or completed.stdout.strip()
    return "\n".join(text.splitlines()[-lines:])


def _ending(completed: Completed) -> str:
    if completed.timed_out:
        return f"timed out after {completed.duration_s:.0f} s"
    if completed.killed_by:
        return f"was stopped ({completed.killed_by})"
    return f"exited with status {completed.returncode}"
