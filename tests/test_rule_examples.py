"""Every rule of the catalogue has a failing and a passing example, and each one does what it says.

The examples are data (tests/rules/README.md): tests/rules/<rule>/fail and tests/rules/<rule>/pass
each hold an example.toml and an overlay on the base package tests/rules/base. The test copies the
base, applies the overlay, runs `model-check check --json` in-process with the example's arguments
and asserts that the rule fires on fail/ and not on pass/. Examples that build the same package
with the same arguments share one run (static ones take --env none; dynamic ones rebuild real
environments with uv, or images on the Docker engine of tests/docker_engine.sh).

A few rules fire only when model-check or the machine fails (a crashing check, a weakened sandbox,
a crashing ONNX parser): their examples name a fault from FAULTS, which the test injects.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tomllib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, replace
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from helpers import check_report

from validator.cli.main import main
from validator.core.catalogue import all_rules
from validator.core.report import Report
from validator.pipeline import release_gate

RULES_DIR = Path(__file__).resolve().parent / "rules"
BASE = RULES_DIR / "base"
REPO = RULES_DIR.parent.parent  # `base = "examples/<name>"`: an example package of the repository as the base
SPEC = "example.toml"
KINDS = ("fail", "pass")
SPEC_KEYS = {"why", "args", "remove", "edit", "symlinks", "fifos", "sparse", "environ", "expect", "release_tag",
             "release_package", "release_path", "static_budget_s", "fault", "sealed", "base"}


# -- faults: what only a failing model-check or machine shows ------------------------------------------

@contextmanager
def _crashing_check() -> Iterator[None]:
    """Reading a JSON file raises, as a bug in a reader would: the checks that read labels.json crash."""
    from validator.readers.package import ModelPackage

    def read_json(self: ModelPackage, rel: str) -> tuple[Any, str | None]:
        raise RuntimeError(f"a bug while reading {rel} (fault injected by the test)")

    with mock.patch.object(ModelPackage, "read_json", read_json):
        yield


@contextmanager
def _sandbox_weakened() -> Iterator[None]:
    """The environment check is told the sandbox cannot make the file system read-only (as on a
    machine without bubblewrap or setpriv); the sandbox itself stays as strong as this machine allows."""
    from validator.sandbox.bubblewrap import sandbox_support

    with mock.patch("validator.pipeline.environment.sandbox_support", lambda: replace(sandbox_support(), read_only_root=False)):
        yield


@contextmanager
def _onnx_parser_crash() -> Iterator[None]:
    """The sandboxed ONNX parser exits with status 3 instead of answering."""
    from validator.readers import onnx as onnx_reader

    with mock.patch.object(onnx_reader, "_BOOT", "import sys; sys.exit(3)"):
        yield


FAULTS: dict[str, Callable[[], AbstractContextManager[None]]] = {
    "crashing-check": _crashing_check,
    "sandbox-weakened": _sandbox_weakened,
    "onnx-parser-crash": _onnx_parser_crash,
}


# -- seals: what `sealed` does to the base before the example's changes (then `model-check verify` runs) --

_ATTESTATIONS: dict[str, bytes] = {}  # the base's fingerprint -> its attestation, made once per session


def _attest(target: Path) -> None:
    """Write the base's validation attestation (`model-check attest --env none`) into the package."""
    from validator.publish.attestation import ATTESTATION_NAME

    key = _fingerprint(target)
    if key not in _ATTESTATIONS:
        copy = target.parent / f"{target.name}-attest"
        shutil.copytree(target, copy, symlinks=True)
        assert main(["attest", str(copy), "--env", "none", "--quiet"]) == 0, "the base does not attest"
        _ATTESTATIONS[key] = (copy / ATTESTATION_NAME).read_bytes()
        shutil.rmtree(copy)
    (target / ATTESTATION_NAME).write_bytes(_ATTESTATIONS[key])


SEALS: dict[str, Callable[[Path], None]] = {"attest": _attest}

_SIGNING_KEYS: list[Path] = []  # the folder of the session's keys and CA (tests/signing_fixtures.py), made once
_SIGNATURES: dict[tuple[str, str], bytes] = {}  # (the package's fingerprint, seal) -> its model.sig, made once
WORKFLOW_IDENTITY = "https://github.com/earthcode/models/.github/workflows/release.yml@refs/tags/v1.0.0"


def _signing_keys() -> Path:
    """The publisher's and someone else's EC key pairs, and a CA whose leaf names a GitHub workflow and
    GitHub's OIDC issuer as Fulcio's certificates do."""
    if not _SIGNING_KEYS:
        import atexit
        import tempfile

        from signing_fixtures import certificate_authority, key_pair

        from validator.publish.signing import GITHUB_ISSUER

        folder = Path(tempfile.mkdtemp(prefix="model-check-signing-"))
        atexit.register(shutil.rmtree, folder, True)
        key_pair(folder, "publisher")
        key_pair(folder, "someone-else")
        certificate_authority(folder, "workflow", WORKFLOW_IDENTITY, GITHUB_ISSUER)
        _SIGNING_KEYS.append(folder)
    return _SIGNING_KEYS[0]


def _signer(seal: str) -> Callable[[Path], None]:
    """`model-check sign` of the package: with the publisher's key (`sign`, `sign-unchecked`), someone
    else's (`sign-other-key`), or the workflow certificate (`sign-workflow`)."""
    def sign(target: Path) -> None:
        from validator.publish.signing import SIGNATURE_NAME

        keys = _signing_keys()
        how = {"sign-other-key": ["--key", str(keys / "someone-else.pem")],
               "sign-workflow": ["--key", str(keys / "workflow-leaf-key.pem"), "--signing-certificate", str(keys / "workflow-leaf.pem"),
                                 "--certificate-chain", str(keys / "workflow-intermediate.pem")]}.get(
            seal, ["--key", str(keys / "publisher.pem")])
        cache = (_fingerprint(target), seal)
        if cache not in _SIGNATURES:
            assert main(["sign", str(target), *how]) == 0, f"the package does not sign ({seal})"
            _SIGNATURES[cache] = (target / SIGNATURE_NAME).read_bytes()
        (target / SIGNATURE_NAME).write_bytes(_SIGNATURES[cache])
    return sign


SEALS.update({seal: _signer(seal) for seal in ("sign", "sign-other-key", "sign-unchecked", "sign-workflow")})


def _seal_args(spec: dict[str, Any]) -> list[str]:
    """What `model-check verify` is told to trust: the publisher's public key after `sign` and
    `sign-other-key` (so the latter is someone else's signature); nothing after `sign-unchecked`;
    `sign-workflow` examples give --identity in `args`."""
    sealed = spec.get("sealed", [])
    return ["--key", str(_signing_keys() / "publisher.pub")] if {"sign", "sign-other-key"} & set(sealed) else []


# -- examples -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Example:
    rule: str
    kind: str  # "fail": the rule fires; "pass": it does not
    folder: Path

    @property
    def id(self) -> str:
        return f"{self.rule}-{self.kind}"

    @property
    def spec(self) -> dict[str, Any]:
        return tomllib.loads((self.folder / SPEC).read_text(encoding="utf-8"))

    @property
    def args(self) -> list[str]:
        args = [str(a) for a in self.spec.get("args", [])]
        return args if "--env" in args else ["--env", "none", *args]

    @property
    def env(self) -> str:
        return self.args[self.args.index("--env") + 1]

    def overlay(self) -> list[Path]:
        return sorted(p for p in self.folder.rglob("*") if p.is_file() and p.relative_to(self.folder).as_posix() != SPEC)


def _examples() -> list[Example]:
    found = [Example(rule.name, kind, rule / kind) for rule in sorted(RULES_DIR.glob("MC*")) for kind in KINDS
             if (rule / kind / SPEC).is_file()]
    order = {"none": 0, "venv": 1, "docker": 2}  # static examples first: they need no environment
    return sorted(found, key=lambda e: (order.get(e.env, 1), e.rule, e.kind))


EXAMPLES = _examples()


def _marks(example: Example) -> list[pytest.MarkDecorator]:
    marks = [pytest.mark.slow] if example.env != "none" else []
    return marks + ([pytest.mark.docker] if example.env == "docker" else [])


def test_every_rule_has_a_failing_and_a_passing_example() -> None:
    catalogue = {r.id for r in all_rules()}
    missing = [f"{rule_id}/{kind}" for rule_id in sorted(catalogue) for kind in KINDS
               if not (RULES_DIR / rule_id / kind / SPEC).is_file()]
    assert not missing, f"{len(missing)} example(s) missing (tests/rules/README.md says how to add one): {missing}"
    strays = sorted(p.name for p in RULES_DIR.glob("MC*") if p.name not in catalogue)
    assert not strays, f"examples of rules the catalogue does not have: {strays}"
    for example in EXAMPLES:
        spec = example.spec
        assert isinstance(spec.get("why"), str) and spec["why"].strip(), f"{example.id}: example.toml needs `why`"
        assert set(spec) <= SPEC_KEYS, f"{example.id}: unknown keys {sorted(set(spec) - SPEC_KEYS)}"
        assert spec.get("fault") is None or spec["fault"] in FAULTS, f"{example.id}: unknown fault {spec['fault']!r}"
        assert set(spec.get("sealed", [])) <= set(SEALS), f"{example.id}: unknown seal in {spec['sealed']!r}"


def test_the_base_package_is_valid(tmp_path: Path) -> None:
    """The base fires no error or warning, so each example shows the one change it makes."""
    root = tmp_path / "base"
    shutil.copytree(BASE, root, symlinks=True)
    report = _run(Example("base", "pass", BASE), root, ["--env", "none"], {})
    noisy = [f"{f['rule']}: {f['message']}" for f in report["findings"] if f["severity"] != "info"]
    assert not noisy, noisy


# -- building an example's package ------------------------------------------------------------------------

def _build(example: Example, target: Path) -> None:
    """The base, less `remove`, plus the overlay, `edit`s applied, links and special files made."""
    spec = example.spec
    shutil.copytree(REPO / spec["base"] if "base" in spec else BASE, target, symlinks=True)
    for step in spec.get("sealed", []):  # before the example's changes, which tamper with the sealed package
        SEALS[step](target)
    patterns = spec.get("remove", [])
    for path in sorted(target.rglob("*"), reverse=True):
        rel = path.relative_to(target).as_posix()
        if not any(fnmatch(rel, pattern) for pattern in patterns):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    for source in example.overlay():
        destination = target / source.relative_to(example.folder)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
    for edit in spec.get("edit", []):
        path = target / edit["file"]
        text = path.read_text(encoding="utf-8")
        assert edit["old"] in text, f"{example.id}: {edit['old']!r} is not in {edit['file']} (did the base change?)"
        new = "".join(edit["new"]) if isinstance(edit["new"], list) else edit["new"]  # parts: see README.md
        path.write_text(text.replace(edit["old"], new, 1), encoding="utf-8")
    for link, points_to in spec.get("symlinks", {}).items():
        (target / link).parent.mkdir(parents=True, exist_ok=True)
        (target / link).symlink_to(points_to)
    for fifo in spec.get("fifos", []):
        os.mkfifo(target / fifo)
    for name, size in spec.get("sparse", {}).items():
        with open(target / name, "wb") as handle:  # no disk space: a hole
            handle.truncate(int(size))


def _fingerprint(root: Path) -> str:
    """What the package is: every path with its kind and content (a run is shared by equal packages)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            digest.update(f"L {rel} {os.readlink(path)}\n".encode())
        elif path.is_fifo():
            digest.update(f"P {rel}\n".encode())
        elif path.is_file():
            size = path.stat().st_size
            content = hashlib.sha256(path.read_bytes()).hexdigest() if size < 64 * 2**20 else f"sparse {size}"
            digest.update(f"F {rel} {content}\n".encode())
        elif path.is_dir():
            digest.update(f"D {rel}\n".encode())
    return digest.hexdigest()


# -- running --------------------------------------------------------------------------------------------

_REPORTS: dict[str, dict[str, Any]] = {}  # run key -> report, for the whole session
_ONNX_SUMMARIES: dict[str, Any] = {}  # sha256 of an .onnx file -> its summary
_BUILT_IMAGES: set[str] = set()  # ids of the images the docker examples built: removed at the end of the session


@contextmanager
def _shared_onnx_summaries(enabled: bool) -> Iterator[None]:
    """Parse each distinct .onnx file once per session (a sandboxed child takes most of a static run).

    The summary of a file depends on its bytes only (and its path, which is replaced), unless it
    points at external data: those are parsed every time. Runs with a fault parse every time too."""
    from validator.readers import onnx as onnx_reader

    real = getattr(onnx_reader, "inspect_graphs", None)
    if not enabled or real is None:
        yield
        return

    def inspect(pkg: Any, rels: list[str]) -> Any:
        keys = {rel: hashlib.sha256(pkg.path(rel).read_bytes()).hexdigest() if pkg.path(rel).stat().st_size < 2**26
                else None for rel in rels}
        known = {rel: replace(_ONNX_SUMMARIES[key], rel=rel) for rel, key in keys.items() if key in _ONNX_SUMMARIES}
        fresh = real(pkg, [rel for rel in rels if rel not in known]) if len(known) < len(rels) else {}
        for rel, summary in fresh.items():
            key = keys.get(rel)
            if key is not None and not getattr(summary, "external_data", None) and summary.parsed:
                _ONNX_SUMMARIES[key] = summary
        return {rel: known[rel] if rel in known else fresh[rel] for rel in rels}

    with mock.patch.object(onnx_reader, "inspect_graphs", inspect):
        yield



def _run(example: Example, root: Path, args: list[str], spec: dict[str, Any]) -> dict[str, Any]:
    out = root.parent / f"{root.name}.report.json"
    with ExitStack() as stack:
        for name, value in spec.get("environ", {}).items():
            stack.enter_context(mock.patch.dict(os.environ, {name: str(value)}))
        if "static_budget_s" in spec:
            from validator.pipeline import runner

            stack.enter_context(mock.patch.object(runner, "STATIC_BUDGET_S", float(spec["static_budget_s"])))
        if spec.get("fault"):
            stack.enter_context(FAULTS[spec["fault"]]())
        stack.enter_context(_shared_onnx_summaries(enabled=not spec.get("fault")))
        if spec.get("sealed"):  # `model-check verify` of the sealed, then changed, package
            code = main(["verify", str(root), "--json", str(out), "--quiet", *[str(a) for a in example.spec.get("args", [])],
                         *_seal_args(spec)])
        else:
            code = main(["check", str(root), "--json", str(out), "--quiet", *args])
        assert code in (0, 1), f"{example.id}: model-check exited {code}"
        report = check_report(json.loads(out.read_text(encoding="utf-8")))
        if spec.get("release_tag"):  # as the GitHub layer does on a tag push (validator.github.post)
            gated = Report.from_dict(report)
            release_gate.apply_gate(gated, spec["release_tag"], root / spec.get("release_package", "."),
                                    package_path=spec.get("release_path", "."))
            report = check_report(gated.to_dict())
    return report


@pytest.fixture(scope="session")
def example_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rule-examples")


def report_of(example: Example, workdir: Path) -> dict[str, Any]:
    spec = example.spec
    scratch = workdir / f"build-{example.id}"
    _build(example, scratch)
    run_spec: dict[str, Any] = {k: spec[k] for k in ("environ", "static_budget_s", "fault", "release_tag", "release_package",
                                                                "release_path", "sealed") if k in spec}
    key = hashlib.sha256(json.dumps([_fingerprint(scratch), example.args, run_spec], sort_keys=True).encode()).hexdigest()[:16]
    if key not in _REPORTS:
        root = workdir / key / "pkg"
        root.parent.mkdir()
        scratch.rename(root)
        before = _environment_images() if example.env == "docker" else set()
        _REPORTS[key] = _run(example, root, example.args, run_spec)
        if example.env == "docker":  # images it built, including those a failed run leaves without a cache key
            _BUILT_IMAGES.update(_environment_images() - before)
    else:
        shutil.rmtree(scratch)
    return _REPORTS[key]


def _environment_images() -> set[str]:
    """The ids of model-check's environment images on the engine."""
    import docker

    return {str(image.id) for image in docker.from_env(timeout=60).images.list(name="model-check-env")}


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[None]:
    """A Docker engine with the local base images (tests/docker_engine.sh); in CI its absence fails."""
    from docker_fixtures import ensure_engine

    import docker

    ensure_engine()
    yield
    client = docker.from_env(timeout=120)
    for image in _BUILT_IMAGES:
        try:
            client.images.remove(image)
        except docker.errors.APIError:
            pass  # in use by another run, or gone already


@pytest.mark.parametrize("example", [pytest.param(e, id=e.id, marks=_marks(e)) for e in EXAMPLES])
def test_example(example: Example, example_root: Path, request: pytest.FixtureRequest) -> None:
    if example.env == "docker":
        request.getfixturevalue("docker_engine")
    report = report_of(example, example_root)
    fired = [f for f in report["findings"] if f["rule"] == example.rule]
    shown = [f"{f['rule']} {f['severity']}: {f['message'][:300]}" for f in report["findings"]]
    if example.kind == "fail":
        assert fired, f"{example.id}: {example.rule} did not fire ({example.spec['why']}); findings: {shown}"
        expect = example.spec.get("expect")
        if expect:
            assert any(expect in f["message"] for f in fired), f"{example.id}: no {example.rule} says {expect!r}: {shown}"
    else:
        assert not fired, f"{example.id}: {example.rule} fired ({example.spec['why']}): {shown}"
