"""The registry's lists of check classes, each class imported when the runner first reaches it: the first
progress line of `model-check check` waits for the first check's module only, not for every check's
imports (CLI start-up, issue 16)."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence
from typing import TypeVar, overload

T = TypeVar("T")


class LazyChecks(Sequence[type[T]]):
    """Check classes named "module:Class" (a module of validator.checks), in order; each imported on first access."""

    def __init__(self, *names: str) -> None:
        self._names = names
        self._classes: list[type[T] | None] = [None] * len(names)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._names)

    @overload
    def __getitem__(self, index: int) -> type[T]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[type[T]]: ...

    def __getitem__(self, index: int | slice) -> type[T] | Sequence[type[T]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        found = self._classes[index]  # IndexError past the end ends iteration
        if found is None:
            module, _, name = self._names[index].partition(":")
            with self._lock:
                found = getattr(importlib.import_module(f"validator.checks.{module}"), name)
                self._classes[index] = found
        return found

    def __repr__(self) -> str:
        return f"LazyChecks({', '.join(self._names)})"
