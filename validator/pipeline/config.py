"""Options of a run: defaults, then the package's model-check.toml / [tool.model-check], then flags.

The package's configuration is untrusted input: a malformed file becomes a finding (rule MC002),
never an exception, and what it asks for is a request the caller's settings bound (`configure`):

- it never disables or lowers a security rule (`Rule.security`): refused, MC003;
- its time and memory limits can only lower the caller's (flag or default): a higher one is
  clamped, MC003; `network = true` is granted only when the caller allows it (--allow-network);
- `python` is a version number, never a path (also in a --config file): anything else is MC002.

Every rule a configuration disables or lowers (the package's or the caller's --config) is a
`Relaxation`: listed in every report format and refused by the release gate.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from validator.core.catalogue import rule_named
from validator.core.findings import Severity
from validator.core.options import ENV_MODES, ConfigProblem, Options, Relaxation
from validator.readers.locate import search_lines

# Limits a package's configuration may lower, never raise.
LIMITS = {"timeout_s": ("timeout", "s", "--timeout"), "notebook_timeout_s": ("notebook-timeout", "s", "--notebook-timeout"),
          "memory_mb": ("memory-mb", "MiB", "--memory-mb"),
          # parity tolerances: a package may tighten them, never loosen the guideline's (or the caller's)
          "rtol": ("rtol", "", "--rtol"), "atol": ("atol", "", "--atol")}
_PYTHON_VERSION = re.compile(r"\d+\.\d+(\.\d+)?")
# Values that become one word of a command line or a Dockerfile line: one token, no option syntax.
SHAPES = {
    "base-image": (re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}"), "an image reference such as \"python:3.11-slim\""),
    "torch-backend": (re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}"), "a torch backend name such as \"cpu\" or \"cu126\", or \"auto\" / \"default\""),
}


# Keys accepted in the configuration file, with how to read each one.
_FILE_KEYS = {
    "env", "fail-on", "rtol", "atol", "disable", "severity", "native", "network",
    "inference-command", "timeout", "memory-mb", "torch-backend", "python", "base-image",
    "notebook-timeout",
}


@dataclass(frozen=True)
class LoadedConfig:
    values: dict[str, Any]
    source: str | None
    problems: list[ConfigProblem]
    lines: dict[str, int] = field(default_factory=dict)  # "network", "disable:MC104", "severity:MC310" -> line
    explicit: bool = False  # --config: the caller's own file, not the package's

    def line(self, key: str) -> int | None:
        return self.lines.get(key)


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
        mine = explicit is not None
        try:
            text = path.read_text(encoding="utf-8")
            data = tomllib.loads(text)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            where = re.search(r"at line (\d+)", str(exc))
            return LoadedConfig({}, rel, [ConfigProblem(f"cannot read {rel}: {exc}", rel, int(where.group(1)) if where else None)],
                                explicit=mine)
        tool = data.get("tool", {}).get("model-check") if isinstance(data.get("tool"), dict) else None
        if nested and tool is None:
            continue
        table = tool if tool is not None else data
        if not isinstance(table, dict):
            return LoadedConfig({}, rel, [ConfigProblem("the configuration must be a table", rel)], explicit=mine)
        lines = _key_lines(text.splitlines(), table, nested=tool is not None)
        values, problems = _validate(table, rel, lines)
        return LoadedConfig(values, rel, problems, lines, mine)
    return LoadedConfig({}, None, [])


def _display(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _key_lines(lines: list[str], table: dict[str, Any], nested: bool) -> dict[str, int]:
    """Where each key (and each rule named under disable / severity) is written: best effort, for findings."""
    start = next((n for n, text in enumerate(lines) if re.match(r"\s*\[+\s*tool\.\s*[\"']?model-check", text)), 0) if nested else 0

    def find(pattern: str, after: int = start) -> int | None:
        return search_lines(lines, re.compile(pattern), after, skip_comments=True)

    found: dict[str, int] = {}
    for key in table:
        line = find(rf"(^|[\s{{,.\[])[\"']?{re.escape(str(key))}[\"']?\s*(=|\])")
        if line is not None:
            found[str(key)] = line
    for key in table.get("disable", []) if isinstance(table.get("disable"), list) else []:
        line = find(rf"[\"']{re.escape(str(key))}[\"']", found.get("disable", 1) - 1)
        if line is not None:
            found[f"disable:{key}"] = line
    for key in table.get("severity", {}) if isinstance(table.get("severity"), dict) else {}:
        line = find(rf"(^|[\s{{,])[\"']?{re.escape(str(key))}[\"']?\s*=", found.get("severity", 1) - 1)
        if line is not None:
            found[f"severity:{key}"] = line
    return found


def _validate(table: dict[str, Any], source: str, lines: dict[str, int]) -> tuple[dict[str, Any], list[ConfigProblem]]:
    values: dict[str, Any] = {}
    problems: list[ConfigProblem] = []
    key = ""

    def bad(msg: str) -> None:
        problems.append(ConfigProblem(msg, source, lines.get(key)))

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
        elif key in SHAPES:  # becomes a word of an installer's command line or of a generated Dockerfile
            if not isinstance(value, str) or not SHAPES[key][0].fullmatch(value.strip()):
                bad(f"{key} must be {SHAPES[key][1]}, not {str(value)[:80]!r}; it was ignored")
            else:
                values[key.replace("-", "_")] = value.strip()
        elif key == "python":  # a version for the builder to find, never a path to execute
            if not isinstance(value, str) or not is_python_version(value.strip()):
                bad(f"python must be a version number such as \"3.11\" or \"3.12.1\", not {str(value)[:80]!r}; "
                    "it was ignored (the builder uses its default interpreter)")
            else:
                values["python"] = value.strip()
        else:  # plain strings
            if not isinstance(value, str) or not value.strip():
                bad(f"{key} must be a non-empty string")
            else:
                values[key.replace("-", "_")] = value.strip()
    return values, problems


def is_python_version(text: str) -> bool:
    """"3.11", "3.12.1": what `python` in a configuration, and --python, may say."""
    return _PYTHON_VERSION.fullmatch(text) is not None


def _is_rule(key: str) -> bool:
    return rule_named(key) is not None


def merge(file_values: dict[str, Any], flag_values: dict[str, Any]) -> Options:
    """Defaults, overridden by the file, overridden by flags (flags given as None are unset).

    The file is taken as the caller's own; `configure` is the merge for a package's file."""
    known = {f.name for f in fields(Options)}
    merged = {k: v for k, v in file_values.items() if k in known}
    merged.update({k: v for k, v in flag_values.items() if v is not None and k in known})
    return replace(Options(), **merged)


def configure(loaded: LoadedConfig, flags: dict[str, Any], allow_network: bool = False) -> Options:
    """The options of a run: the caller's (defaults, a --config file, flags) and what of the
    package's configuration they allow. Records every relaxation and every refused request."""
    if loaded.explicit or loaded.source is None:  # no package configuration: the caller's own
        options = merge(loaded.values, flags)
        return replace(options, relaxations=tuple(_relaxations(loaded, loaded.values, "--config")))
    caller = merge({}, flags)
    refused: list[ConfigProblem] = []

    def refuse(key: str, message: str) -> None:
        refused.append(ConfigProblem(message, loaded.source or "", loaded.line(key)))

    values = _bound_rules(dict(loaded.values), refuse)
    for name, (key, unit, flag) in LIMITS.items():
        if values.get(name, 0) > getattr(caller, name):
            limit = f"{_number(getattr(caller, name))}{' ' + unit if unit else ''}"
            refuse(key, f"{key} = {_number(values[name])} is above the caller's limit of {limit}, which applies; "
                        f"a package can only lower it (the caller raises it with {flag})")
        values[name] = min(values.get(name, getattr(caller, name)), getattr(caller, name))
    if values.get("network") and not caller.network and not allow_network:
        refuse("network", "network = true asks for network access for package code; the caller did not allow it "
                          "(--allow-network, action input allow-network), so package code runs without network")
    values["network"] = caller.network or (bool(values.get("network")) and allow_network)
    if values.get("env") == "none":  # skipping every runtime check is the caller's choice (--env none) alone
        refuse("env", "env = \"none\" would skip the environment rebuild, parity and the inference example; only the "
                      "caller can choose a static run (--env none), so the runtime checks run as usual")
        values.pop("env")
    problem = _registry_problem(values.get("base_image"))
    if problem:
        refuse("base-image", f"base-image = {values.pop('base_image')!r}: its registry {problem}; package sources on "
                             "loopback, link-local, private-use or unspecified addresses are never followed. It was ignored")
    bounded = {name: values.pop(name) for name in (*LIMITS, "network")}  # decided above: flags do not override them
    options = replace(merge(values, flags), **bounded)
    return replace(options, relaxations=tuple(_relaxations(loaded, values, "package")), refused=tuple(refused))


def _bound_rules(values: dict[str, Any], refuse: Callable[[str, str], None]) -> dict[str, Any]:
    """`values` without the disable and severity entries that would switch off or lower a security rule."""
    disable = set()
    for key in sorted(values.get("disable", ())):
        rule = rule_named(key)
        if rule is not None and rule.security:
            refuse(f"disable:{key}", f"disable {key}: {rule.id} {rule.name} is a security rule, which a package's "
                                     "configuration cannot switch off; it was checked as usual")
        else:
            disable.add(key)
    severity = {}
    for key, level in sorted(values.get("severity", {}).items()):
        rule = rule_named(key)
        if rule is not None and rule.security and level.rank < rule.severity.rank:
            refuse(f"severity:{key}", f"severity {key} = {level.value!r}: {rule.id} {rule.name} is a security rule, "
                                      f"which a package's configuration cannot lower; it stays at {rule.severity.value}")
        else:
            severity[key] = level
    return {**values, "disable": frozenset(disable), "severity": severity}


def _registry_problem(image: str | None) -> str | None:
    """Why the registry of a package's base image must not be contacted, or None."""
    from validator.scanners.package_sources import host_problem, image_registry, netloc_host

    registry = image_registry(image) if image else None
    return host_problem(netloc_host(registry)) if registry else None


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _relaxations(loaded: LoadedConfig, values: dict[str, Any], origin: str) -> list[Relaxation]:
    """The rules `values` (of `loaded`) disable or set below their default severity."""
    found: list[Relaxation] = []
    source = loaded.source or ""
    for key in sorted(values.get("disable", ())):
        rule = rule_named(key)
        if rule is not None:
            found.append(Relaxation(rule.id, "disabled", source, loaded.line(f"disable:{key}"), origin))
    for key, level in sorted(values.get("severity", {}).items()):
        rule = rule_named(key)
        if rule is not None and level.rank < rule.severity.rank:
            found.append(Relaxation(rule.id, f"severity {rule.severity.value}->{level.value}", source,
                                    loaded.line(f"severity:{key}"), origin))
    return found
