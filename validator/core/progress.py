"""Progress of a run as its callers see it: a callback told of each step as it starts and, between steps,
of the lines an installer or image build prints (`OutputLine`), so that a long build is not silent."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str], None]  # a step starting ("runtime: environment rebuild"), or an OutputLine


class OutputLine(str):
    """One line an installer or image build printed, passed to a Progress callback between steps.

    Package-derived (a Dockerfile's RUN output, a requirement's name): whoever shows it redacts and
    escapes it first, as all package output."""
