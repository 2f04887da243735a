"""entrypoint.py: action inputs to `model-check check` / `model-check github post` argv, and a
whole action run in-process (children as real processes) against the local GitHub stand-in."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import pytest
from github_server import WRITE_TOKEN, FakeGitHub
from helpers import EXAMPLE, REPO
from test_github_outputs_summary import parse_outputs

from validator.github.comment import marker

_spec = importlib.util.spec_from_file_location("action_entrypoint", REPO / "entrypoint.py")
assert _spec and _spec.loader
entrypoint = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = entrypoint  # dataclasses look their module up
_spec.loader.exec_module(entrypoint)

BROKEN = REPO / "tests" / "fixtures" / "broken-package"


def test_defaults_and_env_mapping() -> None:
    inputs = entrypoint.read_inputs({})
    assert inputs.paths == (".",) and inputs.env == "docker" and inputs.fail_on == "error"
    assert inputs.comment and inputs.annotations and inputs.torch_backend == "cpu" and inputs.sarif == ""
    given = entrypoint.read_inputs({"INPUT_PATH": " models/a\n  models/b ", "INPUT_ENV": "none", "INPUT_COMMENT": "False",
                                    "INPUT_FAIL-ON": "warning", "INPUT_GITHUB-TOKEN": "t", "INPUT_TORCH-BACKEND": ""})
    assert given.paths == ("models/a", "models/b") and given.env == "none" and not given.comment
    assert given.fail_on == "warning" and given.token == "t" and given.torch_backend == ""


@pytest.mark.parametrize("env", [{"INPUT_ENV": "venv"}, {"INPUT_ENV": "conda"}, {"INPUT_FAIL-ON": "info"},
                                 {"INPUT_COMMENT": "maybe"}])
def test_bad_inputs(env: dict[str, str]) -> None:
    with pytest.raises(entrypoint.InputError):
        entrypoint.read_inputs(env)


def test_paths_and_globs(tmp_path: Path) -> None:
    for name in ("models/b", "models/a", "other/c"):
        (tmp_path / name).mkdir(parents=True)
    (tmp_path / "models" / "file.txt").write_text("x", encoding="utf-8")
    assert entrypoint.expand_paths(("models/*", "models/a", "./other/c"), tmp_path) == ["models/a", "models/b", "other/c"]
    assert entrypoint.expand_paths((".",), tmp_path) == ["."]
    for bad in (("../elsewhere",), ("nothing/*",), ("/etc",)):
        with pytest.raises(entrypoint.InputError):
            entrypoint.expand_paths(bad, tmp_path)


def test_argv_lists() -> None:
    inputs = entrypoint.read_inputs({"INPUT_ENV": "auto", "INPUT_RTOL": "1e-3", "INPUT_CONFIG": "ci.toml",
                                     "INPUT_SARIF": "out.sarif", "INPUT_ANNOTATIONS": "false"})
    assert entrypoint.check_argv("m; rm -rf /", inputs, "r.json") == [
        sys.executable, "-m", "validator.cli", "check", "m; rm -rf /", "--json", "r.json", "--env", "docker",
        "--fail-on", "error", "--rtol", "1e-3", "--config", "ci.toml", "--torch-backend", "cpu"]
    assert entrypoint.post_argv(["a.json"], inputs) == [
        sys.executable, "-m", "validator.cli", "github", "post", "a.json", "--release-gate", "--comment",
        "--no-annotations", "--sarif", "out.sarif", "--config", "ci.toml"]


def test_ca_bundle_and_wheelhouse_must_lie_in_the_workspace(tmp_path: Path) -> None:
    workspace, outside = tmp_path / "workspace", tmp_path / "outside"
    (workspace / "certs").mkdir(parents=True)
    (workspace / "wheels").mkdir()
    outside.mkdir()
    (workspace / "certs" / "proxy.pem").write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    (outside / "ca.pem").write_text("x", encoding="utf-8")
    (workspace / "link.pem").symlink_to(outside / "ca.pem")
    given = {"INPUT_CA-BUNDLE": " ./certs/proxy.pem ", "INPUT_WHEELHOUSE": "wheels/"}
    inputs = entrypoint.workspace_files(entrypoint.read_inputs(given), workspace)
    assert (inputs.ca_bundle, inputs.wheelhouse) == ("certs/proxy.pem", "wheels")
    assert entrypoint.check_argv("m", inputs, "r.json")[-4:] == ["--ca-bundle", "certs/proxy.pem", "--wheelhouse", "wheels"]
    assert "--ca-bundle" not in entrypoint.check_argv("m", entrypoint.read_inputs({}), "r.json")
    for bad, why in ((("ca-bundle", "../outside/ca.pem"), "outside the workspace"), (("ca-bundle", "link.pem"), "outside"),
                     (("ca-bundle", "/etc/ssl/certs/ca-certificates.crt"), "outside"), (("ca-bundle", "wheels"), "not a file"),
                     (("wheelhouse", "certs/proxy.pem"), "not a folder"), (("wheelhouse", "absent"), "not a folder")):
        with pytest.raises(entrypoint.InputError, match=f"input {bad[0]}: .*{why}"):
            entrypoint.workspace_files(entrypoint.read_inputs({f"INPUT_{bad[0].upper()}": bad[1]}), workspace)


def test_the_ca_bundle_is_trusted_by_the_childrens_own_https_beside_the_images_bundle(tmp_path: Path) -> None:
    (tmp_path / "system.pem").write_text("SYSTEM CERTS\n", encoding="utf-8")
    (tmp_path / "proxy.pem").write_text("PROXY CERT\n", encoding="utf-8")
    assert entrypoint.ca_environment("", tmp_path, {}) == {}
    env = entrypoint.ca_environment("proxy.pem", tmp_path, {"SSL_CERT_FILE": str(tmp_path / "system.pem")})
    assert set(env) == {"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"} and len(set(env.values())) == 1
    assert Path(env["SSL_CERT_FILE"]).read_text(encoding="utf-8") == "SYSTEM CERTS\nPROXY CERT\n"


def test_children_get_no_tokens() -> None:
    environ = {"INPUT_GITHUB-TOKEN": "t", "GITHUB_TOKEN": "t", "ACTIONS_RUNTIME_TOKEN": "r", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "o",
               "GITHUB_REPOSITORY": "a/b", "PATH": "/bin"}
    assert entrypoint.child_env(environ) == {"GITHUB_REPOSITORY": "a/b", "PATH": "/bin"}
    assert entrypoint.child_env(environ, "t")["GITHUB_TOKEN"] == "t"


def test_report_names_are_unique() -> None:
    taken: set[str] = set()
    assert [entrypoint.report_name(p, taken) for p in (".", "a/b", "a-b", "../x y")] == [
        "package.json", "a-b.json", "a-b-2.json", "x-y.json"]


def test_a_whole_action_run(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    workspace = tmp_path / "workspace"
    shutil.copytree(EXAMPLE, workspace / "models" / "example")
    shutil.copytree(BROKEN, workspace / "models" / "broken")
    summary, output, event = tmp_path / "summary.md", tmp_path / "output", tmp_path / "event.json"
    summary.touch()
    output.touch()
    head = "f" * 40
    pull_request = {"number": 3, "head": {"sha": head, "repo": {"full_name": "earthcode/models"}},
                    "base": {"repo": {"full_name": "earthcode/models"}}}
    event.write_text(json.dumps({"number": 3, "pull_request": pull_request}), encoding="utf-8")
    with FakeGitHub() as github:
        github.add_pull(3, head)
        environ = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "GITHUB_ACTIONS": "true", "HOME": str(tmp_path),
                   "GITHUB_WORKSPACE": str(workspace),
                   "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": "earthcode/models",
                   "GITHUB_API_URL": github.url, "GITHUB_SHA": "m" * 40, "GITHUB_RUN_ID": "8", "GITHUB_STEP_SUMMARY": str(summary),
                   "GITHUB_OUTPUT": str(output), "INPUT_PATH": "models/*", "INPUT_ENV": "none", "INPUT_SARIF": "out/model-check.sarif",
                   "INPUT_GITHUB-TOKEN": WRITE_TOKEN, "INPUT_COMMENT": "true", "INPUT_ANNOTATIONS": "true"}
        code = entrypoint.main(environ)
        bodies = [c["body"] for c in github.comments[3]]
        check_runs = list(github.check_runs.values())
    out, err = capfd.readouterr()
    assert code == 1  # the broken package fails
    assert sorted(b.split("\n", 1)[0] for b in bodies) == [marker("models/broken"), marker("models/example")]
    assert {r["conclusion"] for r in check_runs} == {"success", "failure"} and all(r["head_sha"] == head for r in check_runs)
    values = parse_outputs(output.read_text(encoding="utf-8"))
    assert values["status"] == "failed" and int(values["errors"]) > 0
    assert values["report"].split("\n") == ["model-check-reports/models-broken.json", "model-check-reports/models-example.json"]
    for rel in values["report"].split("\n"):
        assert json.loads((workspace / rel).read_text(encoding="utf-8"))["schema_version"] == 1
    assert json.loads((workspace / "out" / "model-check.sarif").read_text(encoding="utf-8"))["runs"][1]["automationDetails"]["id"] \
        == "model-check/models/example/"
    assert "## model-check: `models/broken`" in summary.read_text(encoding="utf-8")
    # the package's text only reaches the log between stop-commands and its resume token
    tokens = re.findall(r"^::stop-commands::([0-9a-f]+)$", out, flags=re.M)
    assert len(tokens) == 2
    for token in tokens:
        assert f"\n::{token}::\n" in out
    outside = re.sub(r"^::stop-commands::([0-9a-f]+)$.*?^::\1::$", "", out, flags=re.M | re.S)
    commands = [line for line in outside.splitlines() if line.lstrip().startswith("::")]
    assert commands and all(re.match(r"::(group|endgroup)\b", line) for line in commands), commands
    # each check groups its steps (stderr): it resumes with the entrypoint's token only to switch groups, and
    # stops commands again with it (tests/test_cli_progress.py checks the log of one check in full)
    used = set(re.findall(r"^::stop-commands::([0-9a-f]+)$", err, flags=re.M))
    assert used == set(tokens)
    assert "models/example: layout: package layout" in err and "models/broken: checks done" in err
    inert = re.sub(r"^::([0-9a-f]+)::\n(?:::(?:end)?group::.*\n)+::stop-commands::\1$", "", err, flags=re.M)
    assert not [line for line in inert.splitlines() if line.lstrip().startswith("::")]


def test_stopping_the_action_container_reaches_the_check(tmp_path: Path) -> None:
    """The runner stops a Docker action with SIGTERM to the entrypoint: it must reach `model-check check`,
    whose handler removes the package's containers (tests/test_docker_escape.py), instead of dying with it."""
    import os
    import signal
    import subprocess
    import time

    marker_file = tmp_path / "child-got-sigterm"
    ready = tmp_path / "child-ready"
    child = (f"import signal, sys, time, pathlib\n"
             f"signal.signal(signal.SIGTERM, lambda *_: (pathlib.Path({str(marker_file)!r}).write_text('x'), sys.exit(0)))\n"
             f"pathlib.Path({str(ready)!r}).write_text('x')\n"
             f"time.sleep(60)\n")
    parent = (f"import importlib.util, sys, pathlib\n"
              f"spec = importlib.util.spec_from_file_location('ep', {str(REPO / 'entrypoint.py')!r})\n"
              f"ep = importlib.util.module_from_spec(spec); sys.modules['ep'] = ep; spec.loader.exec_module(ep)\n"
              f"sys.exit(ep.run_child([sys.executable, '-c', {child!r}], pathlib.Path('.'), {{'PATH': '/usr/bin:/bin'}}))\n")
    process = subprocess.Popen([sys.executable, "-c", parent], cwd=tmp_path,
                               env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)})
    try:
        for _ in range(600):
            if ready.exists():
                break
            time.sleep(0.05)
        assert ready.exists(), "the child never started"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
    assert marker_file.exists(), "SIGTERM to the entrypoint did not reach the check it runs"


def test_env_cache_lies_in_the_workspace_and_a_tag_push_trusts_no_cache(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    inputs = entrypoint.env_cache_folder(entrypoint.read_inputs({"INPUT_ENV-CACHE": "./.model-check-env/"}), tmp_path)
    assert inputs.env_cache == ".model-check-env" and not inputs.fresh_env  # absent yet: the first run creates it
    argv = entrypoint.check_argv("m", inputs, "r.json")
    assert argv[argv.index("--env-cache") + 1] == ".model-check-env" and "--fresh-env" not in argv
    assert "--env-cache" not in entrypoint.check_argv("m", entrypoint.read_inputs({}), "r.json")
    for bad, why in (("../elsewhere", "outside the workspace"), ("/tmp", "outside"), ("file.txt", "not a folder")):
        with pytest.raises(entrypoint.InputError, match=f"input env-cache: .*{why}"):
            entrypoint.env_cache_folder(entrypoint.read_inputs({"INPUT_ENV-CACHE": bad}), tmp_path)
    for ref, fresh in (("refs/tags/v1.2.0", True), ("refs/tags/models/a/v0.1.0", True), ("refs/heads/main", False),
                       ("refs/pull/7/merge", False)):
        tagged = entrypoint.read_inputs({"INPUT_ENV-CACHE": "c", "GITHUB_REF": ref})
        assert tagged.fresh_env is fresh and ("--fresh-env" in entrypoint.check_argv("m", tagged, "r.json")) is fresh


def test_the_action_attests_each_package_for_actions_attest(tmp_path: Path) -> None:
    """With `attest` (auto: on tag pushes), each checked package gets its attestation, and the outputs name the
    predicate and subjects files actions/attest takes; `model-check verify` accepts the attested package."""
    from validator.cli.main import main as cli
    from validator.publish.attestation import PREDICATE_TYPE, validate_predicate

    workspace = tmp_path / "workspace"
    shutil.copytree(REPO / "tests" / "rules" / "base", workspace / "models" / "tiny")
    output, summary = tmp_path / "output", tmp_path / "summary.md"
    output.touch()
    summary.touch()
    environ = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(tmp_path), "GITHUB_WORKSPACE": str(workspace),
               "GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main", "GITHUB_REPOSITORY": "earthcode/models",
               "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output), "INPUT_PATH": "models/tiny",
               "INPUT_ENV": "none", "INPUT_COMMENT": "false", "INPUT_ANNOTATIONS": "false", "INPUT_ATTEST": "true"}
    assert entrypoint.main(environ) == 0
    values = parse_outputs(output.read_text(encoding="utf-8"))
    assert values["attestation"] == "models/tiny/validation.intoto.json"
    assert values["predicate"] == "model-check-reports/models-tiny.predicate.json"
    validate_predicate(json.loads((workspace / values["predicate"]).read_text(encoding="utf-8")))
    statement = json.loads((workspace / values["attestation"]).read_text(encoding="utf-8"))
    assert statement["predicateType"] == PREDICATE_TYPE
    sums = (workspace / values["subjects"]).read_text(encoding="utf-8").splitlines()
    assert sums == [f"{s['digest']['sha256']}  {s['name']}" for s in statement["subject"]]
    assert cli(["verify", str(workspace / "models" / "tiny"), "--quiet"]) == 0
    assert not entrypoint.read_inputs({}).attest and entrypoint.read_inputs({"GITHUB_REF": "refs/tags/v1.0.0"}).attest
    assert not entrypoint.read_inputs({"GITHUB_REF": "refs/tags/v1.0.0", "INPUT_ATTEST": "false"}).attest
