"""Where rebuilt environments are cached by default: a module of its own, light enough for the command line's
start-up (`--help` shows the default)."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "model-check" / "envs"
