"""Which modules of an environment get bytecode when it is built, and the compiling itself.

Package code runs with the environment read-only, so whatever has no .pyc is compiled in memory on
every import, in every probe. Compiling all of a torch environment (4,800 modules, 80 MB of source)
took 11 s of a 17.6 s cold build on 2 cores; importing torch, numpy, onnxruntime and safetensors
loads 820 of them (15 MB). So the build compiles what importing any of the environment's top-level
packages loads: the closure of their module-level imports (imports inside a function or under
`if TYPE_CHECKING:` are left out: they run later, or never), read from the source text without
running or even parsing it. The closure is a superset of what loads in practice (checked against a
traced `import torch, numpy, onnxruntime, safetensors`: 816 of its 820 modules, in 1,760 of 4,800
files); a module outside it (a lazy import inside a function) is compiled in memory when imported.

Run by the environment's interpreter in the sandbox with only the environment writable
(`python -I -S -c THIS_FILE'S_TEXT LIB_FOLDER`): the standard library only, nothing imported from
the environment, nothing of it executed; compileall compiles without importing.
"""

from __future__ import annotations

import compileall
import concurrent.futures
import multiprocessing
import os
import re
import sys
from collections.abc import Iterator

_STATEMENT = re.compile(  # a line that opens a function or TYPE_CHECKING body, or imports
    r"^(?P<indent>[ \t]*)(?:(?P<closed>(?:async[ \t]+)?def[ \t]|if[ \t]+(?:typing\.)?TYPE_CHECKING[ \t]*:)"
    r"|from[ \t]+(?P<base>\.*[\w.]*)[ \t]+import[ \t]+(?P<names>[^#\n;]*)|import[ \t]+(?P<modules>[^#\n;]+)"
    r"|.*?import_module\(\s*[\"'](?P<dynamic>[\w.]+)[\"']\s*\))", re.M)
_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_BODY_ENDS: dict[int, re.Pattern[str]] = {}  # indentation -> the next line indented no deeper (brackets aside)
MAX_SOURCE_BYTES = 16 * 2**20  # a larger "module" is data, not code that imports
# What the probes (validator/runtime/probes/) import beyond the top-level packages themselves.
PROBE_MODULES = ("safetensors.torch", "onnx.numpy_helper", "skops.io")


def module_level_imports(text: str) -> Iterator[tuple[str, str, int]]:
    """(base, names, level) of the import statements that run when the module is imported: `import a.b`
    gives ("a.b", "", 0); `from ..x import y, z` gives ("x", "y, z", 2). The body of a function or of an
    `if TYPE_CHECKING:` block is skipped whole: up to the next line indented no deeper than its first
    line (a line that starts with a closing bracket ends a signature, not the body)."""
    position = 0
    while (found := _STATEMENT.search(text, position)) is not None:
        position = found.end()
        if found["closed"]:
            depth = len(found["indent"])  # characters, as the pattern below counts them
            ends = _BODY_ENDS.get(depth)
            if ends is None:
                ends = _BODY_ENDS[depth] = re.compile(rf"^[ \t]{{0,{depth}}}(?![ \t#\n)\]}}])", re.M)
            newline = text.find("\n", position)
            after = ends.search(text, newline + 1) if newline >= 0 else None
            position = after.start() if after else len(text)
        elif found["dynamic"]:
            yield found["dynamic"], "", 0
        elif found["base"] is not None:
            names = found["names"]
            if names.startswith("(") and ")" not in names:  # `from x import (\n a,\n b)`
                close = text.find(")", position)
                names += text[position:close if close >= 0 else len(text)]
            base = found["base"]
            yield base.lstrip("."), names, len(base) - len(base.lstrip("."))
        else:
            for part in found["modules"].split(","):
                name = _NAME.match(part.strip())
                if name:
                    yield name[0], "", 0


class Closure:
    """The modules of one site-packages folder reachable by module-level imports."""

    def __init__(self, site: str) -> None:
        self.site = site
        self._seen: set[str] = set()

    def source_of(self, module: str) -> tuple[str, bool] | None:
        """(file, is a package) for a module of this folder, or None (not here: the standard library, a
        C extension, a name that is an attribute)."""
        path = os.path.join(self.site, *module.split("."))
        if os.path.isfile(os.path.join(path, "__init__.py")):
            return os.path.join(path, "__init__.py"), True
        if os.path.isfile(path + ".py"):
            return path + ".py", False
        return None

    def add(self, roots: list[str]) -> Iterator[str]:
        """Walk from roots; each new module's source file as it is found."""
        pending = list(roots)
        while pending:
            module = pending.pop()
            if module in self._seen:
                continue
            self._seen.add(module)
            found = self.source_of(module)
            if found is None:
                continue
            path, package = found
            yield path
            pending += [name for name in self._imports_of(module, path, package) if name not in self._seen]

    def _imports_of(self, module: str, path: str, package: bool) -> Iterator[str]:
        try:
            with open(path, "rb") as handle:
                text = handle.read(MAX_SOURCE_BYTES).decode("utf-8", "replace")
        except OSError:
            return
        parts = module.split(".")
        # every parent package runs first
        yield from (".".join(parts[:depth]) for depth in range(1, len(parts)))
        for base, names, level in module_level_imports(text):
            if level:
                anchor = parts if package else parts[:-1]
                anchor = anchor[: len(anchor) - (level - 1)] if level > 1 else anchor
                base = ".".join([*anchor, base] if base else anchor)
            if not base:
                continue
            pieces = base.split(".")
            yield from (".".join(pieces[:depth]) for depth in range(1, len(pieces) + 1))
            for name in _NAME.findall(names.replace("(", " ").replace(")", " ")):
                if name != "as" and "." not in name:
                    yield f"{base}.{name}"  # a submodule, when it is one


def top_level_modules(site: str) -> list[str]:
    """Every importable top-level name of a site-packages folder; the subpackages of a namespace folder."""
    names = []
    for entry in sorted(os.scandir(site), key=lambda e: e.name):
        if entry.name.startswith(".") or "." in entry.name.removesuffix(".py"):
            continue
        if entry.is_file() and entry.name.endswith(".py"):
            names.append(entry.name[:-3])
        elif entry.is_dir(follow_symlinks=False) and not entry.name.endswith((".dist-info", ".egg-info", ".libs", ".data")):
            if os.path.isfile(os.path.join(entry.path, "__init__.py")):
                names.append(entry.name)
            else:  # a namespace package (google/, …): its subpackages are the roots
                names += [f"{entry.name}.{sub.name}" for sub in os.scandir(entry.path)
                          if sub.is_dir(follow_symlinks=False) and os.path.isfile(os.path.join(sub.path, "__init__.py"))]
    return names


def site_folders(lib: str) -> list[str]:
    return sorted(os.path.join(lib, name, "site-packages") for name in os.listdir(lib)
                  if name.startswith("python") and os.path.isdir(os.path.join(lib, name, "site-packages")))


def _compile(paths: list[str]) -> int:
    return sum(bool(compileall.compile_file(path, quiet=2)) for path in paths)


def main(argv: list[str]) -> int:
    """Compile the closure of every site-packages folder under argv[0] (an environment's lib/): the
    modules are compiled by worker processes while the walk goes on finding them."""
    workers = min(os.cpu_count() or 1, 8)
    batch: list[str] = []
    done: list[concurrent.futures.Future[int]] = []
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        for site in site_folders(argv[0]):
            for path in Closure(site).add([*top_level_modules(site), *PROBE_MODULES]):
                batch.append(path)
                if len(batch) == 32:
                    done.append(pool.submit(_compile, batch))
                    batch = []
        done.append(pool.submit(_compile, batch))
        compiled = sum(future.result() for future in done)
    print(f"{compiled} modules compiled")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
