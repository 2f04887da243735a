"""What a check is, and the context it runs in."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from validator.core.findings import Area, Finding
from validator.core.options import Options
from validator.readers.package import ModelPackage

if TYPE_CHECKING:
    from validator.sandbox.base import Env


@dataclass
class Context:
    """Everything a check may read. Later checks read what earlier ones stored in `results`."""

    pkg: ModelPackage
    options: Options
    results: dict[str, Any] = field(default_factory=dict)
    env: Env | None = None  # the rebuilt package environment, once the runtime check made it
    notes: list[str] = field(default_factory=list)  # run-level remarks for the report


class Check:
    """One area of the guideline. Subclasses set `name` and `area` and implement `run`."""

    name: ClassVar[str]
    area: ClassVar[Area]
    dynamic: ClassVar[bool] = False  # runs package code: skipped with --env none

    def skip_reason(self, ctx: Context) -> str | None:
        """Why this check does not apply to the package, or None when it does."""
        return None

    def run(self, ctx: Context) -> Iterable[Finding]:
        raise NotImplementedError
