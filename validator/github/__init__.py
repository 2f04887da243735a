"""Everything that knows GitHub: the run's context, the sticky PR comment, check runs and their
annotations, workflow commands, the job summary, step outputs and release-tag gating.

May import the pipeline, reporters and every layer below; nothing below imports it. It reads reports,
never packages, except for release-tag gating, which reads the versions a package declares.
"""
