"""Rules of the docker builder (area runtime, MC380-MC389).

Kept apart from validator/runtime/environments/docker.py so the rule catalogue holds them without loading the
docker SDK; the environment check imports this module and reports a `BuildFailure` under its `rule`.
"""

from __future__ import annotations

from validator.core.catalogue import rule

RECREATE = "The guideline: 'the runtime can be recreated from the published environment file or container'."

DOCKER_BUILD_FAILED = rule("MC380")
DOCKER_ENGINE_UNREACHABLE = rule("MC381")
DOCKER_BASE_UNAVAILABLE = rule("MC382")
DOCKER_NO_PYTHON = rule("MC383")
DOCKER_FETCH_REFUSED = rule("MC384")
