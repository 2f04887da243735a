"""GPU-only pins replaced by their CPU equivalents when the torch build is cpu (`--torch-backend cpu`, or
`auto` resolving to cpu), in derived copies of the runtime files that only the build sees; the package is
never changed, and every replacement is reported (rule MC395, and the environment's notes).

What is replaced, in requirements files (with their -r / -c includes) and in environment.yml (its pip
section, its -r includes, and its conda dependencies):

- `torch==2.5.1+cu121` (torch, torchvision, torchaudio with a +cuXXX / +rocmX local version) becomes
  `torch==2.5.1`: the PyTorch cpu index's `2.5.1+cpu` satisfies it and sorts above PyPI's `2.5.1`, and
  it still resolves where only a mirror or a wheelhouse is reachable (a `+cpu` pin would not, nor on macOS,
  whose wheels carry no local version). The line's --hash options were for the CUDA wheel: dropped too.
- distributions that CUDA builds of torch require and CPU builds do not (the CUDA companions: nvidia-*
  but nvidia-ml-py, triton / pytorch-triton, cuda-toolkit, cuda-bindings, cuda-pathfinder) are dropped
  when torch is in the same runtime and the package's code does not import them. Read from the wheels'
  metadata: torch 2.14.1 (PyPI, CUDA) requires `cuda-toolkit[…]`, `cuda-bindings`, `nvidia-cudnn-cu13`, …
  and `triton~=3.8.0; platform_system == "Linux"`; the CPU wheel torch 2.13.0+cpu requires none of them.
  CPU torch does not need triton: torch.compile on the CPU generates C++ (inductor's CPU backend);
  triton compiles GPU kernels only. Code that imports triton (or `cuda`, `nvidia`) keeps its line.
- a PyTorch GPU index (`--extra-index-url https://download.pytorch.org/whl/cu121`, `--index-url …`,
  `-f https://download.pytorch.org/whl/cu118/torch_stable.html`) becomes the cpu one; the all-builds page
  `-f https://download.pytorch.org/whl/torch_stable.html` becomes `…/whl/cpu/torch_stable.html` (on the
  all-builds page a plain `==2.5.1` would pick +cu or +rocm, which sort above +cpu).
- conda: `pytorch-cuda=12.1` becomes `cpuonly` (the pytorch channel's CPU selector), `pytorch-gpu` becomes
  `pytorch-cpu` (conda-forge), a CUDA build string (`pytorch=2.1.0=*cuda*`) is dropped from the pin, and
  cudatoolkit, cuda-*, cudnn, nccl are dropped when pytorch is a dependency.

Left alone: CPU pins (`+cpu`), local versions of other distributions (`torch-scatter==2.1.2+pt20cu118`,
`mylib==1.0+local`), GPU-only distributions the package uses itself (cupy-cuda12x, jax-cuda12-plugin),
and a package's own Dockerfile (it is built as written; the docker builder says so).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

if TYPE_CHECKING:
    from validator.readers.package import ModelPackage
    from validator.readers.runtime_spec import RuntimeSpec

CPU = "cpu"
TORCH_FAMILY = frozenset({"torch", "torchvision", "torchaudio"})
CONDA_TORCH = frozenset({"pytorch", "torchvision", "torchaudio", "pytorch-cpu", "pytorch-gpu"})
# pip distributions torch's CUDA builds require on Linux, and the module each provides (None: no module)
_COMPANION = re.compile(r"^(?:nvidia-(?!ml-py$).+|triton|pytorch-triton(?:-rocm|-xpu)?|cuda-toolkit|cuda-bindings|"
                        r"cuda-pathfinder)$")
_CONDA_CUDA = re.compile(r"^(?:cudatoolkit|cuda-.+|cudnn|nccl)$")
_GPU_LOCAL = re.compile(r"^(?P<version>[^+\s]+)\+(?:cu\d{2,3}|rocm\d[\d.]*)$", re.I)
_GPU_INDEX = re.compile(r"^(?P<head>https?://download\.pytorch\.org/whl/(?:nightly/|test/)?)(?:cu\d{2,3}|rocm\d[\d.]*)"
                        r"(?P<tail>/.*)?$", re.I)
_ALL_BUILDS_PAGE = re.compile(r"^(?P<head>https?://download\.pytorch\.org/whl/)(?P<tail>torch_stable\.html)$", re.I)
_INDEX_FLAGS = ("-i", "--index-url", "--extra-index-url", "-f", "--find-links")
_INCLUDE_FLAGS = ("-r", "--requirement", "-c", "--constraint")
_COMMENT = re.compile(r"(?:^|\s)#.*$")
_OPTIONS_AFTER = re.compile(r"\s--?[A-Za-z]")  # per-requirement options (--hash=…) after the requirement
_CONDA_SPLIT = re.compile(r"^(?P<channel>[^:\s]+::)?(?P<name>[A-Za-z0-9_.\-]+)(?P<rest>.*)$")
_BUILD_STRING = re.compile(r"^(?P<version>\s*(?:==?|\s)\s*[^\s=]+)(?:=|\s+)(?P<build>\S+)\s*$")


@dataclass(frozen=True)
class Replacement:
    """One line of a runtime file as the build got it instead."""

    file: str
    line: int
    original: str
    replacement: str | None  # None: the line was dropped
    why: str

    def shown(self) -> str:
        return f"{self.file}:{self.line}: {self.original} → {self.replacement if self.replacement is not None else 'dropped'}"


@dataclass
class CpuPins:
    """Derived texts of the runtime files that changed, what was replaced, and what was kept and why."""

    texts: dict[str, str] = field(default_factory=dict)  # package-relative path -> the text the build gets
    replaced: list[Replacement] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def notes(self, backend_flag: str) -> tuple[str, ...]:
        notes: list[str] = []
        if self.replaced:
            notes.append(f"GPU-only pins replaced for a CPU build ({backend_flag}), in copies of the runtime files that "
                         "only this build saw (the package is unchanged): "
                         + "; ".join(item.shown() for item in self.replaced))
        notes += self.kept
        return tuple(notes)


def applies(backend: str | None) -> bool:
    """Whether the chosen torch build is the CPU one (the only one GPU-only pins are replaced for)."""
    return backend == CPU


def flag_of(requested: str) -> str:
    """How the notes name the option that chose the CPU build."""
    return "--torch-backend cpu" if requested == CPU else f"--torch-backend {requested}, which chose cpu"


def for_requirements(pkg: ModelPackage, spec: RuntimeSpec, files: Sequence[str], backend: str | None) -> CpuPins:
    """The requirements files of a build as the torch build `backend` gets them (unchanged unless cpu)."""
    if not applies(backend):
        return CpuPins()
    return requirements_for_cpu(pkg, files, torch_in(spec, files), imported_modules(pkg))


def for_environment(pkg: ModelPackage, spec: RuntimeSpec, rel: str, backend: str | None) -> CpuPins:
    """environment.yml of a build as the torch build `backend` gets it (unchanged unless cpu)."""
    if not applies(backend):
        return CpuPins()
    return environment_for_cpu(pkg, rel, spec, imported_modules(pkg))


def left_in(pkg: ModelPackage, spec: RuntimeSpec, backend: str | None) -> list[str]:
    """For a package's own Dockerfile, which is built as written: the lines a CPU build would have replaced in it
    and in the requirements files it may install ("file:line: text")."""
    if not applies(backend):
        return []
    dockerfile = pkg.find("Dockerfile")
    files = [rel for rel in spec.files_read if rel != dockerfile and not rel.endswith((".yml", ".yaml"))]
    found = [f"{item.file}:{item.line}: {item.original}" for item in for_requirements(pkg, spec, files, backend).replaced]
    torch = torch_in(spec, [*files, *([dockerfile] if dockerfile else [])])
    for pin in spec.pins:
        if pin.file == dockerfile and pin.source != "apt" and _pip_item(pin.spec, torch, frozenset(), [], "") is not None:
            found.append(f"{pin.file}:{pin.line}: {pin.spec}")
    for option, value, file, line in spec.index_options:
        if file == dockerfile and _option(f"--{option} {value}") is not None:
            found.append(f"{file}:{line}: --{option} {value}")
    return found


def write_derived(root: Path, texts: Mapping[str, str]) -> None:
    """Write the derived texts into a build's own copy of the package (`root`, never the package): a symlink
    there is replaced by a file, so nothing outside the copy is written."""
    for rel, text in texts.items():
        target = root / rel
        if target.is_symlink() or target.exists():
            target.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def imported_modules(pkg: ModelPackage) -> frozenset[str]:
    """Top-level modules the package's code imports (read with ast, never run)."""
    from validator.readers.imports import read_imports

    return frozenset(site.top for site in read_imports(pkg).external)


def torch_in(spec: RuntimeSpec, files: Iterable[str]) -> bool:
    """Whether torch (or torchvision, torchaudio) is installed by the given runtime files (pins, local projects)."""
    chosen = set(files)
    names = {pin.name for pin in spec.pins if pin.file in chosen}
    names |= {dependency.name for project in spec.local_projects if project.pin.file in chosen
              for dependency in project.dependencies}
    return bool(names & (TORCH_FAMILY | CONDA_TORCH))


def requirements_for_cpu(pkg: ModelPackage, files: Sequence[str], torch: bool, imported: frozenset[str]) -> CpuPins:
    """The requirements files `files` (a closure of -r / -c includes) for a CPU build."""
    result = CpuPins()
    for rel in files:
        text = pkg.read_text(rel).text
        if text is None:
            continue
        derived = _requirements_text(rel, text, torch, imported, result)
        if derived != text:
            result.texts[rel] = derived
    return result


def environment_for_cpu(pkg: ModelPackage, rel: str, spec: RuntimeSpec, imported: frozenset[str]) -> CpuPins:
    """environment.yml (and the requirements files its pip section includes) for a CPU build."""
    result = CpuPins()
    text = pkg.read_text(rel).text
    if text is None:
        return result
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return result  # the runtime check reports it; the build fails on it as written
    if not isinstance(node, yaml.MappingNode):
        return result
    mapping = {key.value: value for key, value in node.value if isinstance(key, yaml.ScalarNode)}
    dependencies = mapping.get("dependencies")
    if not isinstance(dependencies, yaml.SequenceNode):
        return result
    conda: list[yaml.ScalarNode] = []
    pip: list[yaml.ScalarNode] = []
    for entry in dependencies.value:
        if isinstance(entry, yaml.ScalarNode):
            conda.append(entry)
        elif isinstance(entry, yaml.MappingNode):
            for key, value in entry.value:
                if getattr(key, "value", None) == "pip" and isinstance(value, yaml.SequenceNode):
                    pip += [item for item in value.value if isinstance(item, yaml.ScalarNode)]
    conda_torch = any(_conda_name(str(item.value)) in CONDA_TORCH for item in conda)
    includes = [_include_of(str(item.value)) for item in pip]
    included = [_joined(rel, target) for target in includes if target]
    pip_torch = torch_in(spec, [rel]) or any(_requirement_name(str(item.value)) in TORCH_FAMILY for item in pip)
    torch = conda_torch or pip_torch or torch_in(spec, [name for name in included if name])
    edits: list[tuple[yaml.ScalarNode, str | None]] = []
    for item in conda:
        decided = _conda_line(str(item.value), conda_torch)
        if decided is not None:
            edits.append((item, decided[0]))
            result.replaced.append(Replacement(rel, item.start_mark.line + 1, str(item.value), decided[0], decided[1]))
    for item in pip:
        value = str(item.value)
        decided = _pip_item(value, torch, imported, result.kept, f"{rel}:{item.start_mark.line + 1}")
        if decided is not None:
            edits.append((item, decided[0]))
            result.replaced.append(Replacement(rel, item.start_mark.line + 1, value, decided[0], decided[1]))
    if edits:
        result.texts[rel] = _apply_yaml_edits(text, edits)
    for name in included:
        if name is None or not pkg.has(name) or name in result.texts:
            continue
        inner = pkg.read_text(name).text
        if inner is not None and (derived := _requirements_text(name, inner, torch, imported, result)) != inner:
            result.texts[name] = derived
    result.replaced.sort(key=lambda item: (item.file, item.line))
    return result


# -- requirements files --------------------------------------------------------------------------------

def _requirements_text(rel: str, text: str, torch: bool, imported: frozenset[str], result: CpuPins) -> str:
    """`text` with its GPU-only lines replaced; a line continued with a backslash is one line (its first)."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    index = 0
    while index < len(lines):
        start = index
        while lines[index].rstrip("\r\n").endswith("\\") and index + 1 < len(lines):
            index += 1
        block = lines[start:index + 1]
        index += 1
        logical = " ".join(part.rstrip("\r\n").removesuffix("\\").strip() for part in block)
        content = _COMMENT.sub("", logical).strip()
        decided = _pip_item(content, torch, imported, result.kept, f"{rel}:{start + 1}") if content else None
        if decided is None:
            out += block
            continue
        replacement, why = decided
        result.replaced.append(Replacement(rel, start + 1, content, replacement, why))
        if replacement is not None:
            ending = "\n" if block[-1].endswith("\n") else ""
            out.append(replacement + ending)
    return "".join(out)


def _pip_item(content: str, torch: bool, imported: frozenset[str], kept: list[str], where: str) -> tuple[str | None, str] | None:
    """(replacement or None for dropped, why) for one pip line or pip-section item; None: left as it is."""
    if content.startswith("-"):
        return _option(content)
    cut = _OPTIONS_AFTER.search(content)
    requirement_text = content[:cut.start()].strip() if cut else content
    try:
        requirement = Requirement(requirement_text)
    except InvalidRequirement:
        return None
    name = canonicalize_name(requirement.name)
    if name in TORCH_FAMILY:
        specifiers = list(requirement.specifier)
        local = [spec for spec in specifiers if spec.operator in ("==", "===") and _GPU_LOCAL.match(spec.version)]
        if not local:
            return None
        versions = ", ".join(f"=={_GPU_LOCAL.match(spec.version).group('version')}" if spec in local  # type: ignore[union-attr]
                             else str(spec) for spec in specifiers)
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        marker = f"; {requirement.marker}" if requirement.marker else ""
        hashes = " (its --hash options were for the GPU wheel and are left out)" if cut and "--hash" in content[cut.start():] else ""
        return (f"{requirement.name}{extras}{versions}{marker}",
                f"the {'+'.join(local[0].version.split('+')[1:])} build of {name}; the CPU build of the same version "
                f"comes from the PyTorch cpu index{hashes}")
    if _COMPANION.match(name):
        if not torch:
            return None  # not torch's: another GPU library's (jax, cupy) or the package's own choice
        module = "triton" if "triton" in name else "nvidia" if name.startswith(("nvidia-", "cuda-toolkit")) else "cuda"
        if module in imported:
            kept.append(f"{where}: {content} was kept for the CPU build: the package's code imports {module}")
            return None
        if module == "triton":
            return None, "the GPU kernel compiler torch's CUDA builds require; the CPU build does not"
        return None, "a CUDA library of torch's GPU build; the CPU build does not require it"
    return None


def _option(content: str) -> tuple[str | None, str] | None:
    flag, value = _split_option(content)
    if flag not in _INDEX_FLAGS or not value:
        return None
    gpu = _GPU_INDEX.match(value)
    if gpu is not None:
        url = f"{gpu.group('head')}{CPU}{gpu.group('tail') or ''}"
    elif (page := _ALL_BUILDS_PAGE.match(value)) is not None:
        return (f"{flag} {page.group('head')}{CPU}/{page.group('tail')}",
                "PyTorch's page of every build, where a plain version picks a +cu or +rocm build; its cpu page lists "
                "the CPU builds only")
    else:
        return None
    return f"{flag} {url}", "a PyTorch GPU index; the cpu index holds the CPU builds"


def _split_option(content: str) -> tuple[str, str]:
    """("--extra-index-url", "https://…") from `--extra-index-url https://…`, `--extra-index-url=…` or `-fURL`."""
    head, _, rest = content.partition(" ")
    if "=" in head and head.startswith("--"):
        flag, _, value = head.partition("=")
        return flag, value.strip()
    if head in _INDEX_FLAGS or head in _INCLUDE_FLAGS:
        return head, rest.strip().split(" ")[0] if rest.strip() else ""
    for flag in ("-i", "-f", "-r", "-c"):
        if head.startswith(flag) and len(head) > 2:
            return flag, head[2:]
    return head, rest.strip()


def _requirement_name(value: str) -> str | None:
    cut = _OPTIONS_AFTER.search(value)
    try:
        return canonicalize_name(Requirement(value[:cut.start()] if cut else value).name)
    except InvalidRequirement:
        return None


def _include_of(value: str) -> str | None:
    flag, target = _split_option(value.strip())
    return target if flag in ("-r", "--requirement") and target else None


def _joined(rel: str, target: str) -> str | None:
    """A package-relative path for an include of `rel`, or None when it leaves the package."""
    parts: list[str] = []
    for part in (PurePosixPath(rel).parent / target).parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts) if parts and not target.startswith("/") and "://" not in target else None


# -- environment.yml -----------------------------------------------------------------------------------

def _conda_name(value: str) -> str:
    match = _CONDA_SPLIT.match(value.strip())
    return canonicalize_name(match.group("name")) if match else ""


def _conda_line(value: str, conda_torch: bool) -> tuple[str | None, str] | None:
    match = _CONDA_SPLIT.match(value.strip())
    if match is None:
        return None
    name = canonicalize_name(match.group("name"))
    channel, rest = match.group("channel") or "", match.group("rest")
    if name == "pytorch-cuda":
        return "cpuonly", "the pytorch channel's CUDA selector; cpuonly selects its CPU builds"
    if name == "pytorch-gpu":
        return f"{channel}{match.group('name').replace('gpu', 'cpu')}{rest}", "conda-forge's GPU metapackage; pytorch-cpu is its CPU one"
    if name in CONDA_TORCH:
        build = _BUILD_STRING.match(rest)
        if build is not None and "cuda" in build.group("build").lower():
            return f"{channel}{match.group('name')}{build.group('version')}", "a CUDA build string; the solver picks the CPU build without it"
        return None
    if conda_torch and _CONDA_CUDA.match(name):
        return None, "a CUDA package of torch's GPU build; the CPU build does not require it"
    return None


def _apply_yaml_edits(text: str, edits: list[tuple[yaml.ScalarNode, str | None]]) -> str:
    """`text` with each scalar replaced (quoted as it was) or, for None, its list item removed."""
    lines = text.splitlines(keepends=True)
    starts = [0]
    for text_line in lines:
        starts.append(starts[-1] + len(text_line))
    result = text
    for node, replacement in sorted(edits, key=lambda edit: edit[0].start_mark.index, reverse=True):
        begin, end = node.start_mark.index, node.end_mark.index
        if replacement is not None:
            quoted = json.dumps(replacement) if node.style in ('"', "'") else replacement
            result = result[:begin] + quoted + result[end:]
            continue
        number = node.start_mark.line
        prefix, suffix = result[starts[number]:begin], result[end:starts[number + 1]] if number + 1 < len(starts) else result[end:]
        if prefix.strip() == "-" and (not suffix.strip() or suffix.strip().startswith("#")):
            result = result[:starts[number]] + result[end + len(suffix):]  # a block list item: its whole line
            continue
        after = re.match(r"\s*,\s*", result[end:])  # a flow list item: with its comma
        result = result[:begin] + result[end + (after.end() if after else 0):]
    return result
