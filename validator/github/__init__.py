"""Everything that knows GitHub: the run's context, the sticky PR comment, check runs and their
annotations, workflow commands, the job summary, step outputs and release-tag gating.

The core (validator/*) knows nothing of this package; this package reads reports, never packages,
except for release-tag gating, which reads the versions a package declares.
"""
