"""The package files a model card's shell commands name: `python train.py`, `pip install -r
requirements.txt`, `bash run.sh`, `conda env create -f environment.yml`, a notebook to open.

Only shell-like code blocks (no language, or bash/sh/shell/console/zsh) are read, line by line: a
Python block's text is code, not a command. Paths with variables, placeholders, URLs, absolute paths
and `..` are left alone (the security check judges private paths), and so is a file an earlier line of
the block names (downloads it, writes it), and a path in a folder the package lacks once the block has
unpacked an archive or cloned a repository (`tar -xf sdk.tar.gz`, then `./sdk/install.sh`); a `cd` into a folder of the package moves where the following
paths are looked up, a `cd` anywhere else (a clone's folder) leads back to the package root.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath

from validator.readers.markdown import ParsedMarkdown

MAX_LINES = 400  # of one code block: set-up instructions are short; a machine-generated block is not read whole
SHELL_BLOCKS = frozenset({"", "bash", "sh", "shell", "console", "zsh", "shell-session", "terminal"})
_PROMPT = re.compile(r"^\s{0,8}(?:\$|>|#|\(\w[\w.-]{0,40}\)\s{0,4}\$|%)\s{1,4}")
_FILE_ARGUMENT = {  # program -> options whose next word is a file of the package
    "pip": ("-r", "--requirement", "-c", "--constraint"), "pip3": ("-r", "--requirement", "-c", "--constraint"),
    "conda": ("-f", "--file"), "mamba": ("-f", "--file"), "micromamba": ("-f", "--file"),
    "docker": ("-f", "--file"),
}
_SCRIPT_RUNNERS = frozenset({"python", "python3", "bash", "sh", "Rscript", "julia"})
_NOTEBOOK_RUNNERS = frozenset({"jupyter", "papermill"})


@dataclass(frozen=True)
class FileReference:
    path: str  # relative to the package root, POSIX
    line: int  # 1-based, in the card
    command: str  # the command line as written


def referenced_files(card: ParsedMarkdown, folders: frozenset[str]) -> list[FileReference]:
    """Every package file the card's shell commands name; `folders` are the package's folders."""
    found: list[FileReference] = []
    for section in card.sections:
        for block in section.code:
            if block.info.strip().lower() not in SHELL_BLOCKS:
                continue
            folder = PurePosixPath(".")
            earlier = ""
            unpacked = False  # an earlier line unpacked an archive or cloned: its folders are not the package's
            for offset, raw in enumerate(block.content.splitlines()[:MAX_LINES], start=1):
                line = _PROMPT.sub("", raw).strip()
                if not line or line.startswith("#"):
                    continue
                for command in re.split(r"&&|;|\|\|", line)[:16]:
                    words = _words(command)
                    if len(words) >= 2 and words[0] == "cd":
                        folder = _moved(folder, words[1], folders)
                        continue
                    for path in _files_named(words):
                        if PurePosixPath(path).name in earlier or (unpacked and _in_new_folder(folder / path, folders)):
                            continue
                        found.append(FileReference((folder / path).as_posix(), block.line + offset, line[:200]))
                    unpacked = unpacked or _unpacks(words)
                    earlier += command + "\n"
    return found


_UNPACKERS = frozenset({"tar", "unzip", "7z", "bsdtar", "unrar"})


def _unpacks(words: list[str]) -> bool:
    """`tar -xf x.tar.gz`, `unzip x.zip`, `git clone URL`: the command makes folders the package lacks."""
    return bool(words) and (words[0] in _UNPACKERS or words[:2] == ["git", "clone"])


def _in_new_folder(path: PurePosixPath, folders: frozenset[str]) -> bool:
    """True when the path lies in a folder the package does not have (one an unpacked archive made)."""
    parent = PurePosixPath(*[part for part in path.parent.parts if part != "."])
    return parent.as_posix() != "." and parent.as_posix() not in folders


def _words(command: str) -> list[str]:
    try:
        return shlex.split(command[:2000])
    except ValueError:  # an unbalanced quote: not a command to judge
        return []


def _moved(folder: PurePosixPath, target: str, folders: frozenset[str]) -> PurePosixPath:
    """Where `cd target` leads, as a package path; the root for anything outside the package (a clone's folder)."""
    moved = folder / target
    return moved if _checkable(target) and moved.as_posix() in folders else PurePosixPath(".")


def _files_named(words: list[str]) -> list[str]:
    if not words:
        return []
    program = PurePosixPath(words[0]).name
    if program == "pip" or (program.startswith("python") and words[1:3] == ["-m", "pip"]):
        options = _FILE_ARGUMENT["pip"]
        return [path for option, path in zip(words, words[1:], strict=False) if option in options and _checkable(path)]
    if program in _FILE_ARGUMENT:
        options = _FILE_ARGUMENT[program]
        return [path for option, path in zip(words, words[1:], strict=False) if option in options and _checkable(path)]
    if program in _SCRIPT_RUNNERS or re.fullmatch(r"python3(\.\d{1,2})?", program):
        script = next((w for w in words[1:] if not w.startswith("-")), None)
        if script is not None and words[1:2] != ["-m"] and words[1:2] != ["-c"] and _checkable(script):
            return [script]
        return []
    if program in _NOTEBOOK_RUNNERS:
        return [w for w in words[1:] if w.endswith(".ipynb") and _checkable(w)][:1]
    if words[0].startswith("./") and _checkable(words[0]):
        return [words[0]]
    return []


def _checkable(path: str) -> bool:
    """A plain relative path inside the package (no variable, placeholder, URL, home or parent folder)."""
    if not path or len(path) > 200 or path.startswith(("/", "~", "-")) or "://" in path:
        return False
    if any(c in path for c in "$<>{}[]*?%`|\\") or ".." in PurePosixPath(path).parts:
        return False
    return True
