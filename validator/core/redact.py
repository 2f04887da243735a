"""The second line of defence: secret values and token shapes are cut out of text that reaches a report.

The sandbox passes no secret to package code and hides the files that hold them; `redact` catches
what gets through anyway (a token printed from a file, a credential in an index URL). It replaces
- the values (>= 6 characters) of model-check's own variables whose names look secret (SECRET_NAME)
  and hold a secret word (TOKEN, KEY, PASSWORD…): not the context that SECRET_NAME keeps from
  package code by prefix alone (GITHUB_WORKSPACE, RUNNER_OS, DOCKER_HOST), nor values that are paths
  of existing files (a CA bundle, not a credential);
- common token shapes: GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_), AWS access key
  ids, `x-access-token:…@`, `Authorization: Bearer|Basic|token …`, passwords in URLs.
Every pattern is linear in the text (literals, or runs with bounded repetition).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 6  # shorter values ("1", "true") would redact ordinary words

# Variables never passed to package code, and whose values are redacted from its output.
SECRET_NAME = re.compile(
    r"^(GITHUB_|ACTIONS_|RUNNER_|AWS_|AZURE_|ARM_|GOOGLE_|GCP_|GCLOUD_|CLOUDSDK_|SSH_|GPG_|GH_|NPM_|TWINE_|DOCKER_)"
    r"|TOKEN|SECRET|KEY|PASSWORD|PASSWD|CREDENTIAL|AUTH|COOKIE|SESSION",
    re.IGNORECASE,
)
_SECRET_WORD = re.compile(r"TOKEN|SECRET|KEY|PASSWORD|PASSWD|CREDENTIAL|AUTH|COOKIE|SESSION", re.IGNORECASE)

_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,255}|github_pat_[A-Za-z0-9_]{20,255})"), REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), REDACTED),
    (re.compile(r"(x-access-token:)[^@\s]{1,1024}@", re.IGNORECASE), rf"\1{REDACTED}@"),
    (re.compile(r"\b(authorization:[ \t]*(?:bearer|basic|token)[ \t]+)[^\s'\"]{1,4096}", re.IGNORECASE),
     rf"\1{REDACTED}"),
    (re.compile(r"\b([a-z][a-z0-9+.-]{0,20}://[^\s/:@]{1,256}:)[^\s/@]{1,1024}@", re.IGNORECASE), rf"\1{REDACTED}@"),
)


def secret_values(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The values of secret-looking variables (of this process by default), longest first."""
    found = set()
    for name, value in (os.environ if environ is None else environ).items():
        if len(value) < MIN_SECRET_LENGTH or not SECRET_NAME.search(name):
            continue
        if not _SECRET_WORD.search(name):  # GITHUB_WORKSPACE, RUNNER_OS, DOCKER_HOST, AWS_REGION: context, not secrets
            continue
        if value.startswith("/") and os.path.exists(value):
            continue
        found.add(value)
    return tuple(sorted(found, key=lambda value: (-len(value), value)))


@functools.lru_cache(maxsize=16)
def _values_pattern(values: tuple[str, ...]) -> re.Pattern[str] | None:
    """One alternation of the literal values, compiled once per set of secrets (longest first wins)."""
    return re.compile("|".join(re.escape(value) for value in values)) if values else None


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` with secret values and token shapes replaced by [REDACTED]."""
    if not text:
        return text
    pattern = _values_pattern(secret_values(environ))
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    for shape, replacement in _SHAPES:
        text = shape.sub(replacement, text)
    return text


def redact_data(value: Any) -> Any:
    """`value` (JSON-like data) with `redact` applied to every string in it, keys included."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(key): redact_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(item) for item in value]
    return value
