"""Release mechanics of the model-check action, called by .github/workflows/release.yml.

A version tag vX.Y.Z pushed on a commit of main gets a release commit on top of that commit, in
which action.yml runs the published image pinned by digest
(`image: "docker://ghcr.io/OWNER/model-check@sha256:…"`, every other byte unchanged); the version
tag and the major tag vX move onto the release commit, vX only forward (never to a version below
the highest vX.y.z tag). main keeps `image: "Dockerfile"`, so `uses: ./` builds from source.

    pin_action.py plan    --tag v1.2.3 [--github-output FILE]       # read-only: release or skip?
    pin_action.py release --tag v1.2.3 --image IMAGE --digest sha256:HEX [--dry-run]
    pin_action.py pin     --image IMAGE --digest sha256:HEX [--file action.yml]

Guards: a tag that is not an exact version, is not on main's history, or disagrees with
pyproject.toml's version is refused (exit 1); a tag whose commit's action.yml already runs a
docker:// image is released already, and the run is a no-op (exit 0). The tags are pushed in one
atomic push with leases on their old values, so a concurrent change of either fails the push.
Git runs with an environment built here (no hooks, no user or system configuration); a token, when
named with --token-env, reaches only fetch and push, as an HTTP header in git's environment.

The tool itself needs only the standard library; `release` and `pin` also validate the rewritten
action.yml with PyYAML and check-jsonschema's vendored action metadata schema.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import shlex
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

VERSION_TAG = re.compile(r"v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
IMAGE_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
PINNED = re.compile(r"docker://" + IMAGE_NAME.pattern + r"@" + DIGEST.pattern)
BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"


class ReleaseError(Exception):
    """A release that must not happen (bad tag, not on main, version mismatch, bad action.yml)."""


Version = tuple[int, int, int]


def parse_version_tag(tag: str) -> Version:
    match = VERSION_TAG.fullmatch(tag)
    if not match:
        raise ReleaseError(f"{tag!r} is not an exact version tag vMAJOR.MINOR.PATCH")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


# --- action.yml: find and rewrite runs.image, byte for byte -------------------------------------


@dataclass(frozen=True)
class ImageLine:
    index: int  # line number (0-based) in text.splitlines(keepends=True)
    prefix: str  # indentation and `image:` up to the value
    value: str  # the scalar as written (quotes and trailing comment removed)


def _scalar(raw: str) -> str:
    raw = raw.strip()
    if raw[:1] in ('"', "'"):
        end = raw.find(raw[0], 1)
        if end < 0 or "\\" in raw[:end]:
            raise ReleaseError(f"runs.image is not a plain quoted scalar: {raw!r}")
        return raw[1:end]
    return re.split(r"\s+#", raw, maxsplit=1)[0].strip()


def find_image(text: str) -> ImageLine:
    """The one `image:` line directly under the top-level `runs:` mapping."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if re.fullmatch(r"runs:[ \t]*(#[^\r\n]*)?\r?\n?", line)]
    if len(starts) != 1:
        raise ReleaseError("action.yml has no single top-level `runs:` mapping")
    indent: str | None = None
    found: list[ImageLine] = []
    for index in range(starts[0] + 1, len(lines)):
        line = lines[index]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] not in " \t":
            break  # the next top-level key
        current = line[: len(line) - len(line.lstrip())]
        indent = current if indent is None else indent
        match = re.match(r"([ \t]+image:[ \t]*)([^\r\n]*)", line)
        if current == indent and match:
            found.append(ImageLine(index, match.group(1), _scalar(match.group(2))))
    if len(found) != 1:
        raise ReleaseError("action.yml has no single `image:` key under `runs:`")
    return found[0]


def pin_text(text: str, image: str, digest: str, comment: str = "") -> str:
    """action.yml with runs.image = docker://IMAGE@DIGEST (and a comment); every other byte kept."""
    reference = pinned_reference(image, digest)
    if "\n" in comment or "\r" in comment:
        raise ReleaseError("the comment must be one line")
    located = find_image(text)
    lines = text.splitlines(keepends=True)
    old = lines[located.index]
    eol = old[len(old.rstrip("\r\n")) :]
    lines[located.index] = f'{located.prefix}"{reference}"' + (f"  # {comment}" if comment else "") + eol
    return "".join(lines)


def pinned_reference(image: str, digest: str) -> str:
    image = image.lower()  # GitHub owners may have capitals; registry names may not
    if not IMAGE_NAME.fullmatch(image):
        raise ReleaseError(f"{image!r} is not an image name such as ghcr.io/owner/model-check")
    if not DIGEST.fullmatch(digest):
        raise ReleaseError(f"{digest!r} is not a digest sha256:<64 hex>")
    return f"docker://{image}@{digest}"


def validate_pinned(original: str, pinned: str) -> None:
    """The rewrite changed runs.image only, to a digest-pinned image, and is valid action metadata."""
    import yaml  # PyYAML: a dependency of model-check, installed with hashes in the release job

    before, after = yaml.safe_load(original), yaml.safe_load(pinned)
    image = after.get("runs", {}).get("image") if isinstance(after, dict) else None
    if not isinstance(image, str) or not PINNED.fullmatch(image):
        raise ReleaseError(f"runs.image is not pinned by digest: {image!r}")
    before["runs"]["image"] = image
    if before != after:
        raise ReleaseError("the rewrite changed more than runs.image")
    changed = [a for a, b in zip(original.splitlines(True), pinned.splitlines(True), strict=False) if a != b]
    if len(changed) != 1 or len(original.splitlines()) != len(pinned.splitlines()):
        raise ReleaseError("the rewrite changed more than one line")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "action.yml"
        path.write_text(pinned, encoding="utf-8", newline="")
        result = subprocess.run(
            [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-actions", str(path)],
            capture_output=True, text=True, timeout=120, env=_base_env(), check=False,
        )
    if result.returncode != 0:
        raise ReleaseError("the rewritten action.yml fails the action metadata schema:\n" + result.stdout + result.stderr)


def is_released(action_text: str) -> bool:
    """action.yml runs a published image (docker://…), not the Dockerfile: a release commit."""
    return find_image(action_text).value.startswith("docker://")


# --- git -----------------------------------------------------------------------------------------


def _base_env() -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
    if "HOME" in os.environ:
        env["HOME"] = os.environ["HOME"]
    return env


class Git:
    """Runs git in one repository. In a dry run, commands that change a ref, write an object or
    reach the remote for writing are printed (`would run: git …`) instead of run."""

    def __init__(self, repo: Path, *, dry_run: bool = False, token: str = "", server: str = "https://github.com") -> None:
        self.repo, self.dry_run = repo, dry_run
        self.env = _base_env() | {
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": BOT_NAME, "GIT_AUTHOR_EMAIL": BOT_EMAIL,
            "GIT_COMMITTER_NAME": BOT_NAME, "GIT_COMMITTER_EMAIL": BOT_EMAIL,
        }
        self.remote_env = dict(self.env)
        if token:
            basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
            self.remote_env |= {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"http.{server.rstrip('/')}/.extraheader",
                                "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}"}

    def _run(self, args: Sequence[str], *, stdin: bytes = b"", remote: bool = False) -> bytes:
        command = ["git", "-c", "core.hooksPath=" + os.devnull, *args]
        result = subprocess.run(command, cwd=self.repo, input=stdin, capture_output=True, timeout=300, check=False,
                                env=self.remote_env if remote else self.env)
        if result.returncode != 0:
            raise ReleaseError(f"git {' '.join(args)} failed:\n{result.stderr.decode(errors='replace')}")
        return result.stdout

    def read(self, *args: str, remote: bool = False) -> str:
        return self._run(args, remote=remote).decode().strip()

    def show(self, revision: str, path: str) -> str:
        return self._run(["show", f"{revision}:{path}"]).decode("utf-8")

    def write(self, *args: str, stdin: bytes = b"", remote: bool = False, placeholder: str = "") -> str:
        if self.dry_run:
            print("would run: " + shlex.join(["git", *args]))
            if stdin and args[0] not in ("hash-object", "mktree"):  # a message: show it
                print("".join(f"    | {line}\n" for line in stdin.decode().splitlines()), end="")
            return placeholder
        return self._run(args, stdin=stdin, remote=remote).decode().strip()

    def is_ancestor(self, commit: str, ref: str) -> bool:
        command = ["git", "-c", "core.hooksPath=" + os.devnull, "merge-base", "--is-ancestor", commit, ref]
        code = subprocess.run(command, cwd=self.repo, capture_output=True, timeout=60, env=self.env, check=False).returncode
        if code > 1:
            raise ReleaseError(f"git merge-base {commit} {ref} failed (is {ref} fetched?)")
        return code == 0

    def ref(self, name: str) -> str:
        """The object a full ref name names (a tag object for an annotated tag), or "" when there is none."""
        command = ["git", "rev-parse", "--quiet", "--verify", name]
        result = subprocess.run(command, cwd=self.repo, capture_output=True, timeout=60, env=self.env, check=False)
        return result.stdout.decode().strip() if result.returncode == 0 else ""


# --- the release ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    tag: str
    version: Version
    commit: str  # the commit the tag names now
    released: bool  # its action.yml already runs a docker:// image: nothing to do
    move_major: bool  # the major tag follows (this is the highest vMAJOR.y.z tag)

    @property
    def major_tag(self) -> str:
        return f"v{self.version[0]}"


def plan(git: Git, tag: str, *, main_ref: str) -> Plan:
    """Read-only: what releasing `tag` means, or ReleaseError if it must not be released."""
    version = parse_version_tag(tag)
    if not git.ref(f"refs/tags/{tag}"):
        raise ReleaseError(f"there is no tag {tag}")
    commit = git.read("rev-parse", "--verify", f"refs/tags/{tag}^{{commit}}")
    released = is_released(git.show(commit, "action.yml"))
    if not released:
        if not git.ref(main_ref):
            raise ReleaseError(f"{main_ref} is not there to check the tag against (fetch main)")
        if not git.is_ancestor(commit, main_ref):
            raise ReleaseError(f"{tag} ({commit[:12]}) is not on the history of {main_ref}: releases are cut from main only")
        declared = tomllib.loads(git.show(commit, "pyproject.toml"))["project"]["version"]
        if declared != ".".join(map(str, version)):
            raise ReleaseError(f"{tag} disagrees with pyproject.toml's version {declared!r}: bump it on main, then tag")
    same_major = [parse_version_tag(name) for name in git.read("tag", "--list", f"v{version[0]}.*").split()
                  if VERSION_TAG.fullmatch(name)]
    return Plan(tag, version, commit, released, move_major=version >= max(same_major, default=version))


def fetch(git: Git, remote: str, main: str) -> None:
    git.read("fetch", "--force", "--no-tags", remote, f"+refs/heads/{main}:refs/remotes/{remote}/{main}",
             "+refs/tags/*:refs/tags/*", remote=True)


def release(git: Git, tag: str, image: str, digest: str, *, remote: str, main: str) -> str:
    """Create the release commit and move the tags on the remote; return the release commit
    ("" when the tag was released already)."""
    fetch(git, remote, main)
    the_plan = plan(git, tag, main_ref=f"refs/remotes/{remote}/{main}")
    if the_plan.released:
        print(f"{tag} is released already: its action.yml runs a published image; nothing to do")
        return ""
    original = git.show(the_plan.commit, "action.yml")
    reference = pinned_reference(image, digest)
    pinned = pin_text(original, image, digest, comment=f"{image.lower()}:{tag[1:]}")
    validate_pinned(original, pinned)

    # The release commit: the tagged tree with a new action.yml blob, built without a work tree.
    entries = [entry for entry in git.read("ls-tree", "-z", the_plan.commit).split("\0") if entry]
    if not any(re.fullmatch(r"100644 blob [0-9a-f]+\taction\.yml", entry) for entry in entries):
        raise ReleaseError("action.yml is not a regular file at the root of the tagged tree")
    blob = git.write("hash-object", "-w", "--stdin", stdin=pinned.encode("utf-8"), placeholder="<blob>")
    tree_lines = [re.sub(r"^(100644 blob )[0-9a-f]+(\taction\.yml)$", rf"\g<1>{blob}\g<2>", entry) for entry in entries]
    tree = git.write("mktree", "-z", stdin="".join(line + "\0" for line in tree_lines).encode(), placeholder="<tree>")
    message = f"Release {tag}: the action runs {reference.removeprefix('docker://')}"
    commit = git.write("commit-tree", tree, "-p", the_plan.commit, stdin=message.encode(), placeholder="<release-commit>")

    # The version tag keeps the maintainer's message (not a signature: the tag object is new).
    refs = {f"refs/tags/{tag}": git.ref(f"refs/tags/{tag}")}
    kept = git.read("for-each-ref", "--format=%(contents:subject)%0a%0a%(contents:body)", f"refs/tags/{tag}") \
        if git.read("for-each-ref", "--format=%(objecttype)", f"refs/tags/{tag}") == "tag" else ""
    notes = (kept.strip() or f"model-check {tag}") + f"\n\n{message}\n"
    git.write("tag", "--force", "--annotate", "--file=-", tag, commit, stdin=notes.encode())
    if the_plan.move_major:
        refs[f"refs/tags/{the_plan.major_tag}"] = git.ref(f"refs/tags/{the_plan.major_tag}")
        git.write("tag", "--force", "--annotate", "--file=-", the_plan.major_tag, commit,
                  stdin=f"model-check {the_plan.major_tag}: latest is {tag}\n".encode())
    else:
        print(f"{the_plan.major_tag} stays: a higher {the_plan.major_tag}.y.z tag exists")
    leases = [f"--force-with-lease={ref}:{old}" for ref, old in refs.items()]
    git.write("push", "--atomic", *leases, remote, *refs, remote=True)
    moved = ", ".join(ref.removeprefix("refs/tags/") for ref in refs)
    print(f"released {tag}: {commit} runs {reference}; moved {moved}")
    return commit


# --- command line --------------------------------------------------------------------------------


def _write_outputs(path: str, values: dict[str, str]) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.writelines(f"{key}={value}\n" for key, value in values.items())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("plan", "release"):
        sub = commands.add_parser(name)
        sub.add_argument("--tag", required=True)
        sub.add_argument("--repo", type=Path, default=Path.cwd())
        sub.add_argument("--remote", default="origin")
        sub.add_argument("--main", default="main", help="the branch releases are cut from")
        sub.add_argument("--token-env", default="", help="name of the variable holding a token for fetch and push")
        sub.add_argument("--github-output", default="", help="append the outputs (key=value lines) to this file")
    release_parser = commands.choices["release"]
    pin_parser = commands.add_parser("pin", help="rewrite an action.yml in place")
    pin_parser.add_argument("--file", type=Path, default=Path("action.yml"))
    for sub in (release_parser, pin_parser):
        sub.add_argument("--image", required=True, help="e.g. ghcr.io/owner/model-check")
        sub.add_argument("--digest", required=True, help="sha256:<64 hex> of the pushed image (index)")
    release_parser.add_argument("--dry-run", action="store_true", help="print the git commands that write, run none")
    args = parser.parse_args(argv)
    try:
        if args.command == "pin":
            original = args.file.read_bytes().decode("utf-8")
            pinned = pin_text(original, args.image, args.digest)
            validate_pinned(original, pinned)
            args.file.write_bytes(pinned.encode("utf-8"))
            return 0
        token = os.environ.get(args.token_env, "") if args.token_env else ""
        if args.token_env and not token:
            raise ReleaseError(f"--token-env {args.token_env}: the variable is empty")
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
        git = Git(args.repo, dry_run=getattr(args, "dry_run", False), token=token, server=server)
        if args.command == "plan":
            fetch(git, args.remote, args.main)
            result = plan(git, args.tag, main_ref=f"refs/remotes/{args.remote}/{args.main}")
            print(f"{args.tag}: " + ("released already, nothing to do" if result.released else
                                     f"to release from {result.commit}" + (f", moving {result.major_tag}" if result.move_major else "")))
            _write_outputs(args.github_output, {"release": str(not result.released).lower(),
                                                "version": ".".join(map(str, result.version))})
            return 0
        commit = release(git, args.tag, args.image, args.digest, remote=args.remote, main=args.main)
        _write_outputs(args.github_output, {"commit": commit})
        return 0
    except ReleaseError as error:
        print(f"release refused: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
