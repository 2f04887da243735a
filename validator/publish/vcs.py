"""Where the package's code is versioned: repository URL, release tag and commit, each with its source.

In order of precedence: the command line (--repository/--ref/--commit), the model card, the GitHub
Actions context the CLI passes in, then the git metadata of the checkout the package sits in. Git
metadata is read as plain files (HEAD, refs, packed-refs, the remote URL in .git/config): git is
never run, so no hook, filter, fsmonitor or other configured program of the repository executes.
A remote URL is published only as an https URL without user name or token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from validator.core.redact import redact
from validator.publish.provenance import Source
from validator.readers.card import CardFacts

MAX_GIT_FILE = 1024 * 1024  # HEAD, a ref, packed-refs or config larger than this is not read
MAX_PARENTS = 8  # folders above the package searched for .git
_SHA = re.compile(r"^[0-9a-f]{40}$")
_SAFE_PATH = re.compile(r"(?:/[A-Za-z0-9._~-]+)+")
_SCP_URL = re.compile(r"^(?:[\w.-]+@)?(?P<host>[\w.-]+):(?P<path>[\w./-]+?)/?$")  # git@github.com:owner/repo.git


@dataclass(frozen=True)
class Stated:
    value: str
    source: Source


@dataclass(frozen=True)
class Versioning:
    repository: Stated | None = None
    tag: Stated | None = None
    commit: Stated | None = None


@dataclass(frozen=True)
class Context:
    """Values from outside the package: options, then the CI context (each may be empty)."""

    repository: str | None = None
    ref: str | None = None
    commit: str | None = None
    ci_repository: str | None = None
    ci_tag: str | None = None
    ci_commit: str | None = None
    ci_name: str = "GitHub Actions context"


def versioning(root: Path, facts: CardFacts | None, readme: str | None, context: Context) -> Versioning:
    git = read_git(root)
    chosen: dict[str, Stated | None] = {}
    card = {"repository": facts.repository if facts else None, "tag": facts.release_tag if facts else None,
            "commit": facts.commit if facts else None}
    options = {"repository": (context.repository, "--repository"), "tag": (context.ref, "--ref"),
               "commit": (context.commit, "--commit")}
    ci = {"repository": context.ci_repository, "tag": context.ci_tag, "commit": context.ci_commit}
    for key in ("repository", "tag", "commit"):
        value, flag = options[key]
        evidence = card[key]
        if value:
            chosen[key] = Stated(value, Source(flag))
        elif evidence is not None:
            chosen[key] = Stated(str(evidence.value), Source("model card", readme, evidence.line))
        elif ci[key]:
            chosen[key] = Stated(str(ci[key]), Source(context.ci_name))
        else:
            chosen[key] = git.get(key)
    return Versioning(chosen["repository"], chosen["tag"], chosen["commit"])


def read_git(root: Path) -> dict[str, Stated]:
    """Repository URL, commit of HEAD and a tag naming that commit, from the checkout's .git files."""
    git_dir = _git_dir(root)
    if git_dir is None:
        return {}
    found: dict[str, Stated] = {}
    commit = _head_commit(git_dir)
    if commit is not None:
        found["commit"] = Stated(commit, Source("git metadata", ".git/HEAD", None, "the commit checked out (read, git not run)"))
        tag = _tag_of(git_dir, commit)
        if tag is not None:
            found["tag"] = Stated(tag, Source("git metadata", ".git/refs/tags", None, "a tag naming the checked-out commit"))
    remote = _remote_url(git_dir)
    if remote is not None:
        found["repository"] = Stated(remote, Source("git metadata", ".git/config", None, "URL of remote origin, as https"))
    return found


def public_url(url: str) -> str | None:
    """An https URL of a remote (scp-style and ssh forms converted) without credentials, or None."""
    url = url.strip()
    if (m := _SCP_URL.match(url)) and "://" not in url:
        url = f"https://{m['host']}/{m['path']}"
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http", "ssh", "git") or not parts.hostname or parts.query or parts.fragment:
        return None
    path = parts.path.removesuffix(".git").rstrip("/")
    if not _SAFE_PATH.fullmatch(path) or any(seg in (".", "..") for seg in path.split("/")[1:]) or redact(path, {}) != path:
        return None  # markup, escapes, dot segments or a token in the path are never published
    host = parts.hostname + (f":{parts.port}" if parts.port and parts.scheme in ("https", "http") else "")
    return urlunsplit(("https", host, path, "", ""))


def _git_dir(root: Path) -> Path | None:
    folder = root.resolve()
    for candidate in [folder, *folder.parents][:MAX_PARENTS]:
        dot_git = candidate / ".git"
        if dot_git.is_symlink():  # a link could lead anywhere on the machine
            return None
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = _read(dot_git)
            if text and text.startswith("gitdir:"):
                target = (candidate / text.removeprefix("gitdir:").strip()).resolve()
                return target if target.is_dir() and _in_git_dir(target) else None
            return None
    return None


def _read(path: Path) -> str | None:
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_GIT_FILE:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _head_commit(git_dir: Path) -> str | None:
    head = (_read(git_dir / "HEAD") or "").strip()
    if _SHA.match(head):
        return head
    if not head.startswith("ref: refs/"):
        return None
    return _ref(git_dir, head.removeprefix("ref: ").strip())


def _common_dir(git_dir: Path) -> Path:
    text = _read(git_dir / "commondir")  # a worktree keeps refs in the main repository's .git
    target = (git_dir / text.strip()).resolve() if text else git_dir
    return target if _in_git_dir(target) else git_dir


def _in_git_dir(path: Path) -> bool:
    """Whether a folder a `.git` file or `commondir` names is a repository's metadata (`…/.git`, a worktree's
    `.git/worktrees/<name>`, a submodule's `.git/modules/<name>`): a package's `.git` file saying `gitdir: /etc`
    or `gitdir: ~/.ssh` must not make model-check read (and publish) files there."""
    return ".git" in path.parts or path.name.endswith(".git")

def _ref(git_dir: Path, name: str) -> str | None:
    if ".." in name or not re.fullmatch(r"refs/[\w./-]+", name):
        return None
    for base in (git_dir, _common_dir(git_dir)):
        value = (_read(base / name) or "").strip()
        if _SHA.match(value):
            return value
    return _packed(git_dir).get(name)


def _packed(git_dir: Path) -> dict[str, str]:
    """name -> commit; for an annotated tag the peeled commit (`^sha` line) replaces the tag object."""
    refs: dict[str, str] = {}
    last = None
    for line in (_read(_common_dir(git_dir) / "packed-refs") or "").splitlines():
        if line.startswith("^") and last is not None and _SHA.match(line[1:].strip()):
            refs[last] = line[1:].strip()
        elif len(parts := line.split(" ", 1)) == 2 and _SHA.match(parts[0]):
            last = parts[1].strip()
            refs[last] = parts[0]
    return refs


def _tag_of(git_dir: Path, commit: str) -> str | None:
    tags = {name.removeprefix("refs/tags/"): sha for name, sha in _packed(git_dir).items() if name.startswith("refs/tags/")}
    folder = _common_dir(git_dir) / "refs" / "tags"
    if folder.is_dir():
        for path in sorted(islice(folder.rglob("*"), 1000)):  # bounded before sorting: a hostile refs/ tree
            value = (_read(path) or "").strip()
            if _SHA.match(value):
                tags.setdefault(path.relative_to(folder).as_posix(), value)  # loose annotated tags are not peeled
    return next((name for name, sha in sorted(tags.items()) if sha == commit), None)


def _remote_url(git_dir: Path) -> str | None:
    section = None
    for raw in (_read(_common_dir(git_dir) / "config") or "").splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif section is not None and re.fullmatch(r'\[remote\s+"origin"\]', section) and (m := re.match(r"url\s*=\s*(.+)", line)):
            return public_url(m.group(1))
    return None
