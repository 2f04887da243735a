"""The venv builder: a fresh virtual environment made with uv from the package's requirements.txt.

- Python: the version the package names (or --python) when uv finds one on this machine;
  otherwise the machine's own, and the environment check says so.
- Installing, in the sandbox (validator.runtime.environments.installer says what each kind of install sees):
  1. wheels only: `uv pip install --no-build`; no package code runs, so uv may use (and write) its
     shared cache and hardlink from it. Requirements with an editable install skip this: uv builds
     editables whatever the flags.
  2. when something must be built (an sdist, a local path, a VCS URL, an editable): a fresh folder
     with a private uv cache, the only folder the build can write. Install-time code runs there
     without credentials, under the sandbox's limits, with network access (this machine cannot
     restrict it to the package indexes), and the report says all of it.
  Bytecode is compiled in the sandbox by the environment's interpreter (`-I -S`: no .pth file
  runs), with only the environment writable, before the environment is recorded: for the modules
  that importing its packages loads (validator.runtime.environments.bytecode). After each step,
  bin/python must still be the link `uv venv` made, or the build fails.
- Cache: one folder per key (the sha256 of the requirements files, Python, platform and installer
  settings), for environments of wheels from package indexes only. An environment that ran
  install-time code, holds a distribution installed from a URL or a path, or whose requirements
  name a local package source depends on more than its key: it is private to this run
  (<cache>/private/<random>, removed at exit) and never reused.
  A cached environment carries a manifest (validator.runtime.environments.manifest) and is verified before
  reuse: bin/python the link the builder made, every entry as recorded; otherwise it is rebuilt
  and the report says why.
- Nothing of a package environment runs outside the sandbox: its distributions are read from
  their metadata files (validator.runtime.environments.installed).
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from validator.core.options import Options
from validator.core.progress import OutputLine
from validator.readers.package import ModelPackage
from validator.readers.runtime_spec import RuntimeSpec
from validator.runtime.environments.builder import BuildFailure, BuildInfo, Progress, with_replacements
from validator.runtime.environments.cache_dir import default_cache_dir
from validator.runtime.environments.cpu_pins import flag_of, for_requirements, torch_in, write_derived
from validator.runtime.environments.host_env import HostEnv
from validator.runtime.environments.installed import distributions, site_packages
from validator.runtime.environments.installer import (
    Installer,
    build_area,
    installer,
    move_into_place,
    remove_stale,
    tool_environment,
)
from validator.runtime.environments.manifest import MAX_RECORD_BYTES, difference_in_child, record
from validator.runtime.environments.pipconfig import InstallerSettings, installer_settings, read_pip_settings
from validator.runtime.environments.torch_backend import (
    GpuProbe,
    TorchChoice,
    backend_notes,
    choose,
    fallback_note,
    index_unresolvable,
    machine_gpu,
    remember_unreachable,
    unreachable_earlier,
    uv_unreachable,
)
from validator.sandbox.base import Completed, Limits
from validator.sandbox.bubblewrap import program_paths, remove_tree, run_sandboxed, scratch_copy

CACHE_FORMAT = "model-check-venv-3"  # change it when the layout of cached environments changes (3: manifest, verified)
MARKER = "model-check-env.json"  # the record, written last, before the rename: its presence means complete
PRIVATE = "private"  # environments of one run, never reused
TOOL_LAYERS = "tool-layers"  # validator.runtime.tool_layer's folder in the cache, shown read-only to package code
MARKER_MAX_BYTES = MAX_RECORD_BYTES
TAIL_LINES = 40
NETWORK_NOTE = ("the build had network access: the installer fetches from the package indexes, and this machine "
                "cannot restrict the network to them")
# uv's refusal under --no-build: something has to be built (an sdist, a local path, a VCS URL).
_NEEDS_BUILD = re.compile(r"Building source distributions (?:for `[^`]+` )?is disabled|is disabled, but attempted to build")
_BUILT = re.compile(r"^\s*Built (.+?)\s*$", re.M)
_COMMENT = re.compile(r"(?:^|\s)#.*$")
# uv settings that change what gets installed, part of the cache key when set.
_UV_INSTALL_VARIABLES = ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX_URL", "UV_INDEX", "UV_FIND_LINKS",
                         "UV_NO_INDEX", "UV_INDEX_STRATEGY", "UV_CONSTRAINT", "UV_OVERRIDE", "UV_PRERELEASE",
                         "UV_RESOLUTION", "UV_EXCLUDE_NEWER", "UV_TORCH_BACKEND", "UV_NO_BINARY", "UV_NO_BUILD",
                         "UV_CONFIG_FILE")


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


@dataclass(frozen=True)
class _NeedsBuild:
    """The wheels-only install stopped: something must be built."""


@dataclass
class _TorchInstall:
    """The torch backend of one build: chosen, then what uv gets (None after a fallback), and the fallback's note."""

    choice: TorchChoice
    backend: str | None
    fallback: str = ""

    @classmethod
    def start(cls, choice: TorchChoice) -> _TorchInstall:
        earlier = unreachable_earlier() if choice.backend else None
        if earlier is None:
            return cls(choice, choice.backend)
        return cls(choice, None, fallback_note(choice, earlier, earlier=True))

    def notes(self) -> tuple[str, ...]:
        return backend_notes(self.choice, self.backend is not None) + ((self.fallback,) if self.fallback else ())


@functools.cache
def uv_binary() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


class VenvEnv(HostEnv):
    kind = "venv"

    def __init__(self, prefix: Path, info: BuildInfo, cache: Path | None = None) -> None:
        super().__init__(prefix, info)
        if cache is not None:
            self.also_readable = (cache / TOOL_LAYERS,)

    def environment_variables(self) -> dict[str, str]:
        return {**super().environment_variables(), "VIRTUAL_ENV": str(self.prefix)}

    def installed(self) -> dict[str, str]:
        return list_distributions(self.prefix)


class VenvBuilder:
    kind = "venv"

    def __init__(self, uv: str | None = None, environ: Mapping[str, str] | None = None,
                 gpu: GpuProbe = machine_gpu) -> None:
        self.uv = uv or uv_binary()
        self.environ = dict(os.environ if environ is None else environ)
        self.gpu = gpu  # what shows an NVIDIA GPU here (for --torch-backend auto)

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
        torch = _TorchInstall.start(choose(options.torch_backend, self.gpu))
        other_definitions = {pkg.find("environment.yml", "environment.yaml"), pkg.find("Dockerfile")}
        files = [f for f in spec.files_read if f not in other_definitions] or [requirements]
        cpu = for_requirements(pkg, spec, files, torch.choice.backend)  # GPU-only pins replaced for a CPU build
        cpu_notes = cpu.notes(flag_of(torch.choice.requested))
        # keyed by the backend asked for: an environment made again without the unreachable PyTorch index is
        # kept under that key with the fallback recorded, so that later runs reuse it at once and say so
        key = cache_key({rel: pkg.path(rel).read_bytes() for rel in files if pkg.has(rel)}, interpreter, settings,
                        torch.choice.backend, self.environ, [item.shown() for item in cpu.replaced])
        cache = Path(options.cache_dir).expanduser() if options.cache_dir else default_cache_dir()
        final = cache / key
        notes: list[str] = list(cpu_notes)

        def info(cached: bool, private: bool) -> BuildInfo:
            return BuildInfo("venv", requirements, interpreter.version, requested, interpreter.problem,
                             None if private else key, cached, time.monotonic() - started, torch.backend,
                             settings.notes + tuple(notes), torch.notes(), tuple(cpu.replaced))

        refresh = False  # fetch every file afresh: a changed cached environment shares files with uv's cache
        if options.fresh_env:  # trust no cache: neither the environment nor the files in uv's cache
            refresh = True
            if os.path.lexists(final):
                notes.append(f"--fresh-env: the cached environment {key} was not reused but rebuilt, with every file "
                             "fetched afresh (uv --refresh)")
                remove_tree(final)
        if os.path.lexists(final):
            problem, changed = verify(final)
            if problem is None:
                say("environment: cached venv")
                recorded = recorded_fallback(final)  # what its build did, whatever this run met so far
                torch.backend = None if recorded else torch.choice.backend
                torch.fallback = f"when this cached environment was built, {recorded}" if recorded else ""
                notes.append("the cached environment was verified before reuse: bin/python is the link its build made, "
                             "and every file's size, mode and modification time are as recorded then")
                return VenvEnv(final, info(True, False), cache)
            if changed:  # uv hardlinks from its cache: the changed files may be its own
                notes.append(f"the cached environment {key} was not reused but rebuilt, with every file fetched afresh "
                             f"(uv --refresh): {problem}")
            else:
                notes.append(f"the cached environment {key} was not reused but rebuilt: {problem}")
            remove_tree(final)
            refresh = changed
        try:
            cache.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return BuildFailure(f"cannot create the environment cache {cache}: {exc.strerror or exc}; "
                                "choose a writable folder with --cache-dir")
        remove_stale(cache, "*.tmp-*")
        notes.append(NETWORK_NOTE)
        # torch named in the runtime and the PyTorch index's host unknown here: uv would fail on it after its retries
        if torch.backend and torch_in(spec, files) and (unresolved := index_unresolvable(torch.backend)):
            remember_unreachable(unresolved)
            torch.backend, torch.fallback = None, fallback_note(torch.choice, unresolved)
        workdir = scratch_copy(pkg.root)
        area: Path | None = None
        try:
            write_derived(workdir, cpu.texts)  # the build's own copy: the package is never changed
            forced = install_time_code(workdir, files)
            if forced is None:
                say(f"environment: uv venv (Python {interpreter.version}), wheels only")
                install = installer(self.uv, settings, self.environ)
                notes.extend(install.notes)
                area, writable = build_area(install, cache, f"{key}.tmp-")
                built = self._create(area / "env", workdir, requirements, interpreter, install, writable, options, False,
                                     torch, refresh, say)
                if isinstance(built, BuildFailure):
                    return with_replacements(built, cpu.replaced, cpu_notes)
                if not isinstance(built, _NeedsBuild):
                    local = local_content(area / "env", spec, files)
                    if local is None:
                        kept = self._keep(area / "env", final, interpreter, requirements, torch)
                        return VenvEnv(kept, info(False, False), cache)
                    notes.append(f"the environment is private to this run and not reused: {local}")
                    private = private_root(cache) / "env"
                    move_into_place(area / "env", private)
                    return VenvEnv(private, info(False, True), cache)
                forced = "a requirement must be built from source (an sdist, a local path or a VCS URL)"
            say(f"environment: uv venv (Python {interpreter.version}), building from source")
            root = private_root(cache)
            install = installer(self.uv, settings, self.environ, root / "uv-cache")
            notes.extend(install.notes)
            built = self._create(root / "env", workdir, requirements, interpreter, install, [root], options, True, torch,
                                 say=say)
            remove_tree(root / "uv-cache")
            if isinstance(built, BuildFailure):
                remove_tree(root)
                return with_replacements(built, cpu.replaced, cpu_notes)
            assert isinstance(built, list)  # a build from source never stops for needing one
            what = "; ".join(name.replace(workdir.as_uri(), ".") for name in built) or forced
            notes.append(f"install-time code ran ({what}): the environment was built with a private cache, in a "
                         "folder only that build could write, and is not reused; install-time code ran with network "
                         "access")
            return VenvEnv(root / "env", info(False, True), cache)
        finally:
            remove_tree(workdir)
            if area is not None:
                remove_tree(area)

    def installer_settings(self, options: Options) -> InstallerSettings:
        return installer_settings(read_pip_settings(), self.environ, options.ca_bundle, options.wheelhouse)

    def _create(self, target: Path, workdir: Path, requirements: str, interpreter: Interpreter, install: Installer,
                writable: Sequence[Path], options: Options, build: bool, torch: _TorchInstall,
                refresh: bool = False, say: Progress | None = None) -> BuildFailure | _NeedsBuild | list[str]:
        """Make the environment at target: uv venv, uv pip install, compile; what uv built when it worked.
        When uv cannot reach the PyTorch index, the install is made again without it (torch says so).
        uv's lines go to `say` as they come (OutputLine), so that a long install is not silent."""
        limits = install_limits(options)
        base = program_paths([interpreter.path], "")  # the interpreter uv makes the venv for, named in the arguments
        made = run_sandboxed(venv_argv(self.uv, interpreter.path, target), workdir, limits, install.env, writable,
                             [*install.readable, *base])
        link = interpreter_link(target)
        if made.returncode != 0 or link is None:
            return BuildFailure(f"uv could not create a virtual environment for Python {interpreter.version}"
                                f" ({_ending(made)})", output_tail(made), requirements)
        def install_with(backend: str | None) -> Completed:
            argv = install_argv(self.uv, target / "bin" / "python", requirements, install.args, backend, build)
            return run_sandboxed([*argv, "--refresh"] if refresh else argv, workdir, limits, install.env, writable,
                                 install.readable, (lambda line: say(OutputLine(line))) if say else None)

        done = install_with(torch.backend)
        if done.returncode != 0 and torch.backend and (unreachable := uv_unreachable(done.stderr + done.stdout)):
            remember_unreachable(unreachable)  # later builds of this run skip the attempt
            torch.backend, torch.fallback = None, fallback_note(torch.choice, unreachable)
            done = install_with(None)
        if done.returncode != 0:
            if not build and _NEEDS_BUILD.search(done.stderr):
                return _NeedsBuild()
            return BuildFailure(f"{requirements} does not install in a fresh environment: uv {_ending(done)}",
                                output_tail(done), requirements, install.notes + ((torch.fallback,) if torch.fallback else ()))
        built = _BUILT.findall(done.stderr + done.stdout)
        if not build and built:  # uv's documented exceptions to --no-build are screened out before: fail closed
            return BuildFailure(f"uv built {', '.join(built)} during the wheels-only install, where no package code "
                                f"may run; the uv cache ({install.env.get('UV_CACHE_DIR', 'uv cache dir')}) may hold "
                                "what that code wrote: clear it (uv cache clean)", output_tail(done), requirements)
        if interpreter_link(target) != link:
            return _replaced(requirements, link, done)
        compiled = compile_bytecode(target, limits)
        if interpreter_link(target) != link:
            return _replaced(requirements, link, done)
        if compiled.timed_out:
            return BuildFailure(f"compiling the environment's bytecode {_ending(compiled)}", output_tail(compiled),
                                requirements)
        return built

    def _keep(self, built: Path, final: Path, interpreter: Interpreter, requirements: str, torch: _TorchInstall) -> Path:
        """Record the built environment and move it into the cache; the folder to use."""
        link = interpreter_link(built)
        (built / MARKER).write_text(json.dumps({
            "format": CACHE_FORMAT, "python": interpreter.version, "requirements": requirements, "interpreter": link,
            "torch_fallback": torch.fallback if torch.backend is None else "",
            "manifest": record(built, frozenset({MARKER}))}), encoding="utf-8")
        if move_into_place(built, final) or verify(final)[0] is None:  # or a concurrent run finished it first
            return final
        private = private_root(final.parent) / "env"
        move_into_place(built, private)
        return private


def _replaced(requirements: str, link: str, done: Completed) -> BuildFailure:
    return BuildFailure(f"install-time code of {requirements} replaced the environment's interpreter (bin/python is "
                        f"no longer the link to {link} that uv venv made); model-check never runs such an interpreter",
                        output_tail(done), requirements)


TEST_SUITES = r"/tests?/|/testing/_internal/"  # compileall -x: paths of the distributions' test suites
BYTECODE_SCRIPT = Path(__file__).with_name("bytecode.py")  # run as -c TEXT: nothing to mount, nothing imported here


def compile_bytecode(prefix: Path, limits: Limits) -> Completed:
    """Write the bytecode of the modules that importing the environment's packages loads
    (validator.runtime.environments.bytecode), in the sandbox, by the environment's interpreter
    (`-I -S`: no .pth file runs; nothing is imported from the environment), only the environment writable."""
    script = BYTECODE_SCRIPT.read_text(encoding="utf-8")
    argv = [str(prefix / "bin" / "python"), "-I", "-S", "-c", script, str(prefix / "lib")]
    return run_sandboxed(argv, prefix, limits, {}, [prefix])


def compile_folder(python: Path | str, folder: Path, writable: Path, limits: Limits) -> Completed:
    """Write the bytecode of every module under folder (a tool layer) in the sandbox, with only `writable` writable.

    Package code later runs with the folder read-only and could not cache bytecode itself.
    `-I -S` skips site-packages' .pth files, the only code that would run; compileall does not
    import what it compiles. Files that do not compile (Python 2 leftovers of some wheels) are skipped, and so
    are the distributions' own test suites (`tests/` and `test/` folders)."""
    argv = [str(python), "-I", "-S", "-m", "compileall", "-q", "-j", "0", "-x", TEST_SUITES, str(folder)]
    return run_sandboxed(argv, writable, limits, {}, [writable])


def interpreter_link(prefix: Path) -> str | None:
    """Where bin/python links to, or None when it is not a symlink."""
    try:
        return os.readlink(prefix / "bin" / "python")
    except OSError:
        return None


def verify(prefix: Path) -> tuple[str | None, bool]:
    """Why the cached environment at prefix must not be reused (None: it may), and whether that is a
    change since its build. Reusable: its record is ours and current, bin/python is the link the
    builder made, and every entry matches the manifest."""
    try:
        with open(prefix / MARKER, "rb") as handle:
            marker = json.loads(handle.read(MARKER_MAX_BYTES))
    except (OSError, ValueError):
        return f"its record ({MARKER}) is missing or unreadable (an interrupted build)", False
    if not isinstance(marker, dict) or marker.get("format") != CACHE_FORMAT:
        return "it was made by another version of model-check", False
    link = interpreter_link(prefix)
    if link is None or link != marker.get("interpreter"):
        return f"bin/python is no longer the link to {marker.get('interpreter')} the builder made", True
    if not (prefix / "bin" / "python").exists():
        return f"the interpreter it links to ({link}) is gone", False
    problem = difference_in_child(prefix, prefix / MARKER, "manifest", frozenset({MARKER}))
    return problem, problem is not None


def private_root(cache: Path) -> Path:
    """A new folder for an environment of this run only, removed at exit (or by a run a day later)."""
    parent = cache / PRIVATE
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale(parent, "*")
    root = Path(tempfile.mkdtemp(prefix="env-", dir=parent))
    atexit.register(remove_tree, root)
    return root


def install_time_code(workdir: Path, files: Sequence[str]) -> str | None:
    """Why the requirements cannot get a wheels-only install, read ahead of uv: an editable install
    (uv builds those even with --no-build), or an include model-check cannot read first (a URL, a
    file outside the package). None when nothing stands in the way."""
    root = workdir.resolve()
    pending = [root / rel for rel in files]
    seen: set[Path] = set()
    while pending:
        path = pending.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        rel = path.relative_to(root)
        text = path.read_text(encoding="utf-8", errors="replace").replace("\\\n", " ")
        for number, line in enumerate(text.splitlines(), 1):
            words = _COMMENT.sub("", line).split()
            for word, following in zip(words, [*words[1:], ""], strict=False):  # "" pairs with the last word; no word, no pair
                if word.startswith(("-e", "--ed")):  # -e, -e./x, --editable and pip's abbreviations of it
                    return f"an editable install, {rel} line {number}"
                target = _include_target(word, following)
                if target is None:
                    continue
                if "://" in target:
                    return f"an include fetched from a URL, {rel} line {number}"
                included = (path.parent / target).resolve()
                if included != root and root not in included.parents:
                    return f"an include from outside the package, {rel} line {number}"
                pending.append(included)
    return None


def _include_target(word: str, following: str) -> str | None:
    """The file a requirements-file word includes (-r/-c FILE, -rFILE, --requirement=FILE), or None."""
    if word in ("-r", "-c", "--requirement", "--constraint"):
        return following or None
    for flag in ("--requirement=", "--constraint=", "-r", "-c"):
        if word.startswith(flag) and len(word) > len(flag):
            return word[len(flag):].lstrip("=") or None
    return None


def local_content(prefix: Path, spec: RuntimeSpec, files: Sequence[str]) -> str | None:
    """Why an environment depends on more than its cache key (the requirements' text): a distribution
    installed from a URL or a path, or a package source of the package's own on this machine."""
    direct = sorted(info.name.split("-")[0] for folder in site_packages(prefix)
                    for info in folder.glob("*.dist-info") if (info / "direct_url.json").is_file())
    if direct:
        return f"{', '.join(direct)} installed from a URL or a path, not from a package index"
    local = [f"{option} {value}" for option, value, file, _ in spec.index_options
             if file in files and ("://" not in value or value.startswith("file:"))]
    if local:
        return f"the requirements name a package source in the package ({'; '.join(local)})"
    return None


def venv_argv(uv: str, python: str, target: Path) -> list[str]:
    return [uv, "venv", "--relocatable", "--no-project", "--python", python, str(target)]


def install_argv(uv: str, python: Path | str, requirements: str, args: Sequence[str], torch_backend: str | None,
                 build: bool = False) -> list[str]:
    """The `uv pip install` command line for a package's requirements file (relative to the workdir):
    wheels only unless `build`; hardlinks and no bytecode whatever uv's configuration says."""
    argv = [uv, "pip", "install", "--python", str(python), "-r", requirements, *args, "--link-mode", "hardlink",
            "--no-compile-bytecode"]
    if not build:
        argv.append("--no-build")
    if torch_backend:
        argv += ["--torch-backend", torch_backend]
    return argv


def recorded_fallback(prefix: Path) -> str:
    """The fallback note a cached environment's record keeps ("" when its build reached the PyTorch index)."""
    try:
        with open(prefix / MARKER, "rb") as handle:
            marker = json.loads(handle.read(MARKER_MAX_BYTES))
    except (OSError, ValueError):
        return ""
    value = marker.get("torch_fallback") if isinstance(marker, dict) else None
    return value if isinstance(value, str) else ""


def find_interpreter(uv: str, requested: str | None, environ: Mapping[str, str]) -> Interpreter:
    """The interpreter to build with: the requested version when uv finds one here, else this Python."""
    problem = ""
    if requested:
        env = {**tool_environment(environ, ("UV_",)), "UV_PYTHON_DOWNLOADS": "never", "UV_NO_CONFIG": "1"}
        try:
            found = subprocess.run([uv, "python", "find", "--system", requested], check=False, capture_output=True,
                                   text=True, timeout=120, env=env, cwd=tempfile.gettempdir(), stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            found = subprocess.CompletedProcess([], 1, "", str(exc))
        if found.returncode == 0 and found.stdout.strip():
            path = found.stdout.strip()
            return Interpreter(path, python_version(path) or requested, requested)
        lines = found.stderr.strip().splitlines()
        problem = lines[0].removeprefix("error: ") if lines else f"no Python {requested} was found"
    return Interpreter(sys.executable, platform.python_version(), requested, problem)


def python_version(path: str) -> str | None:
    """The version of a machine interpreter uv found (never one of a package environment)."""
    try:
        result = subprocess.run([path, "-I", "-S", "-c", "import platform; print(platform.python_version())"],
                                check=False, capture_output=True, text=True, timeout=60, env={"LANG": "C.UTF-8"},
                                stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None


def cache_key(files: Mapping[str, bytes], interpreter: Interpreter, settings: InstallerSettings,
              torch_backend: str | None, environ: Mapping[str, str], replaced: Sequence[str] = ()) -> str:
    """sha256 of everything that decides what the environment holds (`replaced`: the GPU-only pins a CPU build
    replaced, which also follow the package's code: a kept triton)."""
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
    if replaced:
        material["cpu_replacements"] = list(replaced)
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:32]


def _constraint_files(args: tuple[str, ...]) -> list[str]:
    return [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--constraint"]


def _file_digest(path: str) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def list_distributions(prefix: Path) -> dict[str, str]:
    """Every distribution installed in the environment at prefix: canonical name -> version, read from
    the metadata files (its interpreter is never run outside the sandbox)."""
    return distributions(prefix)


def output_tail(completed: Completed, lines: int = TAIL_LINES) -> str:
    text = completed.stderr.strip() or completed.stdout.strip()
    return "\n".join(text.splitlines()[-lines:])


def _ending(completed: Completed) -> str:
    if completed.timed_out:
        return f"timed out after {completed.duration_s:.0f} s"
    if completed.killed_by:
        return f"was stopped ({completed.killed_by})"
    return f"exited with status {completed.returncode}"
