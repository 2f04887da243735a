"""How model-check runs uv: the variables, files and folders an install sees. Two kinds of installs:

- wheels only (`shared=True`): uv unpacks binary wheels (`--no-build`) and no package code runs,
  so it may use the shared uv cache. That cache is its only writable folder, and the build folder
  lies inside it, so uv can still hardlink (a link cannot cross two bind mounts: copying a 5 GB
  torch environment instead takes about 28 s here, hardlinking 1.6 s). It keeps the index
  credentials the caller gave uv (user info in URLs, uv's configuration file). uv builds editable
  requirements even with --no-build (astral-sh/uv#20234): those never get a wheels-only install.
- with install-time code (`shared=False`): sdists, local paths and VCS URLs are built, which runs
  package code. It gets a private uv cache inside its own build folder, the only folder it can
  write, and no credentials: no uv configuration file, only the UV_* settings that never hold
  secrets, and the user info of every URL removed.

uv never reads configuration the package brings (pyproject.toml, uv.toml in its folder): the
caller's uv.toml is named explicitly (UV_CONFIG_FILE), or none is read (UV_NO_CONFIG).
"""

from __future__ import annotations

import errno
import functools
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from validator.runtime.environments.pipconfig import InstallerSettings
from validator.sandbox.bubblewrap import refusal, remove_tree

BUILDS_DIR = "model-check-builds"  # wheels-only build folders, inside uv's cache
STALE_S = 24 * 3600  # leftovers of killed runs older than this are removed

# Variables the installer needs beside the sandbox's allowlist: proxies and TLS roots.
_PASS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy",
         "SSL_CERT_FILE", "SSL_CERT_DIR")
# uv settings that never hold credentials: an install with install-time code keeps them.
_UV_PLAIN = frozenset({
    "UV_INDEX_STRATEGY", "UV_PRERELEASE", "UV_RESOLUTION", "UV_EXCLUDE_NEWER", "UV_TORCH_BACKEND", "UV_NO_BINARY",
    "UV_NO_BINARY_PACKAGE", "UV_NO_INDEX", "UV_CONSTRAINT", "UV_OVERRIDE", "UV_BUILD_CONSTRAINT", "UV_HTTP_TIMEOUT",
    "UV_REQUEST_TIMEOUT", "UV_HTTP_RETRIES", "UV_CONCURRENT_DOWNLOADS", "UV_CONCURRENT_BUILDS",
    "UV_CONCURRENT_INSTALLS", "UV_NATIVE_TLS", "UV_INSECURE_HOST", "UV_OFFLINE", "UV_PYTHON_INSTALL_DIR", "UV_NO_CACHE"})
# uv settings naming package sources: their URLs may carry user:password@, removed for install-time code.
_UV_LOCATIONS = frozenset({"UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX_URL", "UV_INDEX", "UV_FIND_LINKS"})
# Set by model-check for every install, whatever the caller's environment says: they decide what runs,
# which configuration is read and what is written where.
_UV_OWN = frozenset({"UV_COMPILE_BYTECODE", "UV_LINK_MODE", "UV_CACHE_DIR", "UV_CONFIG_FILE", "UV_NO_CONFIG",
                     "UV_NO_BUILD_ISOLATION", "UV_PYTHON", "UV_SYSTEM_PYTHON", "UV_PYTHON_DOWNLOADS", "UV_NO_PROGRESS"})
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,20}://)[^/@\s]{1,1024}@")  # bounded: linear in the text
_PATH_OPTIONS = ("--find-links", "--index-url", "--extra-index-url", "--constraint")


@dataclass(frozen=True)
class Installer:
    """One kind of uv install: its variables and extra flags, what it may read, the cache it writes."""

    env: dict[str, str]
    args: tuple[str, ...]  # the translated pip settings, for `uv pip install`
    readable: tuple[Path, ...]  # local indexes, wheelhouses, constraint files, TLS roots, uv.toml
    shared_cache: Path | None  # uv's cache when this install uses it (wheels only), else None
    notes: tuple[str, ...] = ()


def tool_environment(environ: Mapping[str, str], prefixes: Iterable[str] = ()) -> dict[str, str]:
    """Variables for a trusted tool model-check runs on the host (uv's queries, pip config list): PATH,
    HOME, locale and XDG folders, and the variables with the given prefixes. Never os.environ whole."""
    wanted = tuple(prefixes)
    return {name: value for name, value in environ.items()
            if name in ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "PYENV_ROOT", "PYENV_VERSION") or name.startswith("XDG_")
            or (wanted and name.startswith(wanted))}


def installer(uv: str, settings: InstallerSettings, environ: Mapping[str, str], private_cache: Path | None = None) -> Installer:
    """The install for `settings`: wheels only with the shared cache, or (private_cache given) the one
    that runs install-time code, with that cache and no credentials."""
    shared = private_cache is None
    env = {name: environ[name] for name in _PASS if environ.get(name)}
    withheld: list[str] = []
    for name, value in environ.items():
        if not name.startswith("UV_") or name in _UV_OWN:
            continue
        if shared or name in _UV_PLAIN:
            env[name] = value
        elif name in _UV_LOCATIONS:
            env[name] = strip_userinfo(value)
        else:
            withheld.append(name)
    locations = uv_locations(uv, tuple(sorted(tool_environment(environ, ("UV_",)).items())))
    env.setdefault("UV_PYTHON_INSTALL_DIR", locations.get("UV_PYTHON_INSTALL_DIR", ""))
    cache = None
    cache_note = ""
    if private_cache is not None:
        env["UV_CACHE_DIR"] = str(private_cache)
        env.pop("UV_NO_CACHE", None)
    elif not environ.get("UV_NO_CACHE") and locations.get("UV_CACHE_DIR"):
        cache = Path(environ.get("UV_CACHE_DIR") or locations["UV_CACHE_DIR"])
        env["UV_CACHE_DIR"] = str(cache)
        if refusal(cache) is not None:  # e.g. a cache directly in /tmp or a home folder: never bound
            cache_note = f"uv's cache {cache} is not used ({refusal(cache)}): every install fetches afresh"
            cache = None
            env.update({"UV_NO_CACHE": "1", "UV_CACHE_DIR": ""})
    config = uv_config_file(environ) if shared else None
    if config is not None:
        env["UV_CONFIG_FILE"] = str(config)
    else:
        env["UV_NO_CONFIG"] = "1"
    env.update({"NO_COLOR": "1", "UV_NO_PROGRESS": "1", "UV_PYTHON_DOWNLOADS": "never"})
    env.update(settings.env)
    args = settings.args
    if not shared:
        stripped = {name: strip_userinfo(value) for name, value in env.items()}
        args = tuple(strip_userinfo(arg) for arg in args)
        if stripped != env or args != settings.args:
            withheld.append("the user:password of index and proxy URLs")
        env = stripped
        config = uv_config_file(environ)
        if config is not None:
            withheld.append(f"uv's configuration file {config}")
    env = {name: value for name, value in env.items() if value}
    notes: tuple[str, ...] = (f"index credentials are not given to the build that runs install-time code: "
                              f"{', '.join(withheld)} withheld",) if withheld and not shared else ()
    if cache_note:
        notes += (cache_note,)
    readable, hidden = _local_sources(args, env)
    if hidden:
        notes += (f"not visible to the installer (the sandbox hides these folders): {', '.join(hidden)}",)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    return Installer(env, args, tuple(readable), cache, notes)


def strip_userinfo(text: str) -> str:
    """Every URL in text without its user info (`https://user:token@host` -> `https://host`)."""
    return _USERINFO.sub(r"\1", text)


def _local_sources(args: tuple[str, ...], env: Mapping[str, str]) -> tuple[list[Path], list[str]]:
    """The files and folders of the machine the installer reads: local indexes and wheelhouses, constraint
    files, TLS roots, uv.toml. (Those the package names lie in its working copy, which the sandbox shows.)"""
    values = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg in _PATH_OPTIONS]
    for name in ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX_URL", "UV_INDEX", "UV_FIND_LINKS", "UV_CONSTRAINT",
                 "UV_CONFIG_FILE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        values += re.split(r"[\s,]+", env.get(name, ""))
    readable: list[Path] = []
    hidden: list[str] = []
    for value in values:
        path = _local_path(_index_url(value))
        if path is None or not path.exists():
            continue
        # A file index's pages link to files beside it (simple/x/index.html -> ../../files/x.whl).
        candidates = [path.parent, path] if path.name == "simple" else [path]
        allowed = next((candidate for candidate in candidates if refusal(candidate) is None), None)
        if allowed is None:
            hidden.append(str(path))
        else:
            readable.append(allowed)
    return list(dict.fromkeys(readable)), list(dict.fromkeys(hidden))


def _index_url(value: str) -> str:
    """The URL of a UV_INDEX entry, which may be written `name=url`."""
    name, sep, url = value.partition("=")
    return url if sep and "://" in url and "://" not in name else value


def _local_path(value: str) -> Path | None:
    if value.startswith("file:"):
        return Path(unquote(urlsplit(value).path))
    if "://" in value or not os.path.isabs(value):
        return None
    return Path(value)


def uv_config_file(environ: Mapping[str, str]) -> Path | None:
    """The caller's uv configuration: UV_CONFIG_FILE, else the user's uv.toml, else the system's."""
    if environ.get("UV_CONFIG_FILE"):
        return Path(environ["UV_CONFIG_FILE"])
    home = environ.get("HOME") or str(Path.home())
    candidates = [Path(environ.get("XDG_CONFIG_HOME") or Path(home, ".config")) / "uv" / "uv.toml"]
    candidates += [Path(folder) / "uv" / "uv.toml" for folder in (environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":") if folder]
    candidates.append(Path("/etc/uv/uv.toml"))
    return next((path for path in candidates if path.is_file()), None)


@functools.cache
def uv_locations(uv: str, environ: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """uv's cache and managed-Python folders as the caller's settings place them (the sandbox's scratch
    HOME would move them)."""
    env = dict(environ)
    found = {}
    for name, command in (("UV_CACHE_DIR", ["cache", "dir"]), ("UV_PYTHON_INSTALL_DIR", ["python", "dir"])):
        if env.get(name):
            found[name] = env[name]
            continue
        try:
            result = subprocess.run([uv, *command], check=False, capture_output=True, text=True, timeout=60,
                                    env={**env, "NO_COLOR": "1"}, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if result.returncode == 0 and result.stdout.strip():
            found[name] = result.stdout.strip()
    return found


def build_area(install: Installer, fallback: Path, prefix: str) -> tuple[Path, list[Path]]:
    """A new empty folder for a wheels-only build and the folders the build may write.

    With the shared uv cache the folder lies inside it and the cache is the one writable folder: uv
    hardlinks from it. Binding the cache read-write is acceptable ONLY because no package code runs in
    a wheels-only install (--no-build, no editables). Otherwise the folder is made in `fallback`."""
    parent = install.shared_cache / BUILDS_DIR if install.shared_cache else fallback
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale(parent, "*" if install.shared_cache else f"{prefix}*")  # BUILDS_DIR holds only model-check's
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    return folder, [install.shared_cache] if install.shared_cache else [folder]


def remove_stale(folder: Path, pattern: str) -> None:
    """Leftovers of runs that crashed or were killed more than a day ago."""
    now = time.time()
    for leftover in folder.glob(pattern):
        try:
            if now - leftover.lstat().st_mtime > STALE_S:
                remove_tree(leftover)
        except OSError:
            continue


def move_into_place(source: Path, target: Path) -> bool:
    """Rename source to target (copying across file systems); False when target exists already."""
    try:
        source.rename(target)
        return True
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            if target.exists():
                return False
            raise
    if target.exists():
        return False
    shutil.move(str(source), str(target))
    return True
