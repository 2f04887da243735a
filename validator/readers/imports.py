"""The modules a package's code imports, read with `ast` (never executed), and what may provide them.

Where imports are read: the entry points a user runs (inference.py, the script the card's inference
command names, the notebooks) and, followed transitively, the package's own modules they import.
Training scripts, tests and setup code are not the runtime and are not read unless an entry point
imports them.

Optional imports are left out: inside `try:` whose handler catches ImportError (or
ModuleNotFoundError, Exception, a bare except), under `if TYPE_CHECKING:`, and under a test of
`sys.version_info` / `sys.platform` (backports and platform modules). In notebooks, lines starting
with `%` or `!` (magics, shell commands) are blanked before parsing, keeping line numbers.

Which distribution provides an import name is not in the code: `provides` compares canonical
names with a few mechanical variants (python-dateutil -> dateutil, pyyaml -> yaml, pytorch -> torch,
onnxruntime-gpu -> onnxruntime, opencv-python-headless -> opencv) and, for names that differ entirely,
the small table IMPORT_TO_DISTRIBUTIONS. When an environment was built, its installed files answer
instead (validator.runtime.environments.top_level).
"""

from __future__ import annotations

import ast
import json
import posixpath
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

if TYPE_CHECKING:
    from validator.readers.package import ModelPackage

MAX_SOURCE_BYTES = 2 * 1024 * 1024  # larger sources are not parsed (generated code, not an entry point)
MAX_FILES = 500  # package modules followed from the entry points
STDLIB: frozenset[str] = frozenset(sys.stdlib_module_names) | {"__future__", "__main__"}
# Provided by every Jupyter kernel a notebook runs in.
KERNEL_MODULES = frozenset({"IPython", "ipykernel"})
LOCAL_ONLY = -1  # the "level" of a name that is followed when it is a package module, and otherwise ignored

# Import names whose distribution name is not the import name or a mechanical variant of it.
# Keys are top-level or dotted import names; values are canonical distribution names (PyPI, conda,
# and Debian's python3-* where they differ). Kept to names seen in model packages and their tooling.
IMPORT_TO_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "sklearn": ("scikit-learn",),
    "skimage": ("scikit-image",),
    "PIL": ("pillow", "pillow-simd"),
    "cv2": ("opencv-python", "opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless",
            "opencv", "py-opencv", "libopencv"),
    "yaml": ("pyyaml",),
    "osgeo": ("gdal", "libgdal", "pygdal", "python3-gdal"),
    "ee": ("earthengine-api",),
    "google.protobuf": ("protobuf",),
    "attr": ("attrs",),
    "dateutil": ("python-dateutil",),
    "bs4": ("beautifulsoup4",),
    "mpl_toolkits": ("matplotlib", "basemap"),
    "pkg_resources": ("setuptools",),
    "Crypto": ("pycryptodome", "pycrypto"),
    "OpenSSL": ("pyopenssl",),
    "git": ("gitpython",),
    "dotenv": ("python-dotenv",),
    "hydra": ("hydra-core",),
    "fitz": ("pymupdf",),
    "absl": ("absl-py",),
    "lightning": ("lightning", "pytorch-lightning"),
    "pytorch_lightning": ("pytorch-lightning", "lightning"),
    "torch": ("torch", "pytorch", "torch-cpu"),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-macos", "tensorflow-intel"),
    "jwt": ("pyjwt",),
    "zmq": ("pyzmq",),
    "serial": ("pyserial",),
    "magic": ("python-magic",),
    "docx": ("python-docx",),
    "Levenshtein": ("levenshtein", "python-levenshtein"),
    "sentinelhub": ("sentinelhub",),
    "netCDF4": ("netcdf4",),
    "MySQLdb": ("mysqlclient",),
    "win32api": ("pywin32",),
    "Bio": ("biopython",),
    "faiss": ("faiss-cpu", "faiss-gpu", "faiss"),
    "mmcv": ("mmcv", "mmcv-full", "mmcv-lite"),
    "tensorflow_hub": ("tensorflow-hub",),
    "keras": ("keras", "tensorflow", "tensorflow-cpu", "tensorflow-gpu"),  # tensorflow 2 installs keras
    "google.cloud.storage": ("google-cloud-storage",),
    "googleapiclient": ("google-api-python-client",),
    "segmentation_models_pytorch": ("segmentation-models-pytorch",),
}
_PREFIXES = ("python-", "py-", "python3-", "py")
_SUFFIXES = ("-cpu", "-gpu", "-headless", "-binary", "-full", "-python", "-contrib", "-lite", "-cuda")


@dataclass(frozen=True)
class ImportSite:
    """One import statement of one module."""

    module: str  # the dotted name as imported (`osgeo.gdal`)
    file: str
    line: int  # in the file (for a notebook: the line in the .ipynb JSON, when it can be told; else 0)
    cell: int | None = None  # notebook cell, counted from 1 over all cells as Jupyter shows them
    cell_line: int | None = None  # line within the cell

    @property
    def top(self) -> str:
        return self.module.split(".", 1)[0]

    def where(self) -> str:
        if self.cell is not None:
            return f"{self.file} cell {self.cell} line {self.cell_line}"
        return f"{self.file}:{self.line}"


@dataclass
class CodeImports:
    """Imports of the package's runtime code that are not the package's own nor the standard library."""

    entry_points: list[str] = field(default_factory=list)  # files the reading started from
    read: list[str] = field(default_factory=list)  # every file read, entry points first
    external: list[ImportSite] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)  # "file: why" for code that could not be parsed


def entry_points(pkg: ModelPackage) -> list[str]:
    """inference.py, the Python script the card's inference command runs, and the notebooks."""
    found: list[str] = []
    inference = pkg.find("inference.py")
    if inference is not None:
        found.append(inference)
    facts = pkg.card_facts
    command = facts.inference_command if facts else None
    if command is not None:
        found += [token for token in command.value.split() if token.endswith(".py") and pkg.has(token)]
    found += [rel for rel in pkg.files if rel.endswith(".ipynb") and ".ipynb_checkpoints/" not in rel
              and not rel.startswith(("tests/", "test/"))]
    return list(dict.fromkeys(found))


def read_imports(pkg: ModelPackage) -> CodeImports:
    """Imports of the entry points and of the package modules they import, transitively."""
    result = CodeImports(entry_points=entry_points(pkg))
    modules = _module_index(pkg.files)
    # a module of the package reached by a sys.path change (sys.path.append("../src")): its own, not a distribution's
    anywhere = {posixpath.basename(module) for module in modules}
    queue = list(result.entry_points)
    seen: set[str] = set()
    while queue and len(seen) < MAX_FILES:
        rel = queue.pop(0)
        if rel in seen:
            continue
        seen.add(rel)
        result.read.append(rel)
        sites, problem = _file_imports(pkg, rel)
        if problem is not None:
            result.unparsed.append(problem)
        for site, level in sites:
            local = _resolve_local(site, level, rel, modules)
            if local is not None:
                queue += [f for f in local if f not in seen and not f.endswith((".so", ".pyd"))]
            elif level == 0 and site.top not in STDLIB | anywhere and not (rel.endswith(".ipynb") and site.top in KERNEL_MODULES):
                result.external.append(site)
    return result


# -- reading one file -------------------------------------------------------------------------
def _file_imports(pkg: ModelPackage, rel: str) -> tuple[list[tuple[ImportSite, int]], str | None]:
    read = pkg.read_text(rel, limit=MAX_SOURCE_BYTES * (8 if rel.endswith(".ipynb") else 1))
    if read.text is None:
        return [], read.problem
    if rel.endswith(".ipynb"):
        return _notebook_imports(read.text, rel)
    try:
        tree = ast.parse(read.text, filename=rel)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return [], f"{rel} does not parse as Python ({_why(exc)})"
    return [(ImportSite(name, rel, line), level) for name, line, level in source_imports(tree)], None


def _notebook_imports(text: str, rel: str) -> tuple[list[tuple[ImportSite, int]], str | None]:
    try:
        notebook = json.loads(text)
        cells = notebook.get("cells") if isinstance(notebook, dict) else None
    except (ValueError, RecursionError):
        return [], f"{rel} is not a valid notebook (JSON)"
    if not isinstance(cells, list):
        return [], f"{rel} has no list of cells"
    starts = _source_lines(text)
    found: list[tuple[ImportSite, int]] = []
    problems: list[str] = []
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        lines = [str(s) for s in source] if isinstance(source, list) else str(source).splitlines(keepends=True)
        code = "".join("\n" if _is_magic(line) else line for line in lines)
        if not code.endswith("\n"):
            code += "\n"
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            problems.append(f"cell {number} ({_why(exc)})")
            continue
        for name, line, level in source_imports(tree):
            start = starts.get(number)
            json_line = start + line if start is not None and isinstance(source, list) else 0
            found.append((ImportSite(name, rel, json_line, number, line), level))
    problem = f"{rel}: {', '.join(problems[:5])} do not parse as Python" if problems else None
    return found, problem


def _is_magic(line: str) -> bool:
    stripped = line.lstrip()
    return stripped.startswith(("%", "!")) or (stripped.rstrip().endswith("?") and not stripped.startswith("#"))


def _source_lines(text: str) -> dict[int, int]:
    """Cell number -> line of its `"source": [` key, when the notebook is indented JSON (nbformat's layout)."""
    from validator.readers.notebook import NotebookLines

    lines = text.splitlines()
    labels = NotebookLines(text)
    starts: dict[int, int] = {}
    for number, line in enumerate(lines, start=1):
        label = labels.label(number)
        if label.endswith(" source") and line.strip().startswith('"source": ['):
            starts.setdefault(int(label.split()[1]), number)
    return starts


def source_imports(tree: ast.AST) -> list[tuple[str, int, int]]:
    """(dotted module, line, relative level or LOCAL_ONLY) of every import that runs unconditionally enough to need
    its module: optional imports (try/except ImportError, TYPE_CHECKING, version/platform tests) are left out."""
    found: list[tuple[str, int, int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno, 0) for alias in node.names)
            return
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = node.module or ""
                found.extend((f"{base}.{alias.name}".strip(".") if not node.module else base, node.lineno, node.level)
                             for alias in node.names)
            elif node.module:
                found.append((node.module, node.lineno, 0))
                # `from pkg import mod` may name a submodule of the package's own: followed, never reported
                found.extend((f"{node.module}.{alias.name}", node.lineno, LOCAL_ONLY) for alias in node.names if alias.name != "*")
            return
        if isinstance(node, ast.Try | ast.TryStar) and _catches_import_error(node):
            for child in node.orelse + node.finalbody:
                visit(child)
            for handler in node.handlers:
                visit(handler)
            return
        if isinstance(node, ast.If) and _optional_test(node.test):
            if _mentions(node.test, "TYPE_CHECKING"):
                for branch in node.orelse:  # the else branch of `if TYPE_CHECKING:` is what runs
                    visit(branch)
            return
        for inner in ast.iter_child_nodes(node):
            visit(inner)

    visit(tree)
    return found


def _catches_import_error(node: ast.Try | ast.TryStar) -> bool:
    for handler in node.handlers:
        if handler.type is None:
            return True
        types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        for kind in types:
            name = kind.attr if isinstance(kind, ast.Attribute) else kind.id if isinstance(kind, ast.Name) else ""
            if name in ("ImportError", "ModuleNotFoundError", "Exception", "BaseException"):
                return True
    return False


def _optional_test(test: ast.expr) -> bool:
    return any(_mentions(test, name) for name in ("TYPE_CHECKING", "version_info", "platform", "PY2", "PY3"))


def _mentions(test: ast.expr, name: str) -> bool:
    return any((isinstance(n, ast.Name) and n.id == name) or (isinstance(n, ast.Attribute) and n.attr == name)
               for n in ast.walk(test))


def _why(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"line {exc.lineno}: {exc.msg}"
    return type(exc).__name__


# -- the package's own modules ----------------------------------------------------------------
def _module_index(files: Iterable[str]) -> dict[str, list[str]]:
    """Importable path (without suffix, `a/b/mod` or `a/pkg`) -> the file(s) that module is."""
    index: dict[str, list[str]] = {}
    for rel in files:
        if rel.endswith((".py", ".pyi", ".so", ".pyd")):
            stem = rel.split(".", 1)[0] if not rel.endswith((".py", ".pyi")) else rel.rsplit(".", 1)[0]
            if stem.endswith("/__init__"):
                index.setdefault(stem[: -len("/__init__")], []).append(rel)
            else:
                index.setdefault(stem, []).append(rel)
            # every folder holding Python code is importable as a (namespace) package
            parent = posixpath.dirname(stem)
            while parent:
                index.setdefault(parent, [])
                parent = posixpath.dirname(parent)
    return index


def _resolve_local(site: ImportSite, level: int, importer: str, modules: dict[str, list[str]]) -> list[str] | None:
    """The package files an import names, or None when it names no module of the package.

    Relative imports are always the package's own (a missing one is not a distribution's to provide).
    Absolute imports are looked up from the importing file's folder and each folder above it (the
    script's folder is sys.path[0]; a package sits above its modules), and under src/."""
    path = site.module.replace(".", "/")
    folder = posixpath.dirname(importer)
    if level == LOCAL_ONLY:
        level = 0
    if level > 0:
        for _ in range(level - 1):
            folder = posixpath.dirname(folder)
        target = posixpath.join(folder, path) if path else folder
        if target in modules:
            return modules[target]
        parent = posixpath.dirname(target) if path else folder
        return modules.get(parent, [])  # `from . import name`: an attribute of the package
    roots = [folder]
    while roots[-1]:
        roots.append(posixpath.dirname(roots[-1]))
    roots.append("src")
    parts = path.split("/")
    for root in roots:
        for end in range(len(parts), 0, -1):
            candidate = posixpath.join(root, *parts[:end]) if root else "/".join(parts[:end])
            if candidate in modules:
                return modules[candidate]
    return None


# -- which distribution provides an import ----------------------------------------------------
def distribution_forms(name: str) -> set[str]:
    """A distribution's canonical name and the import names it commonly stands for."""
    canonical: str = canonicalize_name(name)
    forms: set[str] = {canonical}
    for prefix in _PREFIXES:
        if canonical.startswith(prefix) and len(canonical) > len(prefix) + 1:
            forms.add(canonical[len(prefix):].lstrip("-"))
    for form in list(forms):
        for suffix in _SUFFIXES:
            if form.endswith(suffix) and len(form) > len(suffix) + 1:
                forms.add(form[: -len(suffix)])
    return forms


def import_candidates(module: str) -> set[str]:
    """Canonical distribution names that could provide `module` (dotted)."""
    parts = module.split(".")
    found: set[str] = set()
    for end in range(len(parts), 0, -1):
        dotted = ".".join(parts[:end])
        found.add(canonicalize_name(dotted.replace(".", "-")))
        found.update(IMPORT_TO_DISTRIBUTIONS.get(dotted, ()))
    return found


def provided_by(module: str, distributions: Iterable[str]) -> str | None:
    """The first of `distributions` that provides `module`, or None."""
    wanted = import_candidates(module)
    # A namespace package (`from google.cloud import storage`, `azure.storage`): a distribution named
    # after the namespace plus one more part (google-cloud-storage) provides it.
    namespace = canonicalize_name(module.replace(".", "-")) + "-" if "." in module else None
    for dist in distributions:
        if canonicalize_name(dist) in wanted or distribution_forms(dist) & wanted:
            return dist
        if namespace is not None and canonicalize_name(dist).startswith(namespace):
            return dist
    return None


# -- what the runtime declares, and what only other groups declare ----------------------------
_BARE_IMAGES = ("python", "debian", "ubuntu", "alpine", "buildpack-deps", "busybox", "scratch", "fedora", "centos",
                "rockylinux", "almalinux", "amazonlinux", "cuda", "distroless")
# Base images whose Python distributions are known: the image name holds the key.
_IMAGE_PROVIDES: dict[str, tuple[str, ...]] = {
    "pytorch": ("torch", "torchvision", "torchaudio", "numpy", "pillow"),
    "tensorflow": ("tensorflow", "keras", "numpy", "h5py"),
    "gdal": ("gdal", "numpy"),
}


@dataclass
class Declarations:
    """The distributions a user's install of the runtime gets, by canonical name -> "file:line"."""

    runtime: dict[str, str] = field(default_factory=dict)
    elsewhere: dict[str, list[str]] = field(default_factory=dict)  # name -> ["extra cpu of pyproject.toml", …]
    unknown: list[str] = field(default_factory=list)  # sources that may install anything (a URL, a base image)
    files: list[str] = field(default_factory=list)  # the runtime files read

    def add_elsewhere(self, name: str, label: str) -> None:
        labels = self.elsewhere.setdefault(canonicalize_name(name), [])
        if label not in labels:
            labels.append(label)


def declared_distributions(pkg: ModelPackage) -> Declarations:
    """What the runtime files install (requirements.txt, environment.yml, Dockerfile; pyproject.toml's
    dependencies when a runtime file installs the project, or when there is no runtime file), and what
    only extras, dependency groups or other requirement files name."""
    import re
    import tomllib

    declared = Declarations()
    spec = pkg.runtime_spec
    declared.files = list(spec.files_read)
    installs_project: list[str] = []  # extras asked for with the local install, "" for none
    for pin in spec.pins:
        where = f"{pin.file}:{pin.line}"
        if pin.source == "apt":
            name = pin.name.lower()
            for prefix in ("python3-", "python-"):
                if name.startswith(prefix):
                    declared.runtime.setdefault(canonicalize_name(name[len(prefix):]), where)
            continue
        local = re.fullmatch(r"(?:-e\s+|--editable[ =]\s*)?(?:file:)?\.(?:/)?(?:\[([\w,\s-]*)\])?", pin.spec.strip())
        if local is not None:
            installs_project.append(local.group(1) or "")
            continue
        if "/" in pin.name or ":" in pin.name or " " in pin.name:  # a URL or path without a name
            declared.unknown.append(f"{pin.spec} ({where})")
            continue
        declared.runtime.setdefault(pin.name, where)
    for image, rel, line in spec.base_images:
        bare = image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0].lower()
        provided = [names for key, names in _IMAGE_PROVIDES.items() if key in image.lower()]
        for names in provided:
            for name in names:
                declared.runtime.setdefault(name, f"{rel}:{line} (base image {image})")
        if not provided and not any(bare == b or bare.startswith(b + "-") for b in _BARE_IMAGES):
            declared.unknown.append(f"the base image {image} ({rel}:{line})")
    docker = pkg.find("Dockerfile")
    docker_text = (pkg.read_text(docker).text or "") if docker is not None else ""
    for match in re.finditer(r"pip3?\s+install\b[^\n&;|]*?\s(?:-e\s+)?\.(?:/)?(?:\[([\w,\s-]*)\])?(?=\s|$)", docker_text):
        installs_project.append(match.group(1) or "")
    if installs_project and (pkg.has("setup.py") or pkg.has("setup.cfg")):
        _setup_requires(pkg, declared)
    if pkg.has("pyproject.toml"):
        text = pkg.read_text("pyproject.toml").text
        try:
            data = tomllib.loads(text) if text is not None else {}
        except (tomllib.TOMLDecodeError, RecursionError):
            data = {}
        _pyproject(data, declared, installs_project if spec.files_read else [""])
    for rel in pkg.files:
        name = posixpath.basename(rel).lower()
        if ("requirements" in name and name.endswith((".txt", ".in"))) and rel not in spec.files_read:
            for requirement in (pkg.read_text(rel).text or "").splitlines():
                named = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
                if named and not requirement.lstrip().startswith(("-", "#")):
                    declared.add_elsewhere(named.group(1), rel)
    return declared


def _pyproject(data: dict[str, object], declared: Declarations, installs: list[str]) -> None:
    """[project] / [tool.poetry] dependencies (runtime when the project is installed: `installs` holds the
    extras each install asks for), optional dependencies (extras) and dependency groups."""
    from packaging.requirements import InvalidRequirement, Requirement

    def names(entries: object) -> list[str]:
        found: list[str] = []
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, str):
                try:
                    found.append(canonicalize_name(Requirement(entry).name))
                except InvalidRequirement:
                    continue
        return found

    def table(*path: str) -> dict[str, object]:
        node: object = data
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        return node if isinstance(node, dict) else {}

    wanted_extras = {extra.strip() for extras in installs for extra in extras.split(",") if extra.strip()}
    project = table("project")
    for name in names(project.get("dependencies")):
        if installs:
            declared.runtime.setdefault(name, "pyproject.toml [project] dependencies")
        else:
            declared.add_elsewhere(name, "pyproject.toml's [project] dependencies, which no runtime file installs")
    for extra, entries in table("project", "optional-dependencies").items():
        for name in names(entries):
            if installs and extra in wanted_extras:
                declared.runtime.setdefault(name, f"pyproject.toml extra {extra}")
            else:
                declared.add_elsewhere(name, f"extra {extra!r} of pyproject.toml")
    for group, entries in table("dependency-groups").items():
        for name in names(entries):
            declared.add_elsewhere(name, f"dependency group {group!r} of pyproject.toml")
    for name in names(table("tool", "uv").get("dev-dependencies")):
        declared.add_elsewhere(name, "[tool.uv] dev-dependencies of pyproject.toml")
    for group, entries in table("tool", "pdm", "dev-dependencies").items():
        for name in names(entries):
            declared.add_elsewhere(name, f"pdm dev group {group!r} of pyproject.toml")
    poetry = table("tool", "poetry")
    for name in table("tool", "poetry", "dependencies"):
        if name.lower() != "python":
            if installs:
                declared.runtime.setdefault(canonicalize_name(name), "pyproject.toml [tool.poetry.dependencies]")
            else:
                declared.add_elsewhere(name, "pyproject.toml's [tool.poetry.dependencies], which no runtime file installs")
    for name in table("tool", "poetry", "dev-dependencies"):
        declared.add_elsewhere(name, "poetry dev-dependencies of pyproject.toml")
    groups = poetry.get("group")
    for group, body in (groups if isinstance(groups, dict) else {}).items():
        deps = body.get("dependencies") if isinstance(body, dict) else None
        for name in deps if isinstance(deps, dict) else {}:
            declared.add_elsewhere(name, f"poetry group {group!r} of pyproject.toml")


def _setup_requires(pkg: ModelPackage, declared: Declarations) -> None:
    """install_requires of setup.py (a literal list, read with ast) or setup.cfg; a setup.py computing it is
    a source model-check cannot look into."""
    import configparser

    from packaging.requirements import InvalidRequirement, Requirement

    found: list[str] | None = None
    text = pkg.read_text("setup.py").text if pkg.has("setup.py") else None
    if text is not None:
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            tree = None
        for node in ast.walk(tree) if tree is not None else []:
            if isinstance(node, ast.keyword) and node.arg == "install_requires":
                if isinstance(node.value, ast.List | ast.Tuple) and all(
                        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.value.elts):
                    found = [str(e.value) for e in node.value.elts if isinstance(e, ast.Constant)]
                else:
                    declared.unknown.append("setup.py's install_requires (computed, not a literal list)")
    cfg = pkg.read_text("setup.cfg").text if pkg.has("setup.cfg") else None
    if cfg is not None and found is None:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(cfg)
            found = [line for line in parser.get("options", "install_requires", fallback="").splitlines() if line.strip()]
        except configparser.Error:
            found = None
    for entry in found or []:
        try:
            declared.runtime.setdefault(canonicalize_name(Requirement(entry.strip()).name), "setup.py install_requires")
        except InvalidRequirement:
            continue
