"""The PyGithub connection to the run's repository (GITHUB_API_URL, so GitHub Enterprise works)."""

from __future__ import annotations

import logging

from github import Auth, Github
from github.Repository import Repository

from validator import __version__
from validator.github.context import GitHubContext

WRITE_PAUSE_S = 1.0  # GitHub asks integrations to pause about a second between writes


def connect(context: GitHubContext, token: str, write_pause_s: float | None = WRITE_PAUSE_S) -> Repository:
    """A lazy handle on the repository: no request is made until one is needed."""
    logging.getLogger("github").setLevel(logging.WARNING)  # its retry logger echoes every 403 at INFO
    client = Github(
        auth=Auth.Token(token),
        base_url=context.api_url,
        user_agent=f"model-check/{__version__}",
        timeout=30,
        lazy=True,
        seconds_between_requests=None,
        seconds_between_writes=write_pause_s or None,
    )
    return client.get_repo(context.repository)
