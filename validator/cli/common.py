"""What the subcommands share: exit codes, usage errors, the check options and how they become Options.

Exit codes: 0 nothing at or above --fail-on; 1 findings at or above it; 2 usage error or a
failure of model-check itself. A bad package is never exit 2.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from validator.core.findings import Severity
from validator.core.options import ENV_MODES, Options
from validator.runtime.environments.cache_dir import default_cache_dir

if TYPE_CHECKING:  # the configuration reader is imported where a run reads it: not at start-up (`--help`)
    from validator.pipeline.config import LoadedConfig

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
EXIT_CODES_EPILOG = f"""exit codes:
  {EXIT_OK}  no finding at or above --fail-on (the package passed)
  {EXIT_FINDINGS}  findings at or above --fail-on (the package failed; the reports say why)
  {EXIT_USAGE}  usage error (a bad option, a missing folder) or a failure of model-check itself;
     a bad package is never exit {EXIT_USAGE}"""
DEFAULTS = Options()  # the defaults --help shows are the ones a run uses


class UsageError(Exception):
    pass


def _float_in_unit(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError("must be in [0, 1)")
    return value


def _python_version(text: str) -> str:
    from validator.pipeline.config import is_python_version

    if not is_python_version(text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a Python version such as 3.11 or 3.12.1")
    return text.strip()


def _torch_backend(text: str) -> str:
    from validator.pipeline.config import SHAPES

    if not SHAPES["torch-backend"][0].fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(f"{text[:80]!r} is not auto, default or a torch backend name such as cpu or cu126")
    return text.strip()


def add_check_options(parser: argparse.ArgumentParser, env_default: str = DEFAULTS.env) -> None:
    """The options of a run; `env_default` is the --env a subcommand runs with when none is given."""
    out = parser.add_argument_group("reports")
    out.add_argument("--json", metavar="FILE", help="write the JSON report")
    out.add_argument("--markdown", metavar="FILE", help="write the Markdown report")
    out.add_argument("--sarif", metavar="FILE", help="write a SARIF 2.1.0 report")
    out.add_argument("--verbose", "-v", action="store_true", help="also print info findings")
    out.add_argument("--quiet", "-q", action="store_true", help="print only the verdict line")
    run = parser.add_argument_group("run")
    run.add_argument("--env", choices=ENV_MODES, help=f"how runtime checks run; none = static only (default: {env_default})")
    run.add_argument("--fail-on", choices=("error", "warning"),
                     help=f"lowest severity that fails the run (default: {DEFAULTS.fail_on.value})")
    run.add_argument("--rtol", type=_float_in_unit, help=f"relative tolerance of the parity check (default: {DEFAULTS.rtol:g})")
    run.add_argument("--atol", type=_float_in_unit, help=f"absolute tolerance of the parity check (default: {DEFAULTS.atol:g})")
    run.add_argument("--config", metavar="FILE", help="configuration file instead of the package's model-check.toml")
    run.add_argument("--timeout", type=float, dest="timeout_s", metavar="SECONDS",
                     help=f"wall-clock limit in seconds of each sandboxed step (default: {DEFAULTS.timeout_s:g}; a package can "
                          "only lower it)")
    run.add_argument("--notebook-timeout", type=float, dest="notebook_timeout_s", metavar="SECONDS",
                     help=f"per-cell limit in seconds of the example notebook (default: {DEFAULTS.notebook_timeout_s:g}; a "
                          "package can only lower it)")
    run.add_argument("--memory-mb", type=int, metavar="MIB",
                     help=f"memory limit of each sandboxed step in MiB (default: {DEFAULTS.memory_mb}; a package can only lower it)")
    run.add_argument("--network", action="store_true", default=None, help="allow the inference step network access (never secrets)")
    run.add_argument("--allow-network", action="store_true",
                     help="grant package code network access when the package's configuration asks for it (network = true)")
    run.add_argument("--allow-package-indexes", action="store_true",
                     help="follow package indexes and find-links the package's runtime files name (never on loopback, "
                          "link-local or private addresses); without it such a runtime is not built")
    env = parser.add_argument_group("environment")
    env.add_argument("--cache-dir", metavar="DIR", help=f"where rebuilt environments are cached (default: {default_cache_dir()}, "
                     "under $XDG_CACHE_HOME when set)")
    env.add_argument("--torch-backend", metavar="BACKEND", type=_torch_backend,
                     help="torch wheels of rebuilt environments: auto (default: cpu, unless an NVIDIA GPU is visible, "
                          "then the indexes' default build), cpu, cu126, ... (the PyTorch index of that build: uv "
                          "--torch-backend), or default (the package indexes' own build). Where the PyTorch index cannot "
                          "be reached, the configured indexes are used instead; the notes say which build was installed")
    env.add_argument("--python", type=_python_version, help="Python version to build the environment for, e.g. 3.11")
    env.add_argument("--base-image", help="base image of generated Dockerfiles")
    env.add_argument("--build-network", help="network of docker image builds (default: the engine's bridge; on an engine "
                     "without one, none: `host` gives builds the host's network, loopback included)")
    env.add_argument("--ca-bundle", help="CA bundle handed to installers (corporate proxies)")
    env.add_argument("--wheelhouse", help="folder of wheels handed to installers (air-gapped builds)")
    env.add_argument("--env-cache", metavar="DIR",
                     help="docker: keep the environment image as DIR/<key>.tar (the key follows the runtime files), "
                          "loaded and verified instead of a rebuild when present, written after a build; carry DIR "
                          "between CI jobs (e.g. actions/cache). Tarballs of other keys are left alone")
    env.add_argument("--fresh-env", action="store_true",
                     help="rebuild the environment, trusting no cache: no cached image, --env-cache tarball or "
                          "--cache-dir environment is reused (for release runs); a fresh build is still saved")


def options_from_args(args: argparse.Namespace, root: Path) -> tuple[Options, LoadedConfig]:
    from validator.pipeline.config import configure, read_package_config

    explicit = Path(args.config) if getattr(args, "config", None) else None
    if explicit is not None and not explicit.is_file():
        raise UsageError(f"--config {explicit}: no such file")
    loaded = read_package_config(root, explicit)
    flags = {
        "env": args.env,
        "fail_on": Severity(args.fail_on) if args.fail_on else None,
        "rtol": args.rtol,
        "atol": args.atol,
        "timeout_s": args.timeout_s,
        "notebook_timeout_s": args.notebook_timeout_s,
        "memory_mb": args.memory_mb,
        "network": args.network,
        "cache_dir": args.cache_dir,
        "torch_backend": args.torch_backend,
        "python": args.python,
        "base_image": args.base_image,
        "build_network": args.build_network,
        "ca_bundle": args.ca_bundle,
        "wheelhouse": args.wheelhouse,
        "env_cache": args.env_cache,
        "fresh_env": args.fresh_env or None,
        "allow_package_indexes": args.allow_package_indexes or None,
    }
    return configure(loaded, flags, allow_network=args.allow_network), loaded


REPORT_FILE_OPTIONS = (("--json", "json"), ("--markdown", "markdown"), ("--sarif", "sarif"))


def check_report_paths(args: argparse.Namespace) -> None:
    """Refuse report files model-check could not write, before anything runs: a report goes into a
    folder that exists (a mistyped path never creates folders), and is not itself a folder."""
    for flag, dest in REPORT_FILE_OPTIONS:
        target = getattr(args, dest, None)
        if not target:
            continue
        path = Path(target)
        folder = path.parent
        if not folder.is_dir():
            first = next((p for p in reversed((folder, *folder.parents)) if not p.is_dir()), folder)
            why = f"{first} is a file" if first.exists() else (f"{first} does not exist" if first != folder else "")
            raise UsageError(f"{flag} {target}: no folder {folder}{f' ({why})' if why else ''}; model-check creates no "
                             "folders for reports: create it first, or write the report elsewhere")
        if path.is_dir():
            raise UsageError(f"{flag} {target}: is a folder; give a file name")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise UsageError(f"{flag} {target}: the folder {folder} is not writable")


def resolve_package(path_text: str) -> Path:
    root = Path(path_text)
    if not root.exists():
        raise UsageError(f"{path_text}: no such directory")
    if not root.is_dir():
        raise UsageError(f"{path_text}: not a directory (give the package folder)")
    try:
        next(iter(root.iterdir()), None)
    except OSError as exc:
        raise UsageError(f"{path_text}: cannot be read ({exc.strerror or exc})") from None
    return root
