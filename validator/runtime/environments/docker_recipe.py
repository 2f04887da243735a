"""What the docker builder builds for a package: which Dockerfile, which build context, which base
images, build arguments and interpreter; decided from the package and the options, without an engine.

- The package's own Dockerfile: the context is the package (its .dockerignore applied here, since
  the engine's classic builder leaves that to the client), plus model-check's CA bundle and
  wheelhouse when there are any, made available to its RUN steps (dockerfile_gen.with_build_inputs).
  Its ADD/COPY instructions are judged first (docker_fetches): what the engine itself would fetch
  from loopback, link-local or private addresses, or from any URL, is refused (rule MC384).
- requirements.txt / environment.yml: a generated Dockerfile on `--base-image` (default: the
  official slim Python image of the package's Python, or micromamba's for environment.yml); the
  context holds only the runtime files, so editing a README does not rebuild the image.
- requirements.txt in two steps, so that no package code runs with network or near a credential:
  `Download`, pip download of wheels only (`--only-binary=:all:`: no source distribution is built,
  so no package code runs) in a locked-down container of the base image, the one place that sees
  the index settings (credentials included) and the network; then the image build, without
  network, installs those wheels (`--no-index`). Build arguments and image layers hold no index
  setting.

The CA bundle is `--ca-bundle`, else the file PIP_CERT or SSL_CERT_FILE names on this machine. The
machine's pip index settings reach the download when they are http(s) URLs; local paths and
file:// indexes are not visible to it (that is what --wheelhouse is for), which a note says.
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from docker.utils.build import PatternMatcher

from validator.core.catalogue import rule
from validator.core.options import Options
from validator.readers.package import ModelPackage
from validator.readers.runtime_spec import RuntimeSpec
from validator.runtime.environments.builder import BuildFailure
from validator.runtime.environments.cpu_pins import Replacement, flag_of, for_environment, for_requirements, left_in
from validator.runtime.environments.docker_context import TarBuilder
from validator.runtime.environments.docker_fetches import refused_fetches
from validator.runtime.environments.dockerfile_gen import (
    CA_FILE,
    DEFAULT_CONDA_BASE,
    EXTRA_DIR,
    PREFIX,
    WHEELHOUSE_DIR,
    conda_dockerfile,
    default_python_base,
    requirements_dockerfile,
    with_build_inputs,
)
from validator.runtime.environments.pipconfig import PipSettings, read_pip_settings, redact
from validator.runtime.environments.torch_backend import backend_notes, choose, index_url

MAX_CA_BYTES = 16 * 1024 * 1024
TORCH_FAMILY = {"torch", "torchvision", "torchaudio"}
GENERATED_DOCKERFILE = f"{EXTRA_DIR}/Dockerfile"
INDEX_VARIABLES = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST")


@dataclass(frozen=True)
class Download:
    """pip download of the wheels a generated build installs, in a container of the base image; run in the
    build context's files (requirements, CA bundle, wheelhouse), saving into a folder of its own."""

    args: tuple[str, ...]  # after `pip download`: -r FILE, --only-binary, --find-links, …
    env: dict[str, str]  # pip's index settings, credentials included: seen by this container only
    key: tuple[str, ...]  # what of it belongs in the cache key (no credentials)
    ca_file: str | None = None  # the CA bundle's path in the context, for pip


@dataclass
class Recipe:
    runtime_file: str  # the package file the image is built from
    dockerfile: str  # path of the Dockerfile inside the build context
    context: IO[bytes]  # the build context (tar), rewound
    context_sha256: str
    base_images: tuple[str, ...]  # images the Dockerfile starts from
    generated: bool
    interpreters: tuple[str, ...]  # what runs as "python" in the image, tried in order
    python_requested: str | None
    build_args: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    torch_backend: str | None = None  # set when the generated build installs CPU-only (etc.) torch wheels
    torch_notes: tuple[str, ...] = ()  # the torch build chosen and why (builder.BuildInfo.torch_notes)
    keyed_stages: bool = False  # the Dockerfile labels its stages with the MODEL_CHECK_KEY build argument
    download: Download | None = None  # wheels to download before the build (generated requirements builds)
    replaced: tuple[Replacement, ...] = ()  # GPU-only pins of the runtime files replaced for a CPU build
    package_id: str = ""  # which package the image is of (a hash of its folder's path): docker_cache prunes by it

    def describe(self) -> str:
        if self.generated:
            return f"a Dockerfile generated for {self.runtime_file} on {self.base_images[0]}"
        return f"the package's {self.runtime_file}"

    def close(self) -> None:
        self.context.close()


@dataclass(frozen=True)
class BuildInputs:
    """model-check's own files for the build: a CA bundle and a wheelhouse, with notes for the report."""

    ca: Path | None
    wheelhouse: Path | None
    notes: tuple[str, ...]


def make_recipe(pkg: ModelPackage, spec: RuntimeSpec, options: Options, environ: Mapping[str, str],
                pip: PipSettings | None = None) -> Recipe | BuildFailure:
    recipe = _make_recipe(pkg, spec, options, environ, pip)
    if isinstance(recipe, Recipe):
        recipe.package_id = hashlib.sha256(str(pkg.root).encode()).hexdigest()[:16]
    return recipe


def _make_recipe(pkg: ModelPackage, spec: RuntimeSpec, options: Options, environ: Mapping[str, str],
                 pip: PipSettings | None) -> Recipe | BuildFailure:
    inputs = build_inputs(options, environ)
    if isinstance(inputs, BuildFailure):
        return inputs
    dockerfile = pkg.find("Dockerfile")
    if dockerfile is not None:
        return _own_dockerfile(pkg, dockerfile, spec, options, inputs)
    requirements = pkg.find("requirements.txt")
    if requirements is not None:
        return _generated_requirements(pkg, requirements, spec, options, inputs, pip or read_pip_settings())
    conda_file = pkg.find("environment.yml", "environment.yaml")
    if conda_file is not None:
        return _generated_conda(pkg, conda_file, spec, options, inputs)
    return BuildFailure("the docker builder needs a Dockerfile, requirements.txt or environment.yml, and the package has none")


def build_inputs(options: Options, environ: Mapping[str, str]) -> BuildInputs | BuildFailure:
    notes: list[str] = []
    ca: Path | None = None
    if options.ca_bundle:
        ca = Path(options.ca_bundle).expanduser()
        if not ca.is_file():
            return BuildFailure(f"the CA bundle {options.ca_bundle} (--ca-bundle) is not a file", rule=rule("docker-build-failed").id)
        notes.append(f"CA bundle {ca} handed to the image build (--ca-bundle)")
    else:
        for name in ("PIP_CERT", "SSL_CERT_FILE"):
            value = environ.get(name)
            if value and Path(value).is_file():
                ca = Path(value)
                notes.append(f"CA bundle {ca} (this machine's {name}) handed to the image build; --ca-bundle names another")
                break
    if ca is not None and ca.stat().st_size > MAX_CA_BYTES:
        return BuildFailure(f"the CA bundle {ca} is larger than {MAX_CA_BYTES // (1024 * 1024)} MiB", rule=rule("docker-build-failed").id)
    wheelhouse: Path | None = None
    if options.wheelhouse:
        wheelhouse = Path(options.wheelhouse).expanduser()
        if not wheelhouse.is_dir():
            return BuildFailure(f"the wheelhouse {options.wheelhouse} (--wheelhouse) is not a folder", rule=rule("docker-build-failed").id)
        notes.append(f"wheelhouse {wheelhouse} copied into the build context and handed to pip (--find-links)")
    return BuildInputs(ca, wheelhouse, tuple(notes))


def _context(inputs: BuildInputs) -> TarBuilder:
    tar = TarBuilder()
    if inputs.ca is not None:
        tar.add_file(CA_FILE, inputs.ca)
    if inputs.wheelhouse is not None:
        tar.add_tree(WHEELHOUSE_DIR, inputs.wheelhouse)
    return tar


def _requested_python(spec: RuntimeSpec, options: Options) -> str | None:
    return options.python or (spec.python[0] if spec.python else None)


def _own_dockerfile(pkg: ModelPackage, dockerfile: str, spec: RuntimeSpec, options: Options,
                    inputs: BuildInputs) -> Recipe | BuildFailure:
    read = pkg.read_text(dockerfile)
    if read.text is None:
        return BuildFailure(read.problem or f"{dockerfile} cannot be read", file=dockerfile, rule=rule("docker-build-failed").id)
    try:
        refused = refused_fetches(read.text)
    except Exception as exc:  # third-party parser on package text
        return BuildFailure(f"{dockerfile} cannot be parsed: {exc}", file=dockerfile, rule=rule("docker-build-failed").id)
    if refused:
        return BuildFailure("the image was not built (no package code ran): " + "; ".join(
            f"{dockerfile}:{item.line}: `{item.instruction}`: {item.reason}" for item in refused),
            file=dockerfile, rule=rule("docker-fetch-refused").id)
    notes = list(inputs.notes)
    tar = _context(inputs)
    ignored = _dockerignore(pkg)
    for rel in pkg.files:
        if rel.startswith(f"{EXTRA_DIR}/"):
            continue  # model-check's own folder in the context
        if rel == dockerfile or not ignored.matches(rel):  # type: ignore[arg-type]  # docker-py matches str paths; the stubs say PathLike
            tar.add_file(rel, pkg.path(rel))
    name = dockerfile
    if inputs.ca is not None or inputs.wheelhouse is not None:
        try:
            text = with_build_inputs(read.text, inputs.ca is not None, inputs.wheelhouse is not None)
        except Exception as exc:  # third-party parser on package text
            tar.close()
            return BuildFailure(f"{dockerfile} cannot be parsed: {exc}", file=dockerfile, rule=rule("docker-build-failed").id)
        name = GENERATED_DOCKERFILE
        tar.add_bytes(name, text.encode("utf-8"))
        notes.append(f"the CA bundle / wheelhouse were added to every stage of {dockerfile} (COPY to /etc/model-check, "
                     "build-time variables PIP_CERT, SSL_CERT_FILE, REQUESTS_CA_BUNDLE, PIP_FIND_LINKS); the files stay "
                     "in the image, the variables do not")
    if options.base_image:
        notes.append(f"--base-image {options.base_image} is not used: the package brings its own {dockerfile}")
    context, digest = tar.finish()
    bases = tuple(image for image, _, _ in spec.base_images)
    choice = choose(options.torch_backend, containers=True)
    if (left := left_in(pkg, spec, choice.backend)):
        notes.append(f"GPU-only pins were not replaced for the CPU build ({flag_of(choice.requested)}): model-check "
                     f"builds a package's own {dockerfile} as written, and does not rewrite it or the files it installs "
                     f"({'; '.join(left)}); MC394 says how to pin CPU builds")
    return Recipe(dockerfile, name, context, digest, bases, False, ("python", "python3"), _requested_python(spec, options),
                  notes=tuple(notes), keyed_stages=name == GENERATED_DOCKERFILE,
                  torch_notes=(f"--torch-backend does not apply: the package's {dockerfile} installs torch as it says",))


def _dockerignore(pkg: ModelPackage) -> PatternMatcher:
    patterns: list[str] = []
    if pkg.has(".dockerignore"):
        text = pkg.read_text(".dockerignore").text or ""
        patterns = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return PatternMatcher(patterns)


def _generated_requirements(pkg: ModelPackage, requirements: str, spec: RuntimeSpec, options: Options,
                            inputs: BuildInputs, pip: PipSettings) -> Recipe:
    requested = _requested_python(spec, options)
    python = requested or ".".join(platform.python_version_tuple()[:2])
    base = options.base_image or default_python_base(python)
    notes = list(inputs.notes)
    if not requested and not options.base_image:
        notes.append(f"the package names no Python version: {base} (model-check's own Python) was used")
    env, key, pip_notes = _index_settings(pip, inputs.wheelhouse is not None)
    notes += pip_notes
    args = ["-r", requirements, "--only-binary=:all:"]
    if inputs.wheelhouse is not None:
        args += ["--find-links", WHEELHOUSE_DIR]
    choice = choose(options.torch_backend, containers=True)
    torch_backend = None
    torch_notes = backend_notes(choice, False)
    if choice.backend and TORCH_FAMILY & {pin.name for pin in spec.pins}:
        if options.build_network == "none":
            torch_notes += ("the PyTorch index was not used: the download has no network (--build-network none), "
                            "so torch comes from the wheelhouse",)
        else:
            # the download container asks the index first (DOWNLOAD_SCRIPT): pip would retry an unreachable extra
            # index for every project, about 8 s each
            torch_backend = choice.backend
            args += ["--extra-index-url", index_url(choice.backend)]
            torch_notes = backend_notes(choice, True)
    if options.build_network == "none":
        args.append("--no-index")
        notes.append("no network for the download (--build-network none): pip takes wheels from the wheelhouse only (--no-index)")
    notes.append("requirements are installed from wheels only, downloaded beforehand by pip in a locked-down "
                 "container (no source distribution is built, so no package code runs during the build); the image "
                 "build itself has no network")
    tar = _context(inputs)
    other_definitions = {pkg.find("environment.yml", "environment.yaml"), pkg.find("Dockerfile")}
    files = [f for f in spec.files_read if f not in other_definitions and pkg.has(f)] or [requirements]
    cpu = for_requirements(pkg, spec, files, choice.backend)  # GPU-only pins replaced for a CPU build
    notes += cpu.notes(flag_of(choice.requested))
    for rel in files:
        if rel in cpu.texts:  # the derived copy, in the build's own context: the package is never changed
            tar.add_bytes(rel, cpu.texts[rel].encode("utf-8"))
        else:
            tar.add_file(rel, pkg.path(rel))
    text = requirements_dockerfile(base, requirements)
    tar.add_bytes(GENERATED_DOCKERFILE, text.encode("utf-8"))
    context, digest = tar.finish()
    download = Download(tuple(args), env, (*key, *args), CA_FILE if inputs.ca is not None else None)
    return Recipe(requirements, GENERATED_DOCKERFILE, context, digest, (base,), True, (f"{PREFIX}/bin/python",), requested,
                  {}, tuple(notes), torch_backend, torch_notes, keyed_stages=True, download=download,
                  replaced=tuple(cpu.replaced))


def _generated_conda(pkg: ModelPackage, conda_file: str, spec: RuntimeSpec, options: Options,
                     inputs: BuildInputs) -> Recipe:
    base = options.base_image or DEFAULT_CONDA_BASE
    choice = choose(options.torch_backend, containers=True)
    cpu = for_environment(pkg, spec, conda_file, choice.backend)  # GPU-only pins replaced for a CPU build
    tar = _context(inputs)
    if conda_file in cpu.texts:  # the derived copy, in the build's own context: the package is never changed
        tar.add_bytes(conda_file, cpu.texts[conda_file].encode("utf-8"))
    else:
        tar.add_file(conda_file, pkg.path(conda_file))
    text = conda_dockerfile(base, conda_file, inputs.ca is not None, inputs.wheelhouse is not None)
    tar.add_bytes(GENERATED_DOCKERFILE, text.encode("utf-8"))
    context, digest = tar.finish()
    notes = (*inputs.notes, f"{conda_file} built with micromamba in {base}", *cpu.notes(flag_of(choice.requested)))
    return Recipe(conda_file, GENERATED_DOCKERFILE, context, digest, (base,), True, (f"{PREFIX}/bin/python",),
                  _requested_python(spec, options), notes=notes, keyed_stages=True,
                  torch_notes=(f"--torch-backend does not apply to {conda_file} in a docker build: micromamba and its pip "
                               "section install torch from the channels and indexes the file names"
                               + (" (with its GPU-only pins replaced, see the notes)" if cpu.replaced else ""),),
                  replaced=tuple(cpu.replaced))


def _index_settings(pip: PipSettings, has_wheelhouse: bool) -> tuple[dict[str, str], tuple[str, ...], list[str]]:
    """This machine's pip index settings for the download container, where it can reach them: the variables
    (credentials included), the same without credentials for the cache key, and notes."""
    env: dict[str, str] = {}
    passed: list[str] = []
    left_out: list[str] = []

    def reachable(url: str) -> bool:
        return url.lower().startswith(("http://", "https://"))

    if pip.index_url:
        if reachable(pip.index_url):
            env["PIP_INDEX_URL"] = pip.index_url
            passed.append(f"index-url {redact(pip.index_url)}")
        else:
            left_out.append(pip.index_url)
    extra = [url for url in pip.extra_index_urls if reachable(url)]
    left_out += [url for url in pip.extra_index_urls if not reachable(url)]
    if extra:
        env["PIP_EXTRA_INDEX_URL"] = " ".join(extra)
        passed.append("extra-index-url " + " ".join(redact(url) for url in extra))
    if pip.trusted_hosts:
        env["PIP_TRUSTED_HOST"] = " ".join(pip.trusted_hosts)
        passed.append("trusted-host " + " ".join(pip.trusted_hosts))
    left_out += list(pip.find_links)
    notes = []
    if passed:
        notes.append(f"pip configuration of this machine used for the download of wheels (read from {pip.source}): "
                     + "; ".join(passed) + "; it is not in the image or its build arguments")
    if left_out and not has_wheelhouse:
        notes.append("this machine's pip configuration names local indexes or wheel folders ("
                     + ", ".join(redact(item) for item in left_out)
                     + ") that the download cannot see; pass them with --wheelhouse if the build needs them")
    assert set(env) <= set(INDEX_VARIABLES)
    key = tuple(f"{name}={redact(value)}" for name, value in sorted(env.items()))
    return env, key, notes
