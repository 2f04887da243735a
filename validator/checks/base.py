"""What a check is: a static one reads the package, a dynamic one also runs its code in the rebuilt environment."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from validator.core.findings import Area, Finding, Note
from validator.core.options import Options
from validator.core.records import ParityRecord
from validator.readers.package import ModelPackage
from validator.sandbox.base import Env


@dataclass(frozen=True)
class Skip:
    """The check does not apply to the package: it is recorded as skipped, with the reason."""

    reason: str


@dataclass
class Outcome:
    """What a dynamic check found, and what it adds to the report."""

    findings: list[Finding] = field(default_factory=list)
    skipped: str = ""  # a part that did not run, and why; with no findings the check is recorded as skipped
    notes: list[Note] = field(default_factory=list)  # run-level remarks for the report, each for its audience
    record: ParityRecord | None = None  # the report's parity object


class StaticCheck(ABC):
    """One area of the guideline, judged from the package's files alone."""

    name: ClassVar[str]
    area: ClassVar[Area]

    @abstractmethod
    def run(self, pkg: ModelPackage, options: Options) -> Iterable[Finding] | Skip:
        """The findings (consumed by the runner under the static time budget), or why the check does not apply."""


NOT_REBUILT = "the package environment was not rebuilt (see the runtime area)"


class DynamicCheck(ABC):
    """One area of the guideline that runs package code in the rebuilt environment."""

    name: ClassVar[str]
    area: ClassVar[Area]
    # False for a check that brings its own runtime (an Application Package's containers): it runs, with
    # env None, when the package defines no environment to rebuild, and never under --env none.
    needs_env: ClassVar[bool] = True

    @abstractmethod
    def run(self, pkg: ModelPackage, options: Options, env: Env | None) -> Outcome | Skip:
        """What running the package's code showed, or why the check does not apply."""
