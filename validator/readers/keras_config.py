"""The configuration of a Keras v3 `.keras` file (a zip: config.json, metadata.json, model.weights.h5),
read as data: which layers hold a Python lambda serialised as bytecode.

Keras writes a `Lambda` layer's anonymous function as `{"class_name": "__lambda__", "config": {"code":
<base64 marshal>}}`; loading it runs that bytecode, which is why `keras.saving.load_model` refuses it
under `safe_mode=True`. Only the zip's central directory and config.json (bounded) are read; nothing
is unmarshalled or evaluated.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_CONFIG_BYTES = 16 * 1024 * 1024
MAX_NODES = 200_000  # dictionaries and lists walked in one config


@dataclass(frozen=True)
class KerasConfig:
    lambdas: list[str] = field(default_factory=list)  # the layers holding serialised bytecode, by name
    problem: str | None = None  # why config.json could not be read


def read_keras_config(path: Path) -> KerasConfig:
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("config.json")
            if info.file_size > MAX_CONFIG_BYTES:
                return KerasConfig(problem=f"config.json is {info.file_size:,} bytes, more than model-check reads")
            with archive.open(info) as handle:
                data = handle.read(MAX_CONFIG_BYTES + 1)
        config = json.loads(data.decode("utf-8"))
    except (KeyError, OSError, ValueError, RecursionError, zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
        return KerasConfig(problem=f"config.json cannot be read: {type(exc).__name__}: {exc}")
    lambdas, complete = _lambdas(config)
    return KerasConfig(lambdas=lambdas, problem=None if complete else
                       f"config.json holds more than {MAX_NODES:,} objects, more than model-check walks")


def _lambdas(config: Any) -> tuple[list[str], bool]:
    """Names of the layers (or paths) under which a `__lambda__` object is serialised; and whether the
    whole config was walked (padding could otherwise hide a lambda past the bound)."""
    found: list[str] = []
    named: set[str] = set()  # `found` as a set: a config of 100,000 lambdas is linear, not quadratic
    stack: list[tuple[Any, str]] = [(config, "")]
    seen = 0
    while stack and seen < MAX_NODES:
        node, layer = stack.pop()
        seen += 1
        if isinstance(node, dict):
            inner = node.get("config")
            name = inner.get("name") if isinstance(inner, dict) and isinstance(inner.get("name"), str) else None
            here = f"{node.get('class_name')} layer {name!r}" if name and isinstance(node.get("class_name"), str) else layer
            if node.get("class_name") == "__lambda__" and (here or "a function") not in named:
                named.add(here or "a function")
                found.append(here or "a function")
            stack.extend((value, here) for value in node.values())
        elif isinstance(node, list):
            stack.extend((value, layer) for value in node)
    return found, not stack
