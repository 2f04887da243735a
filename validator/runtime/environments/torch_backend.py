"""Which torch build a rebuilt environment gets, and what it got.

`--torch-backend` (package configuration key `torch-backend`, action input `torch-backend`):

- `auto` (the default): `cpu` when no NVIDIA GPU is visible on this machine, else the package
  indexes' default build. The GPU check is cheap and runs nothing of the package: a /dev/nvidia<N>
  device node, else `nvidia-smi -L` (the machine's own tool, if it is on PATH) listing a GPU.
- `default`: the package indexes' default build (uv and pip get no torch index).
- any other name (`cpu`, `cu126`, `rocm6.3`, …): that build, taken from the PyTorch index
  (uv `--torch-backend NAME`; pip `--extra-index-url https://download.pytorch.org/whl/NAME`).

When the PyTorch index cannot be reached (machines that see only a mirror or a wheelhouse), the
install is made again without it, from the configured indexes, for `auto` and for an explicit name
alike (the GitHub Action passes `cpu`; failing every torch package on such a machine would help no
one), and the notes say so plainly. What was installed is then read from the environment's
distributions (`torch_build`): a `+cpu` / `+cuXXX` local version, nvidia-* and other CUDA
distributions beside torch. The notes state only what was read there.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import socket
import ssl
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

AUTO = "auto"
DEFAULT = "default"
PYTORCH_INDEX = "https://download.pytorch.org/whl"
GPU_PROBE_TIMEOUT_S = 5.0
# uv's report of a fetch from the PyTorch index that failed: "Failed to fetch: https://download.pytorch.org/whl/cpu/torch/"
_UV_TORCH_FETCH = re.compile(r"Failed to fetch: `?(https://download\.pytorch\.org/[^\s`]*)")
_UV_CAUSE = re.compile(r"^\s*(?:Caused by|cause):\s*(.+?)\s*$", re.M)
_DEVICE = re.compile(r"nvidia\d+")
# Distributions that carry CUDA beside torch: pip wheels (nvidia-*, triton) and conda packages.
_CUDA_NAMES = re.compile(r"^(?:nvidia-.+|cuda-.+|cudnn|nccl|libcublas|libcudnn.*|libnccl.*|cupti)$")

GpuProbe = Callable[[], "str | None"]

_unreachable: dict[str, str] = {}  # PyTorch index host -> why it could not be reached, for this process


@dataclass(frozen=True)
class TorchChoice:
    """What the caller asked for, what the installers get, and why."""

    requested: str  # "auto", "default", or a backend name as given
    backend: str | None  # what uv --torch-backend / the PyTorch index gets; None: the indexes' default build
    reason: str  # the note: the choice and why

    @property
    def explicit(self) -> bool:
        return self.requested != AUTO


def gpu_evidence(dev: Path = Path("/dev"), smi: str | None = "nvidia-smi",
                 environ: Mapping[str, str] | None = None) -> str | None:
    """What shows an NVIDIA GPU on this machine ("/dev/nvidia0", "nvidia-smi lists 1 GPU"), or None.

    `dev` and `smi` are the places looked at (tests hand a folder of their own and no tool)."""
    try:
        devices = sorted(entry.name for entry in dev.iterdir() if _DEVICE.fullmatch(entry.name))
    except OSError:
        devices = []
    if devices:
        return f"{dev / devices[0]} exists"
    environ = os.environ if environ is None else environ
    path = shutil.which(smi, path=environ.get("PATH", os.defpath)) if smi else None
    if path is None:
        return None
    try:
        listed = subprocess.run([path, "-L"], check=False, capture_output=True, text=True, timeout=GPU_PROBE_TIMEOUT_S,
                                env={"PATH": environ.get("PATH", os.defpath), "LANG": "C.UTF-8"},
                                stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    gpus = [line for line in listed.stdout.splitlines() if line.startswith("GPU ")]
    if listed.returncode != 0 or not gpus:
        return None
    return f"nvidia-smi lists {len(gpus)} GPU{'s' if len(gpus) > 1 else ''}"


@functools.cache
def machine_gpu() -> str | None:
    """gpu_evidence() of this machine, looked at once per process."""
    return gpu_evidence()


def choose(requested: str | None, gpu: GpuProbe = machine_gpu, containers: bool = False) -> TorchChoice:
    """The torch build for `requested` (None counts as auto); `gpu` is asked only for auto. For `containers`
    (the docker builder: its containers get no GPU device) auto is cpu on any machine."""
    wanted = (requested or AUTO).strip() or AUTO
    if wanted.lower() == AUTO:
        evidence = None if containers else gpu()
        if evidence is None:
            why = ("the containers model-check runs package code in get no GPU" if containers else
                   "no NVIDIA GPU is visible here, no /dev/nvidia0 and no nvidia-smi listing one")
            return TorchChoice(AUTO, "cpu", f"torch backend cpu (--torch-backend auto, the default: {why}); CPU "
                                            "wheels keep rebuilt environments small. --torch-backend default asks for "
                                            "the package indexes' default build")
        return TorchChoice(AUTO, None, f"torch backend: the package indexes' default build (--torch-backend auto, "
                                       f"the default: an NVIDIA GPU is visible, {evidence}); --torch-backend cpu asks "
                                       "for CPU wheels")
    if wanted.lower() == DEFAULT:
        return TorchChoice(DEFAULT, None, "torch backend: the package indexes' default build (--torch-backend default)")
    name = wanted.lower()  # uv's names and the index's paths are lower case
    return TorchChoice(name, name, f"torch backend {name} (--torch-backend {name})")


def index_url(backend: str) -> str:
    return f"{PYTORCH_INDEX}/{backend}"


def uv_unreachable(output: str) -> str | None:
    """Why uv could not reach the PyTorch index, from its error output ("https://…/cpu/torch/: dns error …"),
    or None when its failure is about something else."""
    fetch = _UV_TORCH_FETCH.search(output)
    if fetch is None:
        return None
    causes = [cause for cause in _UV_CAUSE.findall(output[fetch.end():]) if "download.pytorch.org" not in cause]
    detail = causes[-1] if causes else "no answer"
    return f"{fetch.group(1)}: {detail}"


def remember_unreachable(reason: str) -> None:
    _unreachable["download.pytorch.org"] = reason


def unreachable_earlier() -> str | None:
    """Why the PyTorch index could not be reached earlier in this process, or None."""
    return _unreachable.get("download.pytorch.org")


def forget_unreachable() -> None:
    _unreachable.clear()


def index_reachable(backend: str, ca_bundle: str | None = None, timeout: float = 10.0) -> str | None:
    """None when the PyTorch index of `backend` answers from this machine (proxy variables honoured);
    else why not. For installers that would retry an unreachable index for every project (pip)."""
    earlier = unreachable_earlier()
    if earlier is not None:
        return earlier
    url = f"{index_url(backend)}/torch/"
    try:
        context = ssl.create_default_context(cafile=ca_bundle or os.environ.get("SSL_CERT_FILE") or None)
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout, context=context):
            pass
    except (OSError, ValueError) as exc:  # URLError, HTTPError, ssl.SSLError and timeouts are OSErrors
        reason = f"{url}: {' '.join(str(getattr(exc, 'reason', exc)).split())[:300]}"
        remember_unreachable(reason)
        return reason
    return None


def index_unresolvable(backend: str) -> str | None:
    """Why the PyTorch index cannot be reached when its host name does not resolve here and no proxy is set
    (uv would then fail on it too, after its retries), else None: uv is left to try the index."""
    if urllib.request.getproxies():  # a proxy resolves the name, not this machine
        return None
    host = urllib.parse.urlsplit(PYTORCH_INDEX).hostname or ""
    try:
        socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"{index_url(backend)}/torch/: {host} does not resolve ({exc.strerror or exc})"
    except OSError:
        return None
    return None


def fallback_note(choice: TorchChoice, reason: str, earlier: bool = False, tool: str = "uv without --torch-backend") -> str:
    """The note for an install made again without the PyTorch index."""
    when = "earlier in this run" if earlier else "here"
    what = (f"--torch-backend {choice.requested} was asked for" if choice.explicit
            else f"the default torch backend ({choice.backend}) was chosen")
    return (f"{what}, but the PyTorch index could not be reached {when} ({reason}): the environment was installed "
            f"from the configured package indexes and wheelhouses instead ({tool}), so its torch build is whatever "
            "they hold (read below from the installed distributions)")


def backend_notes(choice: TorchChoice, applied: bool) -> tuple[str, ...]:
    """The choice, and, when a backend was applied, what the installer was given: what it installed is said
    only after reading the environment (torch_build), never here."""
    notes = [choice.reason]
    if applied and choice.backend:
        notes.append(f"the installer was given the PyTorch {choice.backend} index for torch ({index_url(choice.backend)}); "
                     "the build it installed is read from the environment's distributions")
    return tuple(notes)


def torch_build(installed: Mapping[str, str], asked: str | None = None) -> str | None:
    """What torch build the environment holds, read from its distributions (name -> version), compared with
    the backend the installer was given (`asked`); None without torch."""
    found = _torch_build(installed)
    if found is None or not asked:
        return found
    local = installed["torch"].partition("+")[2].lower()
    cuda = local.startswith("cu") or any(_CUDA_NAMES.match(name) for name in installed)
    if local == asked:
        where = (" (PyPI takes no local versions: +cpu builds come from the PyTorch cpu index, or a copy of it)"
                 if asked == "cpu" else "")
        return f"{found}; the {asked} build asked for{where}"
    if asked == "cpu" and cuda:
        return (f"{found}. It is not the cpu build asked for: a pin, an index or a wheelhouse of this build took "
                "precedence over the PyTorch cpu index")
    if asked.startswith(("cu", "rocm")) and not cuda and not local.startswith("rocm"):
        return f"{found}. It is not the {asked} build asked for"
    return found


def _torch_build(installed: Mapping[str, str]) -> str | None:
    version = installed.get("torch")
    if version is None:
        return None
    local = version.partition("+")[2].lower()
    cuda = sorted(name for name in installed if _CUDA_NAMES.match(name))
    triton = "triton" in installed or "pytorch-triton" in installed
    shown = f"torch {version}"
    if local.startswith("cu") or cuda:
        parts = []
        if local.startswith("cu"):
            parts.append(f"local version +{local}")
        if cuda:
            parts.append(f"{len(cuda)} CUDA distribution{'s' if len(cuda) > 1 else ''} beside it "
                         f"({', '.join(cuda[:4])}{', …' if len(cuda) > 4 else ''})")
        if triton:
            parts.append("triton")
        return (f"{shown}: a CUDA build ({'; '.join(parts)}), read from the installed distributions; it runs on the "
                "CPU too, but its CUDA libraries add gigabytes to every rebuild")
    if local.startswith("rocm"):
        return f"{shown}: a ROCm build (local version +{local}), read from the installed distributions"
    if local == "cpu":
        return f"{shown}: a CPU build (local version +cpu, no CUDA distributions), read from the installed distributions"
    return f"{shown}: a CPU build (no CUDA distributions beside it, no nvidia-*), read from the installed distributions"


def torch_installed(installed: Mapping[str, str]) -> bool:
    return "torch" in installed
