"""OGC Application Packages (CWL): structure, cwltool's validation in the sandbox, images, runs, and the attacks.

The fixtures under tests/fixtures/cwl/ reproduce the forms of public EO application packages (a
packed `$graph` with several processes, list-form ports, DockerRequirement in hints and in
requirements, dockerPull and dockerFile, JavaScript expressions; the unpacked form with
`run: tool.cwl`). Runs use the real cwltool and the real Docker engine (tests marked docker), with
the local base image tests/docker_engine.sh makes; each runs the check directly (no environment
build: the run check needs only the engine).
"""

from __future__ import annotations

import shutil
import textwrap
import time
from pathlib import Path

import pytest

from validator.checks.application_package import ApplicationPackageCheck, ApplicationPackageRunCheck
from validator.checks.base import Outcome, Skip
from validator.core.findings import Finding
from validator.core.options import Options
from validator.readers.cwl import looks_like_cwl, read_document, references
from validator.readers.cwl_validate import validate
from validator.readers.package import ModelPackage
from validator.runtime.cwl_broker import Broker

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "cwl"
IMAGE = "local/python:3.11-bookworm"


def _package(tmp_path: Path, cwl: str, job: str | None = None, name: str = "app.cwl", **files: str) -> Path:
    root = tmp_path / "pkg"
    root.mkdir(parents=True)
    (root / name).write_text(textwrap.dedent(cwl), encoding="utf-8")
    if job is not None:
        (root / (name.rsplit(".", 1)[0] + ".job.yml")).write_text(textwrap.dedent(job), encoding="utf-8")
    for rel, text in files.items():
        (root / rel).write_text(text, encoding="utf-8")
    return root


def _static(root: Path) -> list[Finding]:
    result = ApplicationPackageCheck().run(ModelPackage(root), Options())
    assert not isinstance(result, Skip), result
    return list(result)


def _ran(root: Path, options: Options | None = None) -> Outcome:
    result = ApplicationPackageRunCheck().run(ModelPackage(root), options or Options(), None)
    assert isinstance(result, Outcome), result
    return result


def _rules(findings: list[Finding]) -> set[str]:
    return {f.rule for f in findings}


def _tool(command: str, outputs: str = "      out: {type: stdout}", extra: str = "") -> str:
    """A one-tool workflow on the local Python image, as a CWL document."""
    return f"""\
cwlVersion: v1.2
$graph:
  - class: Workflow
    id: main
    inputs: {{}}
    outputs:
      result: {{type: File, outputSource: step/out}}
    steps:
      step: {{run: '#tool', in: {{}}, out: [out]}}
  - class: CommandLineTool
    id: tool
    requirements:
      DockerRequirement: {{dockerPull: {IMAGE}}}
{extra}    baseCommand: [python3, -c, {command!r}]
    stdout: out.txt
    inputs: {{}}
    outputs:
{outputs}
"""


# -- reading and structure (no engine) --------------------------------------------------------------------

def test_fixtures_follow_the_best_practice_and_cwltool_accepts_them() -> None:
    assert _static(FIXTURES / "graph") == []
    assert _static(FIXTURES / "split") == []


def test_packed_document_is_read_with_its_processes_ports_and_lines() -> None:
    text = (FIXTURES / "graph" / "app.cwl").read_text(encoding="utf-8")
    doc = read_document("app.cwl", text, frozenset({"app.cwl"}), frozenset())
    assert doc.graph and [(p.id, p.cls) for p in doc.processes] == [
        ("execute", "Workflow"), ("segment", "CommandLineTool"), ("summarise", "CommandLineTool")]
    flow, segment, summarise = doc.processes
    assert [(p.id, p.type, p.default) for p in flow.inputs] == [("tile", "File", False), ("scale", "float", True)]
    assert segment.docker_in == "hints" and summarise.docker_in == "requirements" and summarise.javascript
    assert summarise.docker is not None and summarise.docker["dockerImageId"] == "model-check-test/cwl-summarise:0.1"
    assert text.splitlines()[flow.inputs[1].line - 1].strip() == "- id: scale"


def test_a_yaml_file_with_cwl_version_is_a_document_and_a_job_file_is_not() -> None:
    assert looks_like_cwl("app/process.yaml", "# an app\ncwlVersion: v1.0\nclass: Workflow\n")
    assert looks_like_cwl("tool.cwl", "")
    assert not looks_like_cwl("params.yml", "cwl: 1\n")
    assert not looks_like_cwl("app.job.yml", "cwlVersion: v1.0\n")


def test_structure_findings(tmp_path: Path) -> None:
    only_tool = _package(tmp_path / "a", """\
        cwlVersion: v1.2
        class: CommandLineTool
        baseCommand: echo
        inputs:
          x: {type: string, inputBinding: {position: 1}}
          y: Any
        outputs: []
        """)
    found = _static(only_tool)
    assert {"MC361", "MC363", "MC364"} <= _rules(found)
    untyped = next(f for f in found if f.rule == "MC364")
    assert untyped.file == "app.cwl" and untyped.line == 6 and "`y`" in untyped.message
    workflows = _package(tmp_path / "b", """\
        cwlVersion: v1.2
        $graph:
          - {class: Workflow, id: one, inputs: [], outputs: [], steps: []}
          - {class: Workflow, id: two, inputs: [], outputs: [], steps: []}
        """)
    found = _static(workflows)
    assert {"MC361", "MC362"} <= _rules(found)
    assert any("none is `main`" in f.message for f in found)


def test_network_request_is_reported(tmp_path: Path) -> None:
    root = _package(tmp_path, _tool("print(1)", extra="      NetworkAccess: {networkAccess: true}\n"))
    found = _static(root)
    assert _rules(found) == {"MC370"}
    assert found[0].line == 10


def test_cwltool_schema_error_names_the_line(tmp_path: Path) -> None:
    root = _package(tmp_path, _tool("print(1)").replace("stdout: out.txt", "stdout: out.txt\n    hints: 7"))
    found = _static(root)
    assert _rules(found) == {"MC360"}
    assert "cwltool rejects app.cwl" in found[0].message


# -- the attacks: references that would read the machine or the network --------------------------------------

@pytest.mark.parametrize(("snippet", "expected"), [
    ("$include: /etc/passwd", "an absolute path"),
    ("$import: https://example.org/types.yaml", "a URL"),
    ("$mixin: ../../outside.yml", "out of the package"),
    ("$include: file:///etc/shadow", "an absolute path"),
])
def test_references_out_of_the_package_are_refused_before_cwltool(tmp_path: Path, snippet: str, expected: str) -> None:
    cwl = _tool("print(1)").replace("    inputs: {}\n    outputs:\n", f"    doc:\n      {snippet}\n    inputs: {{}}\n    outputs:\n", 1)
    root = _package(tmp_path, cwl)
    started = time.monotonic()
    found = _static(root)
    assert _rules(found) == {"MC365"}, found
    assert expected in found[0].message and found[0].line == 6
    assert time.monotonic() - started < 3  # cwltool never ran
    assert isinstance(ApplicationPackageRunCheck().run(ModelPackage(root), Options(), None), Skip)


def test_run_and_location_references(tmp_path: Path) -> None:
    files, dirs = frozenset({"wf.cwl", "data/x.npy"}), frozenset({"data"})
    value = {"steps": {"s": {"run": "../../tool.cwl", "in": {}}},
             "inputs": {"a": {"type": "File", "default": {"class": "File", "location": "/etc/hostname"}}},
             "hints": {"DockerRequirement": {"dockerLoad": "http://example.org/image.tar"}}}
    refused = references(value, "wf.cwl", files, dirs)
    assert sorted(r.key for r in refused) == ["dockerLoad", "location", "run"]
    job = {"tile": {"class": "File", "path": "data/../../secret"}, "ok": {"class": "File", "location": "data/x.npy"}}
    assert [r.value for r in references(job, "wf.job.yml", files, dirs, job=True)] == ["data/../../secret"]


def test_cwltool_in_the_sandbox_cannot_read_outside_the_package(tmp_path: Path) -> None:
    """Defence in depth: were a reference to slip past the reader, cwltool sees only the package copy."""
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("TOP-SECRET-MARKER", encoding="utf-8")
    cwl = _tool("print(1)").replace("    inputs: {}\n    outputs:\n", f"    doc:\n      $include: {secret}\n    inputs: {{}}\n    outputs:\n", 1)
    root = _package(tmp_path, cwl)
    result = validate(root, "app.cwl", "main")
    assert not result.valid
    assert "TOP-SECRET-MARKER" not in result.message
    assert "secret.txt" in result.message


def test_alias_bomb_and_bad_yaml_are_findings(tmp_path: Path) -> None:
    lines = ["cwlVersion: v1.2", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]"
              for i in range(1, 12)]
    doc = read_document("bomb.cwl", "\n".join(lines) + "\nclass: Workflow\n", frozenset(), frozenset())
    assert doc.problem is None or "too" in doc.problem  # aliases are walked once: no blow-up either way
    root = _package(tmp_path, "cwlVersion: v1.2\nclass: [unclosed\n")
    found = _static(root)
    assert _rules(found) == {"MC360"} and found[0].line == 3


# -- the broker (no engine needed for what it refuses) ----------------------------------------------------------

def test_broker_refuses_what_is_not_a_vetted_run(tmp_path: Path) -> None:
    broker = Broker(tmp_path, {IMAGE: ""}, {"PATH": "/usr/bin:/bin"}, {"model-check": "1"}, 256, 1.0, 64,
                    time.monotonic() + 30)
    try:
        assert broker.answer(["pull", "ghcr.io/x/y:1"], "", "")[0] == 1
        assert broker.answer(["load"], "", "")[0] == 1
        assert broker.answer(["inspect", "other:1"], "", "")[0] == 1
        assert broker.answer(["run", "-i", "--mount=type=bind,source=/etc,target=/x", IMAGE, "true"], "", "")[0] == 1
        assert broker.answer(["run", "-i", "--privileged", IMAGE, "true"], "", "")[0] == 1
        assert broker.answer(["run", "-i", "--volume=/:/host", IMAGE, "true"], "", "")[0] == 1
        assert broker.answer(["run", "-i", "other:1", "true"], "", "")[0] == 1
        assert broker.answer(["build", "--tag=other:1", "/tmp"], "", "FROM x")[0] == 1
        assert len(broker.refused) == 7
        link = tmp_path / "escape"
        link.symlink_to("/etc")
        assert broker.answer(["run", f"--mount=type=bind,source={link},target=/x", IMAGE, "true"], "", "")[0] == 1
    finally:
        broker.close()


# -- runs on the engine -----------------------------------------------------------------------------------------

@pytest.mark.docker
def test_packed_and_split_packages_run(engine: object) -> None:
    for name, expected in (("graph", "2 container(s)"), ("split", "1 container(s)")):
        outcome = _ran(FIXTURES / name)
        assert _rules(outcome.findings) == {"MC369"}, outcome.findings
        assert expected in outcome.findings[0].message and "(no network)" in outcome.findings[0].message


@pytest.mark.docker
def test_unreachable_pull_is_a_finding_at_once(engine: object, tmp_path: Path) -> None:
    root = _package(tmp_path, _tool("print(1)").replace(IMAGE, "ghcr.io/example/absent-model:1.0"), job="{}\n")
    started = time.monotonic()
    outcome = _ran(root)
    assert _rules(outcome.findings) == {"MC366"}
    assert "could not pull it" in outcome.findings[0].message and "ghcr.io" in outcome.findings[0].message
    assert time.monotonic() - started < 15


@pytest.mark.docker
def test_container_has_no_network_no_secrets_and_a_clock(engine: object, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_leakcheckvalue000000000000000000000")
    probe = ("import os, socket, json\n"
             "try:\n socket.create_connection(('1.1.1.1', 53), timeout=3); net = 'open'\n"
             "except OSError as e:\n net = 'closed'\n"
             "print(json.dumps({'env': dict(os.environ), 'net': net, 'uid': os.getuid()}))")
    root = _package(tmp_path / "a", _tool(probe, extra="      NetworkAccess: {networkAccess: true}\n"), job="{}\n")
    outcome = _ran(root)
    assert _rules(outcome.findings) == {"MC369"}, outcome.findings
    # the tool's own output is checked through a run kept for inspection
    from validator.runtime.cwl_run import docker_env, prepare_images, run_workflow
    from validator.sandbox.base import Limits
    pkg = ModelPackage(root)
    docs = pkg.cwl_documents
    env = docker_env()
    images = prepare_images(root, [(d.rel, t) for d in docs for t in d.tools], env)
    result = run_workflow(root, "app.cwl", "main", "app.job.yml", images, env, Limits(wall_s=60, memory_mb=1024))
    try:
        text = (result.out_dir / "out.txt").read_text(encoding="utf-8")
    finally:
        shutil.rmtree(result.out_dir.parent, ignore_errors=True)
    assert '"net": "closed"' in text and '"uid": 65534' in text
    assert "ghp_leak" not in text and "GITHUB_TOKEN" not in text

    hang = _package(tmp_path / "b", _tool("import time; time.sleep(600)"), job="{}\n")
    started = time.monotonic()
    outcome = _ran(hang, Options(timeout_s=15))
    assert _rules(outcome.findings) == {"MC367"}
    assert "stopped" in outcome.findings[0].message
    assert time.monotonic() - started < 60


@pytest.mark.docker
def test_missing_test_input_and_missing_output(engine: object, tmp_path: Path) -> None:
    needs_input = _package(tmp_path / "a", _tool("print(1)").replace("    inputs: {}\n    outputs:", "    inputs: {}\n    outputs:", 1)
                           .replace("id: main\n    inputs: {}", "id: main\n    inputs: {x: string}"))
    assert _rules(_ran(needs_input).findings) == {"MC371"}
    optional = _tool("print(1)", outputs="      out: {type: 'File?', outputBinding: {glob: nothing.txt}}")
    optional = optional.replace("    stdout: out.txt\n", "")
    outcome = _ran(_package(tmp_path / "b", optional, job="{}\n"))
    assert "MC368" in _rules(outcome.findings), outcome.findings
    assert "`result` (File) is missing" in next(f.message for f in outcome.findings if f.rule == "MC368")


@pytest.mark.docker
def test_docker_load_never_re_points_an_image(engine: object, tmp_path: Path) -> None:
    import io
    import json
    import tarfile

    root = tmp_path / "pkg"
    (root / "images").mkdir(parents=True)
    with tarfile.open(root / "images" / "tool.tar", "w") as archive:
        data = json.dumps([{"Config": "c.json", "RepoTags": [IMAGE], "Layers": []}]).encode()
        member = tarfile.TarInfo("manifest.json")
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    cwl = _tool("print(1)").replace(f"DockerRequirement: {{dockerPull: {IMAGE}}}",
                                    f"DockerRequirement: {{dockerLoad: images/tool.tar, dockerImageId: {IMAGE}}}")
    (root / "app.cwl").write_text(cwl, encoding="utf-8")
    (root / "app.job.yml").write_text("{}\n", encoding="utf-8")
    outcome = _ran(root)
    assert _rules(outcome.findings) == {"MC366"}
    assert "would re-point local/python:3.11-bookworm" in outcome.findings[0].message
    (root / "app.cwl").write_text(cwl.replace(f"dockerImageId: {IMAGE}", "dockerImageId: other/tool:1"), encoding="utf-8")
    assert "state the one the tool runs" in _ran(root).findings[0].message


@pytest.mark.docker
def test_a_dockerfile_that_hangs_or_needs_the_network_is_a_finding(engine: object, tmp_path: Path) -> None:
    hang = "FROM local/python:3.11-bookworm\\nRUN sleep 600"
    cwl = _tool("print(1)").replace(f"DockerRequirement: {{dockerPull: {IMAGE}}}",
                                    f'DockerRequirement: {{dockerFile: "{hang}", dockerImageId: "model-check-test/cwl-hang:1"}}')
    root = _package(tmp_path / "a", cwl, job="{}\n")
    started = time.monotonic()
    outcome = _ran(root, Options(timeout_s=8))
    assert _rules(outcome.findings) == {"MC366"} and "did not finish within 8 s" in outcome.findings[0].message
    assert time.monotonic() - started < 40
    fetch = "FROM local/python:3.11-bookworm\\nRUN python3 -c \\\"import urllib.request as u; u.urlopen('https://pypi.org', timeout=5)\\\""
    root = _package(tmp_path / "b", cwl.replace(hang, fetch).replace("cwl-hang", "cwl-fetch"), job="{}\n")
    outcome = _ran(root)
    assert _rules(outcome.findings) == {"MC366"} and "does not build (no network" in outcome.findings[0].message


# -- an Application Package as the package's only runtime ---------------------------------------------------

def test_an_application_package_is_a_runtime_and_a_tool_without_a_container_is_not(tmp_path: Path) -> None:
    from validator.checks.runtime_pins import runtime_missing

    root = tmp_path / "pkg"
    shutil.copytree(FIXTURES / "graph", root)
    assert not list(runtime_missing(ModelPackage(root)))  # "a Dockerfile or OGC Application Package"
    text = (root / "app.cwl").read_text(encoding="utf-8")
    (root / "app.cwl").write_text(text.replace("DockerRequirement", "SoftwareRequirement"), encoding="utf-8")
    assert [f.rule for f in runtime_missing(ModelPackage(root))] == ["MC102"]


@pytest.mark.docker
def test_a_package_whose_runtime_is_an_application_package_runs_it(engine: object, tmp_path: Path) -> None:
    from validator.core.findings import CheckStatus
    from validator.pipeline.runner import run

    root = tmp_path / "pkg"
    shutil.copytree(FIXTURES / "graph", root)
    report = run(root, Options(env="auto"))
    checks = {check.name: check for check in report.checks}
    assert "MC102" not in _rules(report.findings)
    ran = checks["OGC Application Package run"]
    assert ran.status is not CheckStatus.SKIPPED, ran
    assert "MC369" in _rules(report.findings)
    assert checks["native vs ONNX parity"].status is CheckStatus.SKIPPED  # nothing to rebuild for the others


def test_a_pull_reference_that_reads_as_an_option_is_refused_before_the_engine_sees_it() -> None:
    from validator.readers.cwl import Process
    from validator.runtime.cwl_run import prepare_images

    for name in ("--help", "-v/etc:/x", "Upper/Case", "a b"):
        tool = Process(id="t", cls="CommandLineTool", line=1, docker={"dockerPull": name})
        images = prepare_images(Path("/nonexistent"), [("app.cwl", tool)], {"PATH": "/nonexistent"})
        assert [why for _, why in images.problems] == [f"dockerPull {name!r} is not an image reference"], name
        assert not images.prepared
