"""Folders of a package that model-check never reads or copies: version control, caches, environments."""

SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".ipynb_checkpoints", ".venv", "venv",
                          "node_modules", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox"})
