"""What a package's Dockerfile makes the Docker engine itself fetch, and which of it is refused.

The engine runs `ADD <url>` and the image pulls of `COPY --from=<image>` in its own network
namespace: the host's, whatever network the build's RUN steps get, so its loopback and link-local
services (and, through an HTTP redirect, any address) are in reach. Hence:
- ADD/COPY of a remote source (an http(s), git or ssh URL, `user@host:path`) is refused: a RUN step
  that downloads (curl, pip) runs inside the build's limits and network instead;
- COPY/ADD --from an image on a registry whose host is loopback, link-local, private-use or
  unspecified (literally, as `localhost`, or by what its name resolves to now) is refused; FROM
  images are judged the same way by validator.scanners.package_sources before any builder runs;
- a source or --from that depends on a variable the Dockerfile does not define (a base image's ENV,
  say) is refused: what it names cannot be told beforehand.
ONBUILD instructions are judged too (a later stage of the same file may trigger them).
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass

from dockerfile_parse import DockerfileParser
from dockerfile_parse.util import WordSplitter

from validator.scanners.package_sources import Resolver, host_problem, image_registry, netloc_host

_REMOTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://|[\w.-]+@[\w.-]+:)")  # scheme://… or git@host:path
_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_COPYING = ("ADD", "COPY")


@dataclass(frozen=True)
class RefusedFetch:
    line: int  # 1-based
    instruction: str  # as written, shortened
    reason: str


def refused_fetches(dockerfile: str, resolve: Resolver | None = None) -> list[RefusedFetch]:
    """The instructions of `dockerfile` that would make the engine fetch what it must not."""
    parser = DockerfileParser(fileobj=io.BytesIO(dockerfile.encode("utf-8")))
    refused: list[RefusedFetch] = []
    stages: set[str] = set()
    for index, (instruction, context) in enumerate(zip(parser.structure, parser.context_structure, strict=False)):
        name, value = instruction["instruction"].upper(), instruction["value"]
        known = {**context.args, **context.envs}
        if name == "FROM":
            words = value.split()
            if len(words) >= 3 and words[-2].upper() == "AS":
                stages.add(words[-1].lower())
            stages.add(str(index))  # `--from=<n>` names the n-th stage
            continue
        if name == "ONBUILD":
            name, _, value = value.strip().partition(" ")
            name = name.upper()
        if name not in _COPYING:
            continue
        shown = f"{name} {value.strip()}"[:200]
        reason = _copy_problem(value, known, stages, resolve)
        if reason:
            refused.append(RefusedFetch(instruction["startline"] + 1, shown, reason))
    return refused


def _copy_problem(value: str, known: dict[str, str], stages: set[str], resolve: Resolver | None) -> str | None:
    raw = _words(value, None)  # as written: which words name variables
    fetched = [word for word in raw if word.startswith("--from=")] + [w for w in raw if not w.startswith("--")][:-1]
    unknown = sorted({name for word in fetched for name in _VARIABLE.findall(word) if name not in known})
    if unknown:
        return (f"it depends on {', '.join('$' + name for name in unknown)}, which the Dockerfile does not define "
                "(a base image's variable, say), so what the engine would fetch cannot be told beforehand")
    words = _words(value, known)
    for flag in (word for word in words if word.startswith("--from=")):
        source = flag.partition("=")[2]
        if source.lower() not in stages:
            registry = image_registry(source)
            problem = host_problem(netloc_host(registry), resolve) if registry else None
            if problem:
                return (f"--from={source}: the engine would pull it from {registry}, and {problem}; "
                        "take the image from a public registry")
    for source in [word for word in words if not word.startswith("--")][:-1]:  # the last word is the destination
        if _REMOTE.match(source):
            return (f"{source} is fetched by the Docker engine itself, on the host's network, whatever network the "
                    "build has (loopback and link-local services included): download it in a RUN step (curl, wget, "
                    "pip), which runs within the build's limits, or ship the file in the package")
    return None


def _words(value: str, known: dict[str, str] | None) -> list[str]:
    """The words of an ADD/COPY value (flags, then the shell or JSON form), variables expanded with `known`
    (None: left as written)."""
    text = value.strip()
    flags = []
    while text.startswith("--"):
        flag, _, text = text.partition(" ")
        flags.append(_expand(flag, known))
        text = text.strip()
    if text.startswith("["):
        try:
            words = json.loads(text)
        except ValueError:
            words = None
        if isinstance(words, list) and all(isinstance(word, str) for word in words):
            return [*flags, *(_expand(word, known) for word in words)]
    return [*flags, *WordSplitter(text, args=known).split()]


def _expand(word: str, known: dict[str, str] | None) -> str:
    if known is None:
        return word
    return _REFERENCE.sub(lambda m: known.get(m.group(1) or m.group(2), ""), word)
