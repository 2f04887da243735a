"""Area runtime (static part): the runtime definitions pin what they install."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Iterable

from ..model import Area, Finding, Severity
from ..rules import define
from ..runtime_spec import read_runtime
from .base import Check, Context

PIN_RATIONALE = "The guideline: 'Pin the dependencies used to export and validate the model.'"
UNPINNED = define(
    "MC301", "requirement-unpinned", Area.RUNTIME, Severity.ERROR, "A dependency is not pinned to an exact version",
    PIN_RATIONALE,
    "Pin it with == to the version you used (e.g. `pip freeze` from the environment that validated the model).",
)
INVALID = define(
    "MC302", "runtime-invalid", Area.RUNTIME, Severity.ERROR, "A runtime definition cannot be parsed",
    "The guideline: the runtime can be recreated from the published environment file or container.",
    "Fix the line named in the message so pip / conda / docker can read the file.",
)
INCLUDE = define(
    "MC303", "requirement-include-outside", Area.RUNTIME, Severity.ERROR, "An -r/-c include is outside the package or missing",
    "The guideline: the published artefact should run from a clean environment without manual setup steps.",
    "Ship the included file inside the package and refer to it by a relative path.",
)
INDEX_OPTION = define(
    "MC304", "requirement-index-option", Area.RUNTIME, Severity.WARNING, "The runtime names its own package index or links",
    "The guideline: no credentials, private paths, or unpublished data are required to run inference.",
    "Make sure every user can reach this index without credentials, or publish the packages on PyPI / conda-forge. "
    "model-check builds the environment from it only when the caller passes --allow-package-indexes (MC354).",
)
EDITABLE = define(
    "MC305", "requirement-editable", Area.RUNTIME, Severity.ERROR, "An editable (-e) install in the runtime",
    PIN_RATIONALE,
    "Replace the editable install with a pinned release or a commit-pinned VCS URL.",
)
CHANNELS = define(
    "MC306", "conda-channels-missing", Area.RUNTIME, Severity.WARNING, "environment.yml names no channels",
    "The guideline: the runtime can be recreated from the published environment file.",
    "Name the channels (e.g. conda-forge) in environment.yml.",
)
BASE_IMAGE = define(
    "MC307", "docker-base-unpinned", Area.RUNTIME, Severity.ERROR, "Dockerfile base image is not pinned",
    "The guideline: use a container when system libraries matter; the same principle of pinning applies.",
    "Use a specific tag, ideally with a digest: FROM python:3.11.9-slim-bookworm@sha256:…",
)
BASE_DIGEST = define(
    "MC308", "docker-base-no-digest", Area.RUNTIME, Severity.INFO, "Dockerfile base image pinned by tag only",
    "The guideline asks for a pinned runtime: a tag can be moved to another image, a digest cannot.",
    "Append the digest: FROM image:tag@sha256:…",
)
APT_UNPINNED = define(
    "MC309", "apt-unpinned", Area.RUNTIME, Severity.INFO, "System packages installed without versions",
    "The guideline: use a container when system libraries or non-Python dependencies matter.",
    "Pin apt packages (pkg=version) or rely on a digest-pinned base image.",
)
PYTHON_UNSTATED = define(
    "MC310", "python-version-unstated", Area.RUNTIME, Severity.INFO, "The package does not say which Python it needs",
    "The guideline: pin the runtime used to export and validate the model; the interpreter is part of it.",
    "Add a .python-version file (e.g. 3.11) or pin python in environment.yml / the Dockerfile base image.",
)

_PRIVATE_HOST = re.compile(r"://([^/@]*@)?(localhost|127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|[^/]*\.(local|internal|corp|lan)\b)")


class RuntimeFilesCheck(Check):
    name = "runtime definition"
    area = Area.RUNTIME

    def skip_reason(self, ctx: Context) -> str | None:
        return None if ctx.pkg.runtime_files else "there is no runtime definition (see MC102)"

    def run(self, ctx: Context) -> Iterable[Finding]:
        # Lines of the runtime files are quoted in messages: never quote a password or token.
        for finding in self._findings(ctx):
            yield replace(finding, message=redact(finding.message))

    def _findings(self, ctx: Context) -> Iterable[Finding]:
        spec = read_runtime(ctx.pkg)
        ctx.results["runtime_spec"] = spec
        for problem in spec.problems:
            rule = {"include-outside": INCLUDE, "include-missing": INCLUDE, "editable": EDITABLE,
                    "channels": CHANNELS}.get(problem.kind, INVALID)
            if problem.kind == "editable":
                continue  # reported once, as a pin, below
            yield rule.finding(problem.message, file=problem.file, line=problem.line)
        for pin in spec.pins:
            if pin.pinned:
                continue
            if pin.source == "apt":
                yield APT_UNPINNED.finding(f"apt package {pin.spec!r} has no version", file=pin.file, line=pin.line)
            elif pin.spec.startswith("-e") or "editable" in pin.reason:
                yield EDITABLE.finding(f"{pin.spec!r}: {pin.reason}", file=pin.file, line=pin.line)
            else:
                yield UNPINNED.finding(f"{pin.spec!r} is not pinned: {pin.reason}", file=pin.file, line=pin.line)
        for option, value, file, line in spec.index_options:
            private = " (a private or local host)" if _PRIVATE_HOST.search(value) else ""
            credentials = " with credentials in the URL" if _USERINFO.search(value) else ""
            yield INDEX_OPTION.finding(f"--{option.lstrip('-')} {value}{private}{credentials}: users need access to it", file=file, line=line)
        for image, file, line in spec.base_images:
            yield from self._base_image(image, file, line)
        if spec.python is None:
            yield PYTHON_UNSTATED.finding("no .python-version, runtime.txt, conda python pin or python base image was found")

    def _base_image(self, image: str, file: str, line: int) -> Iterable[Finding]:
        if "@sha256:" in image:
            return
        name = image.rsplit("/", 1)[-1]
        tag = name.partition(":")[2]
        if "$" in image:
            yield BASE_IMAGE.finding(f"FROM {image}: the image comes from a build argument without a default", file=file, line=line)
        elif not tag or tag == "latest":
            yield BASE_IMAGE.finding(f"FROM {image or '(empty)'}: {'no tag' if not tag else 'a moving tag'}", file=file, line=line)
        else:
            yield BASE_DIGEST.finding(f"FROM {image} is pinned by tag, not digest", file=file, line=line)


_USERINFO = re.compile(r"://[^/@\s]+@")


def redact(text: str) -> str:
    """Hide the password (or the token given as a user name) of every URL in `text`."""
    text = re.sub(r"://([^/@\s:]+):[^/@\s]+@", r"://\1:***@", text)
    return re.sub(r"://[^/@\s:]+@", "://***@", text)
