"""The machine's pip configuration, translated into uv's flags, so a machine with a private mirror,
a wheelhouse or a proxy CA builds package environments with uv the way pip would install them.

pip's view is read with pip itself (`pip config list`: pip.conf files of every level plus PIP_*
variables); without pip beside model-check only the PIP_* variables are read. uv's own settings
(UV_* variables, uv.toml) are left alone and win over the translated pip setting they overlap.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

# Sections pip reads for `pip install`, strongest first: PIP_* variables, [install], [global].
_SECTIONS = (":env:", "install", "global")


@dataclass(frozen=True)
class PipSettings:
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    cert: str | None = None
    no_index: bool = False
    source: str = "pip config list"


@dataclass(frozen=True)
class InstallerSettings:
    """What the installer is told: flags for `uv pip install`, variables for uv, notes for the report."""

    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@functools.cache
def read_pip_settings(python: str = sys.executable) -> PipSettings:
    values = _pip_config_list(python)
    source = "pip config list"
    if values is None:
        values = {f":env:.{name[4:].lower().replace('_', '-')}": value
                  for name, value in os.environ.items() if name.startswith("PIP_")}
        source = "PIP_* variables (pip is not installed beside model-check, so pip.conf files were not read)"

    def get(key: str) -> str | None:
        return next((values[f"{s}.{key}"] for s in _SECTIONS if f"{s}.{key}" in values), None)

    def many(key: str) -> tuple[str, ...]:
        return tuple((get(key) or "").split())

    no_index = (get("no-index") or "").strip().lower() in ("1", "true", "yes", "on")
    return PipSettings(get("index-url"), many("extra-index-url"), many("find-links"), many("constraint"),
                       many("trusted-host"), get("cert"), no_index, source)


def _pip_config_list(python: str) -> dict[str, str] | None:
    """`pip config list` as {"section.key": value}, or None when pip cannot be run."""
    try:
        result = subprocess.run([python, "-m", "pip", "config", "list"], check=False, capture_output=True, text=True,
                                timeout=60, env=_pip_environment(os.environ), stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    values = {}
    for line in result.stdout.splitlines():
        key, sep, literal = line.partition("=")
        if not sep:
            continue
        try:  # pip prints each value as a Python string literal; this is pip's output, never package content
            value = ast.literal_eval(literal)
        except (ValueError, SyntaxError):
            continue
        values[key.strip()] = str(value)
    return values


def _pip_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """What pip needs to find its configuration: PATH, HOME, locale, XDG folders, VIRTUAL_ENV and the
    PIP_* variables; never the whole environment."""
    kept = ("PATH", "HOME", "LANG", "LC_ALL", "VIRTUAL_ENV")
    return {name: value for name, value in environ.items() if name in kept or name.startswith(("PIP_", "XDG_"))}


def installer_settings(pip: PipSettings, environ: Mapping[str, str], ca_bundle: str | None = None,
                       wheelhouse: str | None = None) -> InstallerSettings:
    """Translate pip's settings into `uv pip install` flags, leaving every uv setting that is set alone."""
    # the installer runs in a folder of its own: paths given relative to this process's folder made absolute
    ca_bundle, wheelhouse = (os.path.abspath(path) if path else path for path in (ca_bundle, wheelhouse))
    args: list[str] = []
    env: dict[str, str] = {}
    honoured: list[str] = []
    notes: list[str] = []

    def uv_sets(*names: str) -> bool:
        return any(environ.get(name) for name in names)

    if pip.no_index and not uv_sets("UV_NO_INDEX"):
        args.append("--no-index")
        honoured.append("no-index")
    if pip.index_url and not uv_sets("UV_INDEX_URL", "UV_DEFAULT_INDEX"):
        args += ["--index-url", pip.index_url]
        honoured.append(f"index-url {redact(pip.index_url)}")
    if pip.extra_index_urls and not uv_sets("UV_EXTRA_INDEX_URL", "UV_INDEX"):
        for url in pip.extra_index_urls:
            args += ["--extra-index-url", url]
        honoured.append("extra-index-url " + " ".join(redact(u) for u in pip.extra_index_urls))
        if not uv_sets("UV_INDEX_STRATEGY"):
            args += ["--index-strategy", "unsafe-best-match"]
            notes.append("pip's configuration names extra indexes; uv was run with --index-strategy unsafe-best-match "
                         "to pick versions across all indexes as pip does (uv's default, first-index, guards "
                         "against dependency confusion; set UV_INDEX_STRATEGY to choose otherwise)")
    links = list(pip.find_links) if not uv_sets("UV_FIND_LINKS") else []
    if links:
        honoured.append("find-links " + " ".join(links))
    if wheelhouse:
        if uv_sets("UV_FIND_LINKS"):  # a flag replaces the variable: carry its entries over
            links += [link for link in environ["UV_FIND_LINKS"].split(",") if link]
        links.append(wheelhouse)
        notes.append(f"wheelhouse {wheelhouse} handed to the installer (--find-links)")
    for link in links:
        args += ["--find-links", link]
    if pip.constraints and not uv_sets("UV_CONSTRAINT"):
        for path in pip.constraints:
            args += ["--constraint", path]
        honoured.append("constraint " + " ".join(pip.constraints))
    if pip.trusted_hosts and not uv_sets("UV_INSECURE_HOST"):
        for host in pip.trusted_hosts:
            args += ["--allow-insecure-host", host]
        honoured.append("trusted-host " + " ".join(pip.trusted_hosts))
    if ca_bundle:
        env["SSL_CERT_FILE"] = ca_bundle
        notes.append(f"CA bundle {ca_bundle} handed to the installer (SSL_CERT_FILE)")
    elif pip.cert and not environ.get("SSL_CERT_FILE"):
        env["SSL_CERT_FILE"] = pip.cert
        honoured.append(f"cert {pip.cert}")
    if honoured:
        notes.insert(0, f"pip configuration honoured by uv (read from {pip.source}): " + "; ".join(honoured))
    return InstallerSettings(tuple(args), env, tuple(notes))


def redact(url: str) -> str:
    """A URL with the password of its user info replaced by ***."""
    return re.sub(r"://([^/@\s:]+):[^/@\s]+@", r"://\1:***@", url)
