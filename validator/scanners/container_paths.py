"""Paths inside the container a package's own Dockerfile builds: not the author's machine.

`/home/app` in a Dockerfile (`WORKDIR /home/app`) or in a script the Dockerfile copies into the image
names a folder of the image, not of the author's computer. What counts as created by the Dockerfile,
read statically (nothing is built or run): WORKDIR folders, COPY/ADD destinations (and each source's
name under a destination folder), `ENV HOME=…`, the homes of `useradd -m` / `adduser` users, and in RUN
commands what `mkdir`, `touch`, `cp`/`mv`/`ln`/`install` (their destination), `git clone`, `wget -O/-P`,
`curl -o`, `unzip -d` and `tar -C` write, with ARG/ENV values substituted and relative paths taken from
the WORKDIR (and a `cd` earlier in the same RUN).

A private path is inside the container when the Dockerfile creates the private folder itself (the
`/home/<user>` part, or a folder below it) and the path is that created folder, inside it, or one
of its parents. `WORKDIR /home` does not make every `/home/<user>` path the container's, and
`RUN mkdir -p /home/alice/cache` does not cover `/home/alice/data.tif`.
"""

from __future__ import annotations

import fnmatch
import io
import json
import posixpath
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from dockerfile_parse import DockerfileParser

_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_SEPARATORS = re.compile(r"&&|\|\||[;|\n]")


@dataclass
class Container:
    """What one Dockerfile creates in its image, and the package files it copies in."""

    dockerfile: str
    created: set[str] = field(default_factory=set)  # normalised absolute paths
    sources: list[str] = field(default_factory=list)  # COPY/ADD sources from the build context, as written


def is_dockerfile(rel: str) -> bool:
    path = PurePosixPath(rel)
    name = path.name.lower()
    return name.startswith(("dockerfile", "containerfile")) or path.suffix.lower() in (".dockerfile", ".containerfile")


def read_container(rel: str, text: str, is_folder: Callable[[str], bool] = lambda source: False) -> Container:
    """`is_folder(source)`: whether a COPY source (as written) is a folder of the build context; a
    folder's content, not the folder, lands in the destination."""
    try:
        return _read(rel, text, is_folder)
    except Exception:  # hostile input a reader here trips on: nothing is taken as created, every path is reported
        return Container(rel)


def _read(rel: str, text: str, is_folder: Callable[[str], bool]) -> Container:
    container = Container(rel)
    structure = DockerfileParser(fileobj=io.BytesIO(text.encode("utf-8"))).structure
    values: dict[str, str] = {}
    workdir = "/"
    for item in structure:
        instruction = str(item.get("instruction", "")).upper()
        value = str(item.get("value", ""))
        if instruction == "FROM":
            workdir = "/"
        elif instruction in ("ARG", "ENV"):
            for key, assigned in _assignments(value, instruction):
                values[key] = _expand(assigned, values) or ""
                if instruction == "ENV" and key == "HOME":
                    _add(container, _absolute(values[key], workdir))
        elif instruction == "WORKDIR":
            path = _absolute(_expand(value.strip(), values), workdir)
            if path is not None:
                workdir = path
                _add(container, path)
        elif instruction in ("COPY", "ADD"):
            _copy(container, value, values, workdir, is_folder)
        elif instruction == "RUN":
            _run(container, value, values, workdir)
    return container


def inside_container(path: str, private_root: str, created: set[str]) -> bool:
    """Whether `path` (as written, e.g. /home/app/data/x.tif) is in the image: see the module docstring."""
    if not path.startswith("/"):
        return False
    full = posixpath.normpath(path)
    root = posixpath.normpath(private_root)
    for made in created:
        deep_enough = made == root or made.startswith(root.rstrip("/") + "/")
        related = full == made or full.startswith(made + "/") or made.startswith(full.rstrip("/") + "/")
        if deep_enough and related:
            return True
    return False


def copied_files(container: Container, files: list[str]) -> set[str]:
    """The package files a Dockerfile's COPY/ADD sources name (the build context being the Dockerfile's
    folder or the package root: both are taken), globs and folders included."""
    folder = str(PurePosixPath(container.dockerfile).parent)
    found: set[str] = set()
    for source in container.sources:
        for base in {"" if folder == "." else folder, ""}:
            pattern = posixpath.normpath(posixpath.join(base, source.lstrip("/"))) if source.strip("/.") else base
            pattern = "" if pattern == "." else pattern
            for rel in files:
                if (not pattern or rel == pattern or rel.startswith(pattern + "/")
                        or fnmatch.fnmatchcase(rel, pattern)):
                    found.add(rel)
    return found


def _add(container: Container, path: str | None) -> None:
    if path is not None and path != "/":
        container.created.add(path)


def _absolute(path: str | None, workdir: str) -> str | None:
    """A normalised absolute path, or None when it cannot be known statically (an unresolved $VAR)."""
    if not path or "$" in path or path.startswith("~"):
        return None
    return posixpath.normpath(posixpath.join(workdir, path))


def _expand(text: str, values: dict[str, str]) -> str | None:
    expanded = _VAR.sub(lambda m: values.get(m.group(1) or m.group(2), "$?"), text)
    return None if "$" in expanded else expanded.strip("'\"")


def _assignments(value: str, instruction: str) -> list[tuple[str, str]]:
    try:
        words = shlex.split(value)
    except ValueError:
        return []
    if instruction == "ENV" and len(words) >= 2 and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]  # the legacy form: ENV KEY value
    return [tuple(word.split("=", 1)) for word in words if "=" in word]  # type: ignore[misc]


def _copy(container: Container, value: str, values: dict[str, str], workdir: str,
          is_folder: Callable[[str], bool]) -> None:
    stripped = value.strip()
    try:
        words = json.loads(stripped) if stripped.startswith("[") else shlex.split(stripped)
    except ValueError:
        return
    if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
        return
    flags = [word for word in words if word.startswith("--")]
    paths = [word for word in words if not word.startswith("--") and not word.startswith("<<")]
    if len(paths) < 2:
        return
    *sources, destination = paths
    dest = _absolute(_expand(destination, values), workdir)
    if dest is None:
        return
    _add(container, dest)
    from_context = not any(flag.startswith("--from") for flag in flags)
    if destination.endswith("/") or len(sources) > 1:
        for source in sources:
            if source.endswith("/") or not from_context or is_folder(source):
                continue  # a folder's content is copied, not the folder
            name = PurePosixPath(source.rstrip("/")).name
            if name and "*" not in name and "?" not in name and "$" not in name and name not in (".", ".."):
                _add(container, posixpath.join(dest, name))
    if from_context:
        container.sources += [source for source in sources if "://" not in source]


def _run(container: Container, value: str, values: dict[str, str], workdir: str) -> None:
    stripped = value.strip()
    if stripped.startswith("["):
        try:
            words = json.loads(stripped)
        except ValueError:
            return
        commands = [" ".join(shlex.quote(str(word)) for word in words)] if isinstance(words, list) else []
    else:
        commands = _SEPARATORS.split(stripped)
    cwd = workdir
    for command in commands:
        try:
            words = shlex.split(command, comments=True)
        except ValueError:
            continue
        while words and "=" in words[0] and not words[0].startswith("-"):
            words = words[1:]  # VAR=value before the command
        if words and words[0] in ("sudo", "exec"):
            words = words[1:]
        if not words:
            continue
        name, args = PurePosixPath(words[0]).name, words[1:]
        if name == "cd" and args:
            cwd = _absolute(_expand(args[0], values), cwd) or cwd
        elif name == "mkdir":
            for arg in _operands(args, with_value=("-m", "--mode")):
                _add(container, _absolute(_expand(arg, values), cwd))
        elif name in ("useradd", "adduser"):
            _user_home(container, name, args, values, cwd)
        elif name in ("touch", "cp", "mv", "ln", "install"):
            operands = _operands(args, with_value=("-m", "--mode", "-t", "--target-directory", "-o", "-g", "-S"))
            targets = operands if name == "touch" else operands[-1:]
            target_dirs = [value for flag, value in zip(args, args[1:], strict=False) if flag in ("-t", "--target-directory")]
            for target in targets + target_dirs:
                _add(container, _absolute(_expand(target, values), cwd))
        elif name in ("wget", "curl", "unzip", "tar"):
            for target in _option_values(args, _OUTPUT_OPTIONS[name]):
                _add(container, _absolute(_expand(target, values), cwd))
        elif name == "git" and args[:1] == ["clone"]:
            operands = _operands(args[1:], with_value=("-b", "--branch", "-o", "--origin", "--depth", "-c",
                                                       "--config", "--reference", "-j", "--jobs", "--filter"))
            if operands:
                target = operands[1] if len(operands) > 1 else PurePosixPath(operands[0].rstrip("/")).name.removesuffix(".git")
                _add(container, _absolute(_expand(target, values), cwd))


_OUTPUT_OPTIONS = {"wget": ("-O", "--output-document", "-P", "--directory-prefix"),
                   "curl": ("-o", "--output", "--output-dir"), "unzip": ("-d",), "tar": ("-C", "--directory")}


def _option_values(args: list[str], options: tuple[str, ...]) -> list[str]:
    """The values of the options that name where a download or extraction lands (`-O x`, `--output=x`, `-Ox`)."""
    found: list[str] = []
    for index, arg in enumerate(args):
        if arg in options and index + 1 < len(args):
            found.append(args[index + 1])
        elif "=" in arg and arg.split("=", 1)[0] in options:
            found.append(arg.split("=", 1)[1])
        elif len(arg) > 2 and arg[:2] in options and not arg.startswith("--"):
            found.append(arg[2:])
    return found


def _operands(args: list[str], with_value: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in with_value:
            skip = True
        elif not arg.startswith("-"):
            found.append(arg)
    return found


def _user_home(container: Container, command: str, args: list[str], values: dict[str, str], cwd: str) -> None:
    home: str | None = None
    base = "/home"
    creates = command == "adduser"
    skip_next = False
    operands: list[str] = []
    for index, arg in enumerate(args):
        if skip_next:
            skip_next = False
            continue
        following = args[index + 1] if index + 1 < len(args) else ""
        if arg in ("-m", "--create-home"):
            creates = True
        elif arg in ("-M", "--no-create-home", "-H"):
            creates = False
        elif arg in ("-d", "--home-dir", "--home", "-h"):
            home, skip_next = following, True
        elif arg in ("-b", "--base-dir"):
            base, skip_next = following, True
        elif arg.startswith(("--home-dir=", "--home=")):
            home = arg.split("=", 1)[1]
        elif arg in ("-u", "--uid", "-g", "--gid", "-G", "--groups", "-s", "--shell", "-c", "--comment",
                     "--ingroup", "--gecos", "-k", "--skel", "-e", "-f", "-K", "-p", "-U"):
            skip_next = arg not in ("-U",)
        elif not arg.startswith("-"):
            operands.append(arg)
    if not creates or not operands:
        return
    _add(container, _absolute(_expand(home or posixpath.join(base, operands[-1]), values), cwd))
