"""Private absolute paths and non-public hosts in text: what ties a package to its author's machine.

Paths: home folders (/home/<user>, /Users/<user>, C:\\Users\\<user>), cluster file systems
(/scratch, /gpfs, /lustre), mounts (/mnt, /media/<user>) and file:// URLs. Hosts, in URLs and
`user@host:` remotes: localhost, loopback, private and link-local addresses (judged by the
`ipaddress` module), private DNS suffixes (.local, .internal, …) and single-label intranet names;
bare IP addresses count too, unless they read like a version pin (`pkg==10.4.0.35`).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from validator.readers.notebook import is_base64_payload

PATH = "path"
HOST = "host"

_NOT_AFTER = r"(?<![\w.~/:$%{<-])"  # not inside a URL, a longer path or a template
_USER = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
_PATHS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(_NOT_AFTER + r"/home/" + _USER), "a home folder"),
    (re.compile(_NOT_AFTER + r"/Users/" + _USER), "a macOS home folder"),
    (re.compile(r"(?<![\w])[A-Za-z]:(?:\\\\|\\|/)Users(?:\\\\|\\|/)" + _USER), "a Windows user folder"),
    (re.compile(_NOT_AFTER + r"/(?:scratch|gpfs|lustre)\b/?"), "a cluster file system"),
    (re.compile(_NOT_AFTER + r"/(?:mnt|media)/" + _USER), "a mounted drive"),
)
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s'\"<>`)\]}]*")
# git@host:org/repo; the user part starts where a run of its characters starts (the lookbehind), so
# a long run without "@" is scanned once, not once per character.
_REMOTE = re.compile(r"(?<![\w.-])[\w.-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*):")
_BARE_IP = re.compile(r"(?<![\w.:=/@-])(\d{1,3}(?:\.\d{1,3}){3})(?![\w.])")
_QUOTED_LOCALHOST = re.compile(r"""(?<=['"])localhost(?=['":])""")
PRIVATE_SUFFIXES = (".local", ".localdomain", ".internal", ".intranet", ".lan", ".corp", ".home.arpa", ".localhost")


@dataclass(frozen=True)
class PrivateRef:
    line: int
    kind: str  # PATH or HOST
    text: str  # what was found, e.g. "/home/alice" or "192.168.1.20"
    what: str  # why it is private, e.g. "a home folder"


def find_private_refs(text: str) -> list[PrivateRef]:
    """Every private path and host in `text`, with its 1-based line, in order."""
    found: list[PrivateRef] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if is_base64_payload(line) or not _maybe_private(line):
            continue
        found.extend(_in_line(line, number))
    return found


def _maybe_private(line: str) -> bool:
    """A cheap filter before the regular expressions: most lines hold none of these."""
    return any(marker in line for marker in ("/", "\\", "@", "localhost")) or bool(_BARE_IP.search(line))


def _in_line(line: str, number: int) -> list[PrivateRef]:
    refs: list[PrivateRef] = []
    url_spans: list[tuple[int, int]] = []
    for match in _URL.finditer(line):
        url_spans.append(match.span())
        refs.extend(_url_ref(match.group(0), number))
    for pattern, what in _PATHS:
        for match in pattern.finditer(line):
            refs.append(PrivateRef(number, PATH, match.group(0), what))
    hosts = [m for m in _REMOTE.finditer(line)]
    hosts += [m for m in _BARE_IP.finditer(line) if not any(start <= m.start() < end for start, end in url_spans)]
    for match in hosts:
        privacy = host_privacy(match.group(1), single_label=False)
        if privacy is not None:
            refs.append(PrivateRef(number, HOST, match.group(1), privacy))
    refs += [PrivateRef(number, HOST, "localhost", "the local machine") for _ in _QUOTED_LOCALHOST.finditer(line)]
    return refs


def _url_ref(url: str, number: int) -> list[PrivateRef]:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return []
    if parts.scheme.lower() == "file":
        return [PrivateRef(number, PATH, url[:80], "a file:// URL to a local file")]
    if not host or parts.scheme.lower() not in ("http", "https", "ftp", "ftps", "sftp", "ssh", "git", "s3", "gs",
                                                 "ws", "wss", "git+https", "git+ssh", "git+http", "hdfs", "smb"):
        return []
    what = host_privacy(host, single_label=parts.scheme.lower() not in ("s3", "gs"))
    return [PrivateRef(number, HOST, host, what)] if what is not None else []


def host_privacy(host: str, single_label: bool = True) -> str | None:
    """Why `host` is not reachable by the public, or None when it may be (s3://bucket is a bucket)."""
    name = host.strip("[]").rstrip(".").lower()
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
    if address is not None:
        if address.is_loopback:
            return "a loopback address"
        if address.is_link_local:
            return "a link-local address"
        if address.is_private and not (address.is_unspecified or address.is_reserved):
            return "a private network address"
        return None
    if name == "localhost":
        return "the local machine"
    if name.endswith(PRIVATE_SUFFIXES):
        return "a private DNS name"
    if single_label and "." not in name and re.fullmatch(r"[a-z0-9-]+", name) and not name.isdigit():
        return "a single-label (intranet) host name"
    return None
