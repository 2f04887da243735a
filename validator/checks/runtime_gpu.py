"""Area runtime (static part): MC394, GPU-only builds pinned in a runtime meant for CPU inference.

What counts, in everything the runtime readers parse (requirements.txt and its includes, the
dependencies of a local project it installs, environment.yml with its pip section, a Dockerfile's
pip installs and base images, uv's configuration) and in the lock files at the root (read as text):

- distributions that exist for GPUs only: nvidia-* (the CUDA libraries torch pulls on Linux, about
  3 GB together), cuda-*, cupy-cuda*, jax-cuda*, triton / pytorch-triton, and conda's cudatoolkit,
  cudnn, nccl, pytorch-cuda, pytorch-gpu;
- a `+cuXXX` / `+rocmX` local version (`torch==2.4.0+cu121`);
- a package source on a PyTorch GPU index (`--extra-index-url https://download.pytorch.org/whl/cu121`,
  `-f https://download.pytorch.org/whl/cu118/torch_stable.html`, a uv index);
- a CUDA base image (nvidia/cuda, nvcr.io/nvidia/*, a `-cudaXX` / `-cudnnX` tag).

One finding per file, naming what was found and pointing at its first line. When the model card says
that inference needs a GPU (a sentence or table row that says a GPU / CUDA is required, not optional,
not for training only), the pins are intended: the finding is information only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from validator.core.catalogue import rule
from validator.core.findings import Finding, Severity
from validator.readers.package import ModelPackage
from validator.readers.runtime_spec import RuntimeSpec, read_lock_files

LISTED = 8  # items named in a finding before "and N more"
GPU_NAME = re.compile(r"^(?:nvidia-(?!ml-py).+|cuda-.+|cupy-cuda.+|jax-cuda.+|triton|pytorch-triton(?:-rocm)?|"
                      r"cudatoolkit|cudnn|nccl|pytorch-cuda|pytorch-gpu)$")
GPU_LOCAL_VERSION = re.compile(r"\+(cu\d{2,3}|rocm\d[\d.]*)(?![\w])", re.I)
GPU_INDEX = re.compile(r"download\.pytorch\.org/whl/(?:nightly/|test/)?(cu\d{2,3}|rocm\d[\d.]*)(?![\w])", re.I)
GPU_IMAGE = re.compile(r"(?:^|/)nvidia/cuda(?:[:@]|$)|^nvcr\.io/nvidia/|[:-](?:cuda|cudnn)\d", re.I)
# lock files, line by line (bounded quantifiers: linear on any text)
_LOCK_NAME = re.compile(r"""^\s*-?\s*name\s*[:=]\s*["']?([A-Za-z0-9][A-Za-z0-9_.-]{0,100})""")
_LOCK_FILE_NAME = re.compile(r"/([A-Za-z0-9][A-Za-z0-9_.]{0,100}?)-\d[^/\s\"']{0,200}?\.(?:whl|conda|tar\.bz2)\b")
_LOCK_VERSION = re.compile(r"""^\s*version\s*[:=]\s*["']?([^"'\s]{1,100})""")
# the model card: a sentence that says inference needs a GPU
_GPU_WORD = re.compile(r"\b(?:GPU|GPUs|CUDA)\b", re.I)
_NEEDS = re.compile(r"\b(?:requires?|required|requirements?|needs?|needed|must|mandatory|only)\b", re.I)
_NOT_NEEDED = re.compile(r"\b(?:not|no|without|optional|optionally|recommended|preferred|faster|speeds?|either|"
                         r"cpu|cpus|train|training|trained|fine-tun\w*)\b|n't\b", re.I)
_SENTENCE = re.compile(r"[^.;!?]+")


@dataclass(frozen=True)
class GpuPin:
    """One GPU-only item of a runtime file."""

    file: str
    line: int
    shown: str  # as the finding names it


def gpu_only_findings(pkg: ModelPackage, spec: RuntimeSpec | None) -> Iterable[Finding]:
    """MC394: one finding per runtime file that pins GPU-only builds."""
    pins = [*(_spec_pins(spec) if spec is not None else []), *_lock_pins(pkg)]
    if not pins:
        return
    stated = card_states_gpu(pkg)
    by_file: dict[str, list[GpuPin]] = {}
    for pin in pins:
        by_file.setdefault(pin.file, []).append(pin)
    locks = {lock.file for lock in read_lock_files(pkg)}
    for file, found in by_file.items():
        found.sort(key=lambda pin: pin.line)
        unique = list(dict.fromkeys(pin.shown for pin in found))
        shown = "; ".join(unique[:LISTED]) + (f"; and {len(unique) - LISTED} more" if len(unique) > LISTED else "")
        what = f"{file} pins GPU-only builds: {shown}."
        if stated is not None:
            line, sentence = stated
            yield rule("runtime-gpu-only-pins").finding(
                f"{what} The model card says inference needs a GPU ({pkg.card.path if pkg.card else 'README.md'}:{line}: "
                f"{sentence!r}), so they are taken as intended; users without one get gigabytes of CUDA wheels that "
                "never run.", file=file, line=found[0].line, severity=Severity.INFO)
            continue
        fix = _lock_fix(file) if file in locks else _file_fix(file)
        yield rule("runtime-gpu-only-pins").finding(
            f"{what} Every rebuild on a machine without a GPU (CI runners, most users' laptops) downloads and installs "
            f"them anyway: gigabytes (about 3 GB for the nvidia-* set torch pulls) that never run. {fix} If inference "
            "does need a GPU, say so in the model card.", file=file, line=found[0].line)


def _file_fix(file: str) -> str:
    pin_only = (f"Pin only torch (torchvision, …) by version in {file}, without +cuXXX and without nvidia-*, cuda-* or "
                "triton lines (torch brings them where a GPU build is installed)")
    if file.rsplit("/", 1)[-1].startswith("Dockerfile"):
        return (f"{pin_only}, start from a slim Python image rather than a CUDA one, and take torch from the CPU "
                "index (`pip install --extra-index-url https://download.pytorch.org/whl/cpu torch==…`; model-check "
                "follows an index a package names only with --allow-package-indexes).")
    if file.endswith((".yml", ".yaml")):
        return (f"{pin_only}; for conda's pytorch, leave out cudatoolkit / pytorch-cuda (conda-forge picks a CUDA build "
                "only where a GPU driver is present), and give the CPU install of the pip section in the card "
                "(`--extra-index-url https://download.pytorch.org/whl/cpu`).")
    return (f"{pin_only}, and give the CPU install in the card: `pip install -r {file} --extra-index-url "
            "https://download.pytorch.org/whl/cpu` (uv: `--torch-backend cpu`).")


def _lock_fix(file: str) -> str:
    return (f"Lock against the CPU index instead: e.g. for uv, an index `pytorch-cpu` (url "
            "https://download.pytorch.org/whl/cpu, explicit = true) and `[tool.uv.sources] torch = { index = "
            f"\"pytorch-cpu\" }}` in pyproject.toml, then `uv lock` to rewrite {file}.")


def _spec_pins(spec: RuntimeSpec) -> list[GpuPin]:
    found: list[GpuPin] = []
    dependencies = [dependency for project in spec.local_projects for dependency in project.dependencies]
    for pin in [*spec.pins, *dependencies]:
        if pin.source == "apt":
            continue
        local = GPU_LOCAL_VERSION.search(pin.spec)
        if GPU_NAME.match(pin.name):
            found.append(GpuPin(pin.file, pin.line, f"{pin.spec} (line {pin.line})"))
        elif local is not None:
            found.append(GpuPin(pin.file, pin.line, f"{pin.spec} (line {pin.line}, a +{local.group(1)} build)"))
    for option, value, file, line in spec.index_options:
        index = GPU_INDEX.search(value) if option != "channel" else None
        if index is not None:
            found.append(GpuPin(file, line, f"--{option} {value} (line {line}, the PyTorch {index.group(1)} index)"))
    for image, file, line in spec.base_images:
        if GPU_IMAGE.search(image):
            found.append(GpuPin(file, line, f"FROM {image} (line {line}, a CUDA image)"))
    return found


def _lock_pins(pkg: ModelPackage) -> list[GpuPin]:
    """GPU-only entries of the lock files at the root, read as text line by line (no tool runs)."""
    found: list[GpuPin] = []
    for lock in read_lock_files(pkg):
        read = pkg.read_text(lock.file)
        if read.text is None:
            continue
        lines = read.text.splitlines()
        names: dict[str, int] = {}
        local: dict[str, int] = {}
        indexes: dict[str, int] = {}
        for number, line in enumerate(lines, 1):
            for match in (_LOCK_NAME.match(line), *_LOCK_FILE_NAME.finditer(line)):
                if match is not None and GPU_NAME.match(name := canonicalize_name(match.group(1))):
                    names.setdefault(name, number)
            version = _LOCK_VERSION.match(line)
            if version is not None and GPU_LOCAL_VERSION.search(version.group(1)):
                local.setdefault(version.group(1), number)
            index = GPU_INDEX.search(line)
            if index is not None:
                indexes.setdefault(index.group(1), number)
        if names:
            first = min(names.values())
            listed = sorted(names)
            found.append(GpuPin(lock.file, first, f"{len(listed)} CUDA distribution{'s' if len(listed) > 1 else ''} "
                                                  f"({', '.join(listed[:LISTED])}{', …' if len(listed) > LISTED else ''}; "
                                                  f"first at line {first})"))
        found += [GpuPin(lock.file, number, f"version {version} (line {number})") for version, number in local.items()]
        found += [GpuPin(lock.file, number, f"the PyTorch {backend} index (line {number})")
                  for backend, number in indexes.items()]
    return found


def card_states_gpu(pkg: ModelPackage) -> tuple[int, str] | None:
    """(line, sentence) of the model card saying that inference needs a GPU, or None."""
    card = pkg.card
    if card is None:
        return None
    for number, line in card.prose_lines:
        if not _GPU_WORD.search(line):
            continue
        # a table row is read whole ("| Hardware requirements | NVIDIA GPU |") and cell by cell
        candidates = ([line.replace("|", " ")] if line.lstrip().startswith("|") else []) + \
            _SENTENCE.findall(line.replace("|", ";"))
        for sentence in candidates:
            if _GPU_WORD.search(sentence) and _NEEDS.search(sentence) and not _NOT_NEEDED.search(sentence):
                return number, " ".join(sentence.split())
    return None
