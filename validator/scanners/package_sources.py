"""Where a build fetches packages from, decided before any builder runs.

A package names package sources in its runtime files: index options (--index-url/-i,
--extra-index-url, --find-links/-f, --trusted-host) in requirements.txt, in environment.yml pip
sections and in a Dockerfile's `pip install`, channel URLs of environment.yml, URL requirements
(`name @ https://…`, `git+https://…`), -r/-c includes, and the registries of base images. Every
builder (venv, conda, docker) would follow them with network access, so:

- index options and channel URLs add sources: refused unless the caller allows them
  (--allow-package-indexes, action input allow-package-indexes);
- even then, and for URL requirements and image registries always, a source must be an http(s)
  URL (a registry: a host) whose host is not loopback, link-local, unspecified or private-use, by
  literal address, as `localhost`, or by what its name resolves to now;
- an include from outside the package is never followed (its content was never checked).

The machine's own pip and uv configuration (pip.conf, PIP_INDEX_URL, …) is the caller's: it is not
judged here.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from validator.readers.runtime_spec import RuntimeSpec

RESOLVE_TIMEOUT_S = 3.0
Resolver = Callable[[str], list[str]]  # host name -> addresses; raises OSError when it does not resolve

# Private-use and shared ranges (RFC 1918, RFC 6598, RFC 4193, deprecated site-local). Not
# ipaddress' is_private, which also counts documentation and benchmarking ranges that some
# networks route to real mirrors.
_PRIVATE_USE = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "fec0::/10"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,30}://\S+")  # a bounded scheme: linear on any line (issue 9, class 7)


@dataclass(frozen=True)
class Source:
    """A package source the package names."""

    kind: str  # "index-url", "extra-index-url", "find-links", "trusted-host", "channel", "URL requirement", …
    value: str
    file: str
    line: int | None
    added: bool  # an index option or channel: needs the caller's permission

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    @property
    def shown(self) -> str:
        if self.kind == "include":
            return self.value
        return f"--{self.kind} {self.value}" if self.added and self.kind != "channel" else f"{self.kind} {self.value}"


@dataclass(frozen=True)
class Refused:
    source: Source
    reason: str


def package_sources(spec: RuntimeSpec) -> list[Source]:
    """Every package source the runtime files name, in file order."""
    found = [Source(option, value, file, line, True) for option, value, file, line in spec.index_options]
    for pin in spec.pins:
        url = _url_of(pin.spec) if pin.source in ("pip", "docker-pip") else None
        if url is not None:
            found.append(Source("URL requirement", url, pin.file, pin.line, False))
    for image, file, line in spec.base_images:
        registry = image_registry(image)
        if registry is not None:
            found.append(Source("base image registry", registry, file, line, False))
    return found


def refused_sources(spec: RuntimeSpec, allow_indexes: bool, resolve: Resolver | None = None) -> list[Refused]:
    """The sources a build must not follow, each with the reason (empty: the build may go ahead)."""
    refused = [Refused(Source("include", problem.message, problem.file, problem.line, False),
                       "the build would read a requirements file from outside the package, which model-check never checked")
               for problem in spec.problems if problem.kind == "include-outside"]
    for source in package_sources(spec):
        if source.added and not allow_indexes:
            refused.append(Refused(source, "the package adds its own package source, and the caller did not allow "
                                           "package sources (--allow-package-indexes, action input allow-package-indexes)"))
            continue
        problem = source_problem(source, resolve)
        if problem is not None:
            refused.append(Refused(source, problem))
    return refused


def source_problem(source: Source, resolve: Resolver | None = None) -> str | None:
    """Why `source` must not be followed, or None."""
    if source.kind in ("trusted-host", "base image registry"):
        return host_problem(netloc_host(source.value), resolve)
    parts = urlsplit(source.value.strip())
    scheme = parts.scheme.lower()
    if scheme == "file" or not scheme:
        if source.kind == "URL requirement":
            return None  # a local file: read inside the build's sandbox, not fetched
        return "a local path or file:// URL: the build would read the machine's files, not a package index"
    if source.kind != "URL requirement" and scheme not in ("http", "https"):
        return f"a {scheme}: URL; package sources must be http(s) URLs"
    try:
        host = parts.hostname
    except ValueError:
        host = None
    return host_problem(host or "", resolve)


def host_problem(host: str, resolve: Resolver | None = None) -> str | None:
    """Why a build must not contact `host`, or None: loopback, link-local, unspecified or private-use,
    by literal address, by name (`localhost`) or by what the name resolves to."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if not name:
        return "names no host"
    if name == "localhost" or name.endswith(".localhost"):
        return f"{name} is this machine (loopback)"
    literal = _address(name)
    if literal is not None:
        kind = address_kind(literal)
        return f"{name} is {kind}" if kind else None
    try:
        addresses = (resolve or resolve_host)(name)
    except TimeoutError:
        return f"{name} did not resolve within {RESOLVE_TIMEOUT_S:g} s, so model-check cannot tell where it points"
    except OSError:
        return None  # it does not resolve: the installer cannot reach it either
    for text in addresses:
        address = _address(text)
        kind = address_kind(address) if address is not None else None
        if kind:
            return f"{name} resolves to {text}, {kind}"
    return None


def address_kind(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What makes `address` off limits for a package's source, or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or (address.sixtofour if address.sixtofour else None)
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return address_kind(embedded)
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if any(address in network for network in _PRIVATE_USE):
        return "a private-use address"
    return None


def resolve_host(host: str, timeout: float = RESOLVE_TIMEOUT_S) -> list[str]:
    """The addresses `host` resolves to, via the system resolver, within `timeout` seconds."""
    result: list[str] = []
    failure: list[OSError] = []

    def lookup() -> None:
        try:
            result.extend(sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)}))
        except OSError as exc:
            failure.append(exc)
        except UnicodeError as exc:  # an unencodable name (IDNA)
            failure.append(OSError(str(exc)))

    thread = threading.Thread(target=lookup, name="model-check-resolve", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(host)
    if failure:
        raise failure[0]
    return result


def image_registry(image: str) -> str | None:
    """The registry host[:port] of an image reference, or None for Docker Hub's short names."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def netloc_host(netloc: str) -> str:
    """The host of `host`, `host:port`, `user@host:port` or `[v6]:port`."""
    text = netloc.strip().rsplit("@", 1)[-1]
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def _url_of(requirement: str) -> str | None:
    """The URL of a URL requirement (`name @ URL`, a bare or editable URL, `git+https://…`), or None."""
    found = _URL.search(requirement)
    return found.group(0) if found else None


def describe(refused: Iterable[Refused]) -> list[str]:
    return [f"{r.source.where}: {r.source.shown}: {r.reason}" for r in refused]
