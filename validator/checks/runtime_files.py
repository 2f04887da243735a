"""Area runtime (static part): the runtime definitions pin what they install."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from validator.checks.base import Skip, StaticCheck
from validator.core.catalogue import rule
from validator.core.findings import Area, Finding
from validator.core.options import Options
from validator.readers.package import ModelPackage

PIN_RATIONALE = "The guideline: 'Pin the dependencies used to export and validate the model.'"

_PRIVATE_HOST = re.compile(r"://([^/@]*@)?(localhost|127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|[^/]*\.(local|internal|corp|lan)\b)")


class RuntimeFilesCheck(StaticCheck):
    name = "runtime definition"
    area = Area.RUNTIME

    def run(self, pkg: ModelPackage, options: Options) -> Iterable[Finding] | Skip:
        if not pkg.runtime_files:
            return Skip("there is no runtime definition (see MC102)")
        # Lines of the runtime files are quoted in messages: never quote a password or token.
        return (replace(finding, message=redact(finding.message)) for finding in self._findings(pkg))

    def _findings(self, pkg: ModelPackage) -> Iterable[Finding]:
        spec = pkg.runtime_spec
        for problem in spec.problems:
            found = {"include-outside": rule("requirement-include-outside"), "include-missing": rule("requirement-include-outside"), "editable": rule("requirement-editable"),
                    "channels": rule("conda-channels-missing")}.get(problem.kind, rule("runtime-invalid"))
            if problem.kind == "editable":
                continue  # reported once, as a pin, below
            yield found.finding(problem.message, file=problem.file, line=problem.line)
        for pin in spec.pins:
            if pin.pinned:
                continue
            if pin.source == "apt":
                yield rule("apt-unpinned").finding(f"apt package {pin.spec!r} has no version", file=pin.file, line=pin.line)
            elif pin.spec.startswith("-e") or "editable" in pin.reason:
                yield rule("requirement-editable").finding(f"{pin.spec!r}: {pin.reason}", file=pin.file, line=pin.line)
            else:
                yield rule("requirement-unpinned").finding(f"{pin.spec!r} is not pinned: {pin.reason}", file=pin.file, line=pin.line)
        for option, value, file, line in spec.index_options:
            private = " (a private or local host)" if _PRIVATE_HOST.search(value) else ""
            credentials = " with credentials in the URL" if _USERINFO.search(value) else ""
            yield rule("requirement-index-option").finding(f"--{option.lstrip('-')} {value}{private}{credentials}: users need access to it", file=file, line=line)
        for image, file, line in spec.base_images:
            yield from self._base_image(image, file, line)
        if spec.python is None:
            yield rule("python-version-unstated").finding("no .python-version, runtime.txt, conda python pin or python base image was found")

    def _base_image(self, image: str, file: str, line: int) -> Iterable[Finding]:
        if "@sha256:" in image:
            return
        name = image.rsplit("/", 1)[-1]
        tag = name.partition(":")[2]
        if "$" in image:
            yield rule("docker-base-unpinned").finding(f"FROM {image}: the image comes from a build argument without a default", file=file, line=line)
        elif not tag or tag == "latest":
            yield rule("docker-base-unpinned").finding(f"FROM {image or '(empty)'}: {'no tag' if not tag else 'a moving tag'}", file=file, line=line)
        else:
            yield rule("docker-base-no-digest").finding(f"FROM {image} is pinned by tag, not digest", file=file, line=line)


_USERINFO = re.compile(r"://[^/@\s]+@")


def redact(text: str) -> str:
    """Hide the password (or the token given as a user name) of every URL in `text`."""
    text = re.sub(r"://([^/@\s:]+):[^/@\s]+@", r"://\1:***@", text)
    return re.sub(r"://[^/@\s:]+@", "://***@", text)
