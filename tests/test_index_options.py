"""Issue 9, class 9: package sources the package names are refused before any builder runs.

Index options (--index-url/-i, --extra-index-url, --find-links/-f, --trusted-host) in
requirements.txt, environment.yml pip sections and a Dockerfile's `pip install`, channel URLs, URL
requirements and outside includes: without --allow-package-indexes the environment is not built
(MC354); with it, a source on loopback, link-local, private-use or unspecified addresses, a local
path or a file:// index is still refused. Real CLI runs against a real loopback HTTP listener that
must never see a request; public sources are judged by the decision function only (no contact).
"""

from __future__ import annotations

import http.server
import importlib.util
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from helpers import REPO, RunCli, check_report, findings

from validator.readers.package import ModelPackage
from validator.readers.runtime_spec import RuntimeSpec, read_runtime
from validator.scanners.package_sources import Source, host_problem, package_sources, refused_sources, source_problem

PUBLIC = "151.101.0.223"  # a public address: the stub resolver's answer, never contacted


class Index:
    """A loopback HTTP server standing in for a package index; it records every request."""

    def __init__(self) -> None:
        requests: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                self.send_response(404)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.requests = requests
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)


@pytest.fixture()
def index() -> Iterator[Index]:
    served = Index()
    served.thread.start()
    try:
        yield served
    finally:
        served.server.shutdown()
        served.server.server_close()
        served.thread.join(5)


def _package(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "README.md").write_text("# A model\n", encoding="utf-8")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def _check(run_cli: RunCli, root: Path, tmp_path: Path, *flags: str) -> tuple[int, dict[str, Any]]:
    code, _, _ = run_cli(["check", root, "--env", "venv", "--cache-dir", tmp_path / "cache", "--json", tmp_path / "r.json",
                          *flags])
    return code, check_report(tmp_path / "r.json")


@pytest.mark.parametrize("line", [
    "--index-url http://127.0.0.1:{port}/simple",
    "-i http://127.0.0.1:{port}/simple",
    "--extra-index-url=http://127.0.0.1:{port}/simple",
    "--find-links http://127.0.0.1:{port}/wheels/",
    "-f http://localhost:{port}/wheels/",
    "--extra-index-url http://2130706433:{port}/simple",  # 127.0.0.1 written as a number
])
def test_index_options_to_loopback_are_never_followed(run_cli: RunCli, tmp_path: Path, index: Index, line: str) -> None:
    option = line.format(port=index.port)
    root = _package(tmp_path / "pkg", {"requirements.txt": f"# pinned\n{option}\niniconfig==2.0.0\n"})
    for flags in ((), ("--allow-package-indexes",)):
        code, report = _check(run_cli, root, tmp_path, *flags)
        [refused] = findings(report, rule="MC354")
        assert (refused["file"], refused["line"], refused["severity"]) == ("requirements.txt", 2, "error")
        assert option.split()[0].split("=")[0].lstrip("-") in refused["message"]
        assert "The environment was not built" in refused["message"]
        if flags:
            assert "never followed, even with --allow-package-indexes" in refused["message"]
        else:
            assert "--allow-package-indexes" in refused["message"]
        assert report["environment"]["error"].startswith("not built") and code == 1
        assert {c["name"]: c["status"] for c in report["checks"]}["environment rebuild"] == "failed"
    assert index.requests == []


@pytest.mark.parametrize("name, text", [
    ("uv.toml", '[[index]]\nurl = "http://127.0.0.1:{port}/simple"\ndefault = true\n'),
    ("uv.toml", '[pip]\nextra-index-url = ["http://127.0.0.1:{port}/simple"]\n'),
    ("pyproject.toml", '[project]\nname = "demo"\nversion = "1"\n\n[tool.uv]\nfind-links = ["http://127.0.0.1:{port}/w/"]\n'),
])
def test_uv_configuration_in_the_package_is_a_package_source(run_cli: RunCli, tmp_path: Path, index: Index, name: str,
                                                             text: str) -> None:
    """uv reads uv.toml and [tool.uv] of the folder it installs in: the package's copy."""
    root = _package(tmp_path / "pkg", {"requirements.txt": "iniconfig==2.0.0\n", name: text.format(port=index.port)})
    for flags in ((), ("--allow-package-indexes",)):
        code, report = _check(run_cli, root, tmp_path, *flags)
        [refused] = findings(report, rule="MC354")
        assert refused["file"] == name and refused["line"] == text.count("\n", 0, text.index("http")) + 1 and code == 1
    assert index.requests == []


def test_environment_yml_pip_section_and_channel_urls(run_cli: RunCli, tmp_path: Path, index: Index) -> None:
    environment = {"channels": [f"http://127.0.0.1:{index.port}/conda", "conda-forge"],
                   "dependencies": ["python=3.11", "pip", {"pip": [f"--extra-index-url http://127.0.0.1:{index.port}/simple",
                                                                    "iniconfig==2.0.0"]}]}
    root = _package(tmp_path / "pkg", {"environment.yml": yaml.safe_dump(environment, sort_keys=False)})
    code, _, _ = run_cli(["check", root, "--env", "auto", "--allow-package-indexes", "--json", tmp_path / "r.json"])
    refused = findings(check_report(tmp_path / "r.json"), rule="MC354")
    assert sorted((f["file"], f["line"]) for f in refused) == [("environment.yml", 2), ("environment.yml", 8)]
    assert code == 1 and index.requests == []


def test_dockerfile_pip_index_options_are_sources_too(tmp_path: Path) -> None:
    root = _package(tmp_path / "pkg", {"Dockerfile": "FROM python:3.11.9-slim\n"
                                                     "RUN pip install --index-url=http://10.0.0.5/simple numpy==2.4.6 "
                                                     "&& pip install -f http://169.254.169.254/x torch==2.5.1\n"})
    spec = _spec(root)
    assert [(s.kind, s.value, s.line) for s in package_sources(spec) if s.added] == [
        ("index-url", "http://10.0.0.5/simple", 2), ("find-links", "http://169.254.169.254/x", 2)]
    reasons = [r.reason for r in refused_sources(spec, allow_indexes=True, resolve=_resolver({}))]
    assert reasons == ["10.0.0.5 is a private-use address", "169.254.169.254 is a link-local address"]


@pytest.mark.slow
def test_url_requirement_on_loopback_is_refused_without_any_flag(run_cli: RunCli, tmp_path: Path, index: Index) -> None:
    url = f"http://127.0.0.1:{index.port}/demo-1.0.tar.gz#sha256={'0' * 64}"
    root = _package(tmp_path / "pkg", {"requirements.txt": f"demo @ {url}\n"})
    code, report = _check(run_cli, root, tmp_path, "--allow-package-indexes")
    [refused] = findings(report, rule="MC354")
    assert (refused["line"], code) == (1, 1) and "URL requirement" in refused["message"] and "loopback" in refused["message"]
    assert index.requests == []


def test_include_from_outside_the_package_is_not_built(run_cli: RunCli, tmp_path: Path, index: Index) -> None:
    (tmp_path / "outside.txt").write_text(f"--index-url http://127.0.0.1:{index.port}/simple\niniconfig==2.0.0\n", encoding="utf-8")
    root = _package(tmp_path / "pkg", {"requirements.txt": "-r ../outside.txt\n"})
    code, report = _check(run_cli, root, tmp_path, "--allow-package-indexes")
    [refused] = findings(report, rule="MC354")
    assert refused["line"] == 1 and "outside the package" in refused["message"] and code == 1
    assert index.requests == []


# -- the decision function ---------------------------------------------------------------------
def _resolver(names: dict[str, list[str]]) -> Callable[[str], list[str]]:
    def resolve(host: str) -> list[str]:
        if host not in names:
            raise OSError(f"{host} does not resolve")
        return names[host]
    return resolve


def _spec(root: Path) -> RuntimeSpec:
    pkg = ModelPackage(root)
    try:
        return read_runtime(pkg)
    finally:
        pkg.close()


@pytest.mark.parametrize("host, words", [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"), ("[::1]", "loopback"),
    ("localhost", "loopback"), ("pypi.localhost", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("169.254.169.254", "link-local"), ("fe80::1%eth0", "link-local"), ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("10.1.2.3", "private-use"), ("172.16.0.1", "private-use"), ("192.168.1.1", "private-use"), ("fd00::1", "private-use"),
    ("100.64.0.1", "private-use"), ("64:ff9b::a00:1", "private-use"),
])
def test_off_limits_hosts(host: str, words: str) -> None:
    problem = host_problem(host, resolve=_resolver({}))
    assert problem is not None and words in problem


def test_names_are_judged_by_what_they_resolve_to() -> None:
    resolve = _resolver({"index.example": [PUBLIC], "sneaky.example": [PUBLIC, "127.0.0.1"], "meta.example": ["169.254.169.254"]})
    assert host_problem("index.example", resolve) is None
    assert host_problem("sneaky.example", resolve) == "sneaky.example resolves to 127.0.0.1, a loopback address"
    assert "link-local" in (host_problem("meta.example", resolve) or "")
    assert host_problem("nowhere.example", resolve) is None  # does not resolve: the installer cannot reach it either

    def slow(host: str) -> list[str]:
        raise TimeoutError(host)
    assert "did not resolve within" in (host_problem("slow.example", slow) or "")
    assert host_problem(PUBLIC) is None  # a literal address needs no lookup


def test_public_index_is_allowed_only_with_the_callers_permission(tmp_path: Path) -> None:
    root = _package(tmp_path / "pkg", {"requirements.txt": "--extra-index-url https://index.example/simple\n"
                                                           "--trusted-host index.example\niniconfig==2.0.0\n"})
    spec = _spec(root)
    resolve = _resolver({"index.example": [PUBLIC]})
    assert [r.source.kind for r in refused_sources(spec, allow_indexes=False, resolve=resolve)] == [
        "extra-index-url", "trusted-host"]
    assert refused_sources(spec, allow_indexes=True, resolve=resolve) == []


@pytest.mark.parametrize("value, allowed", [
    ("https://index.example/simple", True), ("file:///opt/wheels", False), ("./wheels", False), ("/srv/wheels", False),
    ("ftp://index.example/simple", False), ("${INDEX_URL}", False), ("http://user:pw@10.0.0.1/simple", False),
])
def test_index_values(value: str, allowed: bool) -> None:
    source = Source("find-links", value, "requirements.txt", 1, True)
    assert (source_problem(source, _resolver({"index.example": [PUBLIC]})) is None) is allowed


def test_local_url_requirements_are_not_package_sources() -> None:
    """A local sdist or path is read inside the build's sandbox, not fetched from a host."""
    assert source_problem(Source("URL requirement", "file:///work/pkg/demo-1.0.tar.gz", "requirements.txt", 1, False)) is None


def test_without_index_options_nothing_is_refused(example_pkg: Path) -> None:
    assert refused_sources(_spec(example_pkg), allow_indexes=False) == []


# -- the action's inputs -----------------------------------------------------------------------
def _entrypoint() -> ModuleType:
    spec = importlib.util.spec_from_file_location("action_entrypoint_h5", REPO / "entrypoint.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_action_inputs_map_to_the_flags() -> None:
    entrypoint = _entrypoint()
    action = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
    assert action["inputs"]["allow-network"]["default"] == "false" == action["inputs"]["allow-package-indexes"]["default"]
    default = entrypoint.check_argv(".", entrypoint.read_inputs({}), "r.json")
    assert "--allow-network" not in default and "--allow-package-indexes" not in default
    given = entrypoint.read_inputs({"INPUT_ALLOW-NETWORK": "true", "INPUT_ALLOW-PACKAGE-INDEXES": "true"})
    assert entrypoint.check_argv(".", given, "r.json")[-2:] == ["--allow-network", "--allow-package-indexes"]
    with pytest.raises(entrypoint.InputError):
        entrypoint.read_inputs({"INPUT_ALLOW-PACKAGE-INDEXES": "sometimes"})
