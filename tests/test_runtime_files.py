"""Area runtime, static part (MC301-MC310): requirements.txt, environment.yml and Dockerfile pin
what they install; includes, index options, base images and the Python version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import findings, rules_fired, run_static

from validator.readers.package import ModelPackage
from validator.readers.runtime_spec import RuntimeSpec, read_runtime

RUNTIME = "runtime"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "sha256:" + "ab" * 32


def with_runtime(root: Path, files: dict[str, str], keep_python_version: bool = True) -> Path:
    """Replace the example's runtime definition with `files`."""
    (root / "requirements.txt").unlink()
    if not keep_python_version:
        (root / ".python-version").unlink()
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(content, encoding="utf-8")
    return root


IMPORT_RULES = ("MC385",)  # the example's code imported against these small runtimes: tests/test_static_imports.py


def runtime_report(root: Path) -> dict[str, Any]:
    """The runtime area's report, without the findings about imports: the fixtures here replace the example's
    complete requirements.txt with a few lines, so its inference.py imports what they no longer install."""
    report = run_static(root, only=[RUNTIME])
    report["findings"] = [f for f in report["findings"] if f["rule"] not in IMPORT_RULES]
    return report


def runtime_findings(root: Path) -> list[tuple[str, str | None, int | None]]:
    """(rule, file, line) of every runtime finding, in report order."""
    return [(f["rule"], f["file"], f["line"]) for f in findings(runtime_report(root), area=RUNTIME)]


def spec_of(root: Path) -> RuntimeSpec:
    pkg = ModelPackage(root)
    try:
        return read_runtime(pkg)
    finally:
        pkg.close()


def test_example_runtime_is_pinned(example_pkg: Path) -> None:
    assert findings(runtime_report(example_pkg), area=RUNTIME) == []
    spec = spec_of(example_pkg)
    assert spec.python == ("3.11", ".python-version", 1)
    assert {"torch", "safetensors", "onnx", "onnxruntime", "numpy"} <= spec.pinned_names()
    assert not {"torchvision", "timm"} & spec.pinned_names()  # the network is plain torch (model.py)
    assert not [name for name in spec.pinned_names() if name.startswith(("nvidia-", "cuda-", "triton"))]  # CPU torch
    assert all(pin.pinned for pin in spec.pins)


# -- requirements.txt -------------------------------------------------------------------------
def test_every_unpinned_requirement_is_named_with_its_line(pkg_copy: Path) -> None:
    """Done when (issue 2): an unpinned requirements.txt fails naming each unpinned line."""
    lines = ["numpy>=1.26", "torch~=2.1", "timm", "onnx==1.*", "scipy<2,>=1", "pillow==11.0.0", "attrs===24.2.0"]
    with_runtime(pkg_copy, {"requirements.txt": "# a comment\n" + "\n".join(lines) + "\n"})
    report = runtime_report(pkg_copy)
    unpinned = findings(report, rule="MC301")
    assert [(f["file"], f["line"]) for f in unpinned] == [("requirements.txt", n) for n in range(2, 7)]
    for finding, text in zip(unpinned, lines[:5], strict=True):
        assert text in finding["message"] and finding["severity"] == "error"
    assert report["status"] == "failed"


def test_hashes_are_accepted_but_do_not_pin_a_range(pkg_copy: Path) -> None:
    with_runtime(pkg_copy, {"requirements.txt": (
        f"numpy==2.1.0 --hash=sha256:{'a' * 64}\n"
        f"scipy>=1.10 \\\n    --hash=sha256:{'b' * 64}\n")})
    found = findings(runtime_report(pkg_copy), area=RUNTIME)
    assert [(f["rule"], f["line"]) for f in found] == [("MC301", 2)]
    assert "scipy>=1.10" in found[0]["message"] and "hashes" in found[0]["message"]


@pytest.mark.parametrize(("line", "pinned"), [
    (f"timm @ git+https://github.com/huggingface/pytorch-image-models@{COMMIT}", True),
    ("timm @ git+https://github.com/huggingface/pytorch-image-models@main", False),
    ("git+https://github.com/huggingface/pytorch-image-models", False),
    (f"timm @ https://example.org/timm-1.0.9.tar.gz#sha256={'c' * 64}", True),
    ("timm @ https://example.org/timm-1.0.9.tar.gz", False),
])
def test_url_requirements_are_pinned_by_commit_or_hash(pkg_copy: Path, line: str, pinned: bool) -> None:
    with_runtime(pkg_copy, {"requirements.txt": line + "\n"})
    expected = [] if pinned else [("MC301", "requirements.txt", 1)]
    assert runtime_findings(pkg_copy) == expected


def test_include_inside_the_package_is_followed(pkg_copy: Path) -> None:
    with_runtime(pkg_copy, {"requirements.txt": "-r requirements/base.txt\nnumpy==2.1.0\n",
                            "requirements/base.txt": "numpy==2.1.0\n\ntorch\n"})
    assert runtime_findings(pkg_copy) == [("MC301", "requirements/base.txt", 3)]


def test_include_loop_is_read_once(pkg_copy: Path) -> None:
    with_runtime(pkg_copy, {"requirements.txt": "-r other.txt\nnumpy==2.1.0\n", "other.txt": "-r requirements.txt\ntimm\n"})
    assert runtime_findings(pkg_copy) == [("MC301", "other.txt", 2)]


def test_constraints_file_pins_the_requirements_it_names(pkg_copy: Path) -> None:
    with_runtime(pkg_copy, {"requirements.txt": "-c constraints.txt\ntorch\nscipy\n", "constraints.txt": "torch==2.5.1\n"})
    assert runtime_findings(pkg_copy) == [("MC301", "requirements.txt", 3)]


@pytest.mark.parametrize("target", ["../outside.txt", "/etc/passwd", "https://example.org/requirements.txt", "escape.txt"])
def test_include_outside_the_package_is_mc303(pkg_copy: Path, tmp_path: Path, target: str) -> None:
    (tmp_path / "outside.txt").write_text("numpy\n", encoding="utf-8")
    with_runtime(pkg_copy, {"requirements.txt": f"numpy==2.1.0\n-r {target}\n"})
    (pkg_copy / "escape.txt").symlink_to(tmp_path / "outside.txt")
    found = findings(runtime_report(pkg_copy), area=RUNTIME)
    assert [(f["rule"], f["line"]) for f in found] == [("MC303", 2)]
    assert "outside the package" in found[0]["message"]


def test_missing_include_is_mc303(pkg_copy: Path) -> None:
    with_runtime(pkg_copy, {"requirements.txt": "-r base.txt\n"})
    found = findings(runtime_report(pkg_copy), area=RUNTIME)
    assert [(f["rule"], f["line"]) for f in found] == [("MC303", 1)]
    assert "not in the package" in found[0]["message"]


def test_public_index_option_is_a_warning(pkg_copy: Path) -> None:
    with_runtime(pkg_copy, {"requirements.txt": "--extra-index-url https://download.pytorch.org/whl/cpu\ntorch==2.5.1\n"})
    found = findings(runtime_report(pkg_copy), area=RUNTIME)
    assert [(f["rule"], f["severity"], f["line"]) for f in found] == [("MC304", "warning", 1)]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in found[0]["message"]
    assert "private" not in found[0]["message"]


@pytest.mark.parametrize(("url", "shown"), [
    ("https://alice:s3cr3t-T0KEN@pypi.internal.example.corp/simple", "https://alice:[REDACTED]@pypi.internal.example.corp/simple"),
    ("https://ghp_S3CR3TT0KEN@pypi.internal.example.corp/simple", "https://***@pypi.internal.example.corp/simple"),
])
def test_private_index_is_named_with_credentials_redacted(pkg_copy: Path, url: str, shown: str) -> None:
    with_runtime(pkg_copy, {"requirements.txt": f"--index-url {url}\nnumpy==2.1.0\n"})
    report = runtime_report(pkg_copy)
    found = findings(report, rule="MC304")
    assert len(found) == 1
    message = found[0]["message"]
    assert shown in message and "private" in message and "credentials" in message
    assert "S3CR3T" not in json.dumps(report).upper()


def test_credentials_in_requirement_urls_are_redacted_everywhere(pkg_copy: Path) -> None:
    with_runtime(pkg_copy, {"requirements.txt": "foo @ git+https://bob:hunter2@git.example.org/foo@main\n"
                                                "-r https://bob:hunter2@example.org/extra.txt\n"})
    report = runtime_report(pkg_copy)
    assert {f["rule"] for f in findings(report, area=RUNTIME)} == {"MC301", "MC303"}
    assert "hunter2" not in json.dumps(report)


def test_other_global_options_are_not_index_options(pkg_copy: Path) -> None:
    with_runtime(pkg_copy, {"requirements.txt": f"--require-hashes\n--prefer-binary\nnumpy==2.1.0 --hash=sha256:{'a' * 64}\n"})
    assert runtime_findings(pkg_copy) == []


@pytest.mark.parametrize("line", ["-e .", f"-e git+https://github.com/x/foo@{COMMIT}#egg=foo"])
def test_editable_install_is_mc305(pkg_copy: Path, line: str) -> None:
    with_runtime(pkg_copy, {"requirements.txt": f"numpy==2.1.0\n{line}\n"})
    assert runtime_findings(pkg_copy) == [("MC305", "requirements.txt", 2)]


def test_invalid_requirement_line_is_mc302(pkg_copy: Path) -> None:
    with_runtime(pkg_copy, {"requirements.txt": "numpy==2.1.0\nthis is not ( a requirement\n"})
    found = findings(runtime_report(pkg_copy), area=RUNTIME)
    assert [(f["rule"], f["line"]) for f in found] == [("MC302", 2)]
    assert "this is not ( a requirement" in found[0]["message"]


def test_requirements_that_are_not_text_are_mc302(pkg_copy: Path) -> None:
    with_runtime(pkg_copy, {})
    (pkg_copy / "requirements.txt").write_bytes(b"numpy==2.1.0\n\xff\xfe\n")
    assert runtime_findings(pkg_copy) == [("MC302", "requirements.txt", None)]


# -- environment.yml --------------------------------------------------------------------------
def test_pinned_environment_is_clean(pkg_copy: Path) -> None:
    with_runtime(pkg_copy, {"environment.yml": (
        "name: demo\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11.9\n  - numpy=2.1.0\n"
        "  - conda-forge::scipy==1.14.1\n  - libgdal=3.9.2=h1234_0\n  - pip=24.2\n  - pip:\n    - timm==1.0.9\n")},
        keep_python_version=False)
    assert runtime_findings(pkg_copy) == []
    assert spec_of(pkg_copy).python == ("3.11.9", "environment.yml", 5)


def test_unpinned_conda_and_pip_dependencies_are_named(pkg_copy: Path) -> None:
    with_runtime(pkg_copy, {"environment.yml": (
        "channels: [conda-forge]\ndependencies:\n  - python=3.11\n  - numpy\n  - scipy=1.*\n  - gdal>=3.8,<4\n"
        "  - pip=24.2\n  - pip:\n    - timm>=1.0\n    - onnx==1.17.0\n")})
    found = findings(runtime_report(pkg_copy), area=RUNTIME)
    assert [(f["rule"], f["line"]) for f in found] == [("MC301", 4), ("MC301", 5), ("MC301", 6), ("MC301", 9)]
    assert [m for f in found for m in ("numpy", "scipy=1.*", "gdal>=3.8,<4", "timm>=1.0") if m in f["message"]] == [
        "numpy", "scipy=1.*", "gdal>=3.8,<4", "timm>=1.0"]


def test_environment_without_channels_is_mc306(pkg_copy: Path) -> None:
    with_runtime(pkg_copy, {"environment.yml": "dependencies:\n  - python=3.11.9\n"})
    found = findings(runtime_report(pkg_copy), area=RUNTIME)
    assert [(f["rule"], f["severity"], f["file"]) for f in found] == [("MC306", "warning", "environment.yml")]


@pytest.mark.parametrize(("content", "line"), [
    ("channels: [conda-forge]\ndependencies: [numpy=2.1.0\n  - a: b: c\n", 3),
    ("- just\n- a list\n", None),
])
def test_environment_that_cannot_be_used_is_mc302(pkg_copy: Path, content: str, line: int | None) -> None:
    with_runtime(pkg_copy, {"environment.yml": content})
    assert runtime_findings(pkg_copy) == [("MC302", "environment.yml", line)]


def test_environment_index_option_is_reported_redacted(pkg_copy: Path) -> None:
    with_runtime(pkg_copy, {"environment.yml": (
        "channels: [conda-forge]\ndependencies:\n  - pip=24.2\n  - pip:\n"
        "    - --index-url https://u:pw123@10.1.2.3/simple\n    - timm==1.0.9\n")})
    found = findings(runtime_report(pkg_copy), area=RUNTIME)
    assert [(f["rule"], f["line"]) for f in found] == [("MC304", 5)]
    assert "pw123" not in found[0]["message"] and "private" in found[0]["message"]


# -- Dockerfile -------------------------------------------------------------------------------
@pytest.mark.parametrize(("dockerfile", "expected"), [
    ("FROM python\n", [("MC307", 1, "no tag")]),
    ("FROM python:latest\n", [("MC307", 1, "moving tag")]),
    ("FROM registry.example.org:5000/team/python\n", [("MC307", 1, "no tag")]),
    ("FROM python:3.11.9-slim\n", [("MC308", 1, "digest")]),
    ("FROM registry.example.org:5000/team/python:3.11.9\n", [("MC308", 1, "digest")]),
    (f"FROM python:3.11.9-slim@{DIGEST}\n", []),
    ("ARG PY=3.11.9\nFROM python:${PY}-slim\n", [("MC308", 2, "python:3.11.9-slim")]),
    ("ARG PY=3.11.9\nARG BASE=python:${PY}-slim\nFROM ${BASE}\n", [("MC308", 3, "python:3.11.9-slim")]),
    ("ARG TAG=latest\nFROM python:$TAG\n", [("MC307", 2, "moving tag")]),
    ("ARG TAG\nFROM python:$TAG\n", [("MC307", 2, "no tag")]),
    ("FROM python:3.11.9-slim AS build\nRUN true\nFROM build AS test\nFROM scratch\nCOPY --from=build /a /a\n",
     [("MC308", 1, "python:3.11.9-slim")]),
])
def test_dockerfile_base_image(pkg_copy: Path, dockerfile: str, expected: list[tuple[str, int, str]]) -> None:
    with_runtime(pkg_copy, {"Dockerfile": dockerfile})
    found = findings(runtime_report(pkg_copy), area=RUNTIME)
    assert [(f["rule"], f["line"]) for f in found] == [(rule, line) for rule, line, _ in expected]
    for finding, (_, _, words) in zip(found, expected, strict=True):
        assert words in finding["message"] and finding["file"] == "Dockerfile"


def test_dockerfile_installs_are_checked(pkg_copy: Path) -> None:
    with_runtime(pkg_copy, {"Dockerfile": (
        f"FROM python:3.11.9-slim@{DIGEST}\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends libgdal-dev curl=7.88.1-10\n"
        "RUN pip install --no-cache-dir numpy torch==2.5.1 'scipy>=1' \\\n"
        "    && python -m pip install -r requirements-docker.txt\n")})
    found = findings(runtime_report(pkg_copy), area=RUNTIME)
    assert [(f["rule"], f["line"]) for f in found] == [("MC309", 2), ("MC301", 3), ("MC301", 3)]
    messages = " ".join(f["message"] for f in found)
    assert "libgdal-dev" in messages and "'numpy'" in messages and "scipy>=1" in messages
    assert "torch" not in messages and "curl" not in messages


def test_dockerfile_that_is_binary_is_mc302(pkg_copy: Path) -> None:
    with_runtime(pkg_copy, {})
    (pkg_copy / "Dockerfile").write_bytes(b"\x00\x01\x02FROM")
    assert runtime_findings(pkg_copy) == [("MC302", "Dockerfile", None)]


# -- the Python version (MC310) ---------------------------------------------------------------
@pytest.mark.parametrize(("files", "python"), [
    ({".python-version": "3.11.9\n"}, ("3.11.9", ".python-version", 1)),
    ({"runtime.txt": "python-3.10.14\n"}, ("3.10.14", "runtime.txt", 1)),
    ({"environment.yml": "channels: [conda-forge]\ndependencies:\n  - numpy=2.1.0\n  - python=3.12.4\n"},
     ("3.12.4", "environment.yml", 4)),
    ({"Dockerfile": f"FROM python:3.11.9-slim@{DIGEST}\n"}, ("3.11.9", "Dockerfile", 1)),
])
def test_python_version_is_recorded_from_where_the_package_says(pkg_copy: Path, files: dict[str, str],
                                                                python: tuple[str, str, int]) -> None:
    with_runtime(pkg_copy, {"requirements.txt": "numpy==2.1.0\n", **files}, keep_python_version=False)
    assert spec_of(pkg_copy).python == python
    assert "MC310" not in rules_fired(runtime_report(pkg_copy))


def test_unstated_python_version_is_mc310_info(pkg_copy: Path) -> None:
    (pkg_copy / ".python-version").unlink()
    report = runtime_report(pkg_copy)
    found = findings(report, area=RUNTIME)
    assert [(f["rule"], f["severity"]) for f in found] == [("MC310", "info")]
    assert report["status"] == "passed"


def test_no_runtime_definition_skips_the_check_with_a_reason(pkg_copy: Path) -> None:
    (pkg_copy / "requirements.txt").unlink()
    report = runtime_report(pkg_copy)
    record = next(c for c in report["checks"] if c["name"] == "runtime definition")
    assert record["status"] == "skipped" and "MC102" in record["reason"]
