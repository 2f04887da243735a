"""Options of a run: defaults, then the package's model-check.toml / [tool.model-check], then flags.

The package's configuration is untrusted input: a malformed file becomes a finding (rule MC002),
never an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .model import Area, Severity
from .rules import define

import tomllib

ENV_MODES = ("auto", "venv", "docker", "conda", "none")

CONFIG_INVALID = define(
    "MC002",
    "config-invalid",
    Area.LAYOUT,
    Severity.ERROR,
    "The package's model-check configuration cannot be used",
    "model-check.toml (or [tool.model-check] in pyproject.toml) configures how this package is checked.",
    "Fix the value named in the message; see the README's configuration section for every key.",
)


@dataclass(frozen=True)
class Options:
    env: str = "auto"
    fail_on: Severity = Severity.ERROR
    rtol: float = 1e-4
    atol: float = 1e-4
    disable: frozenset[str] = frozenset()
    severity: dict[str, Severity] = field(default_factory=dict)
    native: str | None = None  # "module:function" building the native model
    network: bool = False  # the package declares that inference needs the network
    inference_command: str | None = None
    timeout_s: float = 600.0  # wall-clock limit of one sandboxed step
    memory_mb: int = 8192
    cache_dir: str | None = None
    torch_backend: str | None = None  # e.g. "cpu": install CPU-only torch wheels
    python: str | None = None  # Python version to build the environment for
    base_image: str | None = None
    build_network: str | None = None  # network of docker image builds; None: the engine's bridge, else "host"
    ca_bundle: str | None = None
    wheelhouse: str | None = None
    notebook_timeout_s: float = 300.0
    schema_dir: str | None = None


# Keys accepted in the configuration file, with how to read each one.
_FILE_KEYS = {
    "env", "fail-on", "rtol", "atol", "disable", "severity", "native", "network",
    "inference-command", "timeout", "memory-mb", "torch-backend", "python", "base-image",
    "notebook-timeout",
}


@dataclass(frozen=True)
class ConfigProblem:
    message: str
    file: str
    line: int | None = None


@dataclass(frozen=True)
class LoadedConfig:
    values: dict[str, Any]
    source: str | None
    problems: list[ConfigProblem]


def read_package_config(root: Path, explicit: Path | None = None) -> LoadedConfig:
    """Read the configuration table of a package (or an explicit file); never raises."""
    candidates: list[tuple[Path, bool]] = []
    if explicit is not None:
        candidates.append((explicit, False))
    else:
        candidates += [(root / "model-check.toml", False), (root / "pyproject.toml", True)]
    for path, nested in candidates:
        if not path.is_file():
            continue
        rel = _display(path, root)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            where = re.search(r"at line (\d+)", str(exc))
            return LoadedConfig({}, rel, [ConfigProblem(f"cannot read {rel}: {exc}", rel, int(where.group(1)) if where else None)])
        if nested:
            table = data.get("tool", {}).get("model-check")
            if table is None:
                continue
        else:
            table = data.get("tool", {}).get("model-check", data)
        if not isinstance(table, dict):
            return LoadedConfig({}, rel, [ConfigProblem("the configuration must be a table", rel)])
        return _validate(table, rel)
    return LoadedConfig({}, None, [])


def _display(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _validate(table: dict[str, Any], source: str) -> LoadedConfig:
    values: dict[str, Any] = {}
    problems: list[ConfigProblem] = []

    def bad(msg: str) -> None:
        problems.append(ConfigProblem(msg, source))

    for key, value in table.items():
        if key not in _FILE_KEYS:
            bad(f"unknown key {key!r}; known keys: {', '.join(sorted(_FILE_KEYS))}")
            continue
        if key == "env":
            if value not in ENV_MODES:
                bad(f"env must be one of {', '.join(ENV_MODES)}, not {value!r}")
            else:
                values["env"] = value
        elif key == "fail-on":
            if value not in ("error", "warning"):
                bad(f"fail-on must be 'error' or 'warning', not {value!r}")
            else:
                values["fail_on"] = Severity(value)
        elif key in ("rtol", "atol"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                bad(f"{key} must be a number in [0, 1), not {value!r}")
            else:
                values[key] = float(value)
        elif key == "disable":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                bad("disable must be a list of rule ids or names")
            else:
                values["disable"] = frozenset(value)
                for rule in value:
                    if not _is_rule(rule):
                        bad(f"disable: {rule!r} is not a rule id or name (see `model-check rules`)")
        elif key == "severity":
            if not isinstance(value, dict):
                bad("severity must be a table of rule = 'error' | 'warning' | 'info'")
                continue
            sev: dict[str, Severity] = {}
            for rule, level in value.items():
                if not _is_rule(str(rule)):
                    bad(f"severity: {rule!r} is not a rule id or name (see `model-check rules`)")
                elif level not in ("error", "warning", "info"):
                    bad(f"severity of {rule} must be error, warning or info, not {level!r}")
                else:
                    sev[str(rule)] = Severity(level)
            values["severity"] = sev
        elif key == "network":
            if not isinstance(value, bool):
                bad("network must be true or false")
            else:
                values["network"] = value
        elif key in ("timeout", "notebook-timeout"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 86400:
                bad(f"{key} must be a number of seconds in (0, 86400]")
            else:
                values["timeout_s" if key == "timeout" else "notebook_timeout_s"] = float(value)
        elif key == "memory-mb":
            if isinstance(value, bool) or not isinstance(value, int) or not 256 <= value <= 1 << 20:
                bad("memory-mb must be a whole number of MiB, at least 256")
            else:
                values["memory_mb"] = value
        else:  # plain strings
            if not isinstance(value, str) or not value.strip():
                bad(f"{key} must be a non-empty string")
            else:
                values[key.replace("-", "_")] = value.strip()
    return LoadedConfig(values, source, problems)


def _is_rule(key: str) -> bool:
    from .rules import all_rules

    return any(key in (rule.id, rule.name) for rule in all_rules())


def merge(file_values: dict[str, Any], flag_values: dict[str, Any]) -> Options:
    """Defaults, overridden by the file, overridden by flags (flags given as None are unset)."""
    known = {f.name for f in fields(Options)}
    merged = {k: v for k, v in file_values.items() if k in known}
    merged.update({k: v for k, v in flag_values.items() if v is not None and k in known})
    return replace(Options(), **merged)
