"""The venv builder and the environment check: real uv builds of tiny requirements, offline from the
machine's configured indexes, each test with its own cache folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from validator.core.findings import CheckStatus, Finding
from validator.core.options import Options
from validator.core.report import Report
from validator.pipeline.runner import run
from validator.readers.package import ModelPackage
from validator.readers.runtime_spec import read_runtime
from validator.runtime.environments.builder import BuildFailure
from validator.runtime.environments.conda import find_conda
from validator.runtime.environments.pipconfig import (
    PipSettings,
    installer_settings,
    read_pip_settings,
)
from validator.runtime.environments.torch_backend import forget_unreachable
from validator.runtime.environments.venv import (
    MARKER,
    VenvBuilder,
    VenvEnv,
    install_argv,
    uv_binary,
)
from validator.sandbox.base import Limits
from validator.sandbox.bubblewrap import sandbox_support


def make_package(root: Path, requirements: str, **files: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "requirements.txt").write_text(requirements)
    for name, text in files.items():
        (root / name.replace("__", "/")).parent.mkdir(parents=True, exist_ok=True)
        (root / name.replace("__", "/")).write_text(text)
    return root


def build(root: Path, cache: Path, **options: Any) -> VenvEnv | BuildFailure:
    pkg = ModelPackage(root)
    try:
        return VenvBuilder().build(pkg, read_runtime(pkg), Options(env="venv", cache_dir=str(cache), **options))
    finally:
        pkg.close()


def check(root: Path, cache: Path, **options: Any) -> Report:
    return run(root, Options(env="venv", cache_dir=str(cache), **options))


def runtime_findings(report: Report, rule: str) -> list[Finding]:
    return [f for f in report.findings if f.rule == rule]


def cache_entries(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding one wheel that exists nowhere else: mc-wheelhouse-probe 1.0."""
    project = tmp_path_factory.mktemp("probe-project")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        '[project]\nname = "mc-wheelhouse-probe"\nversion = "1.0"\n')
    (project / "src" / "mc_wheelhouse_probe").mkdir(parents=True)
    (project / "src" / "mc_wheelhouse_probe" / "__init__.py").write_text("VALUE = 42\n")
    out = tmp_path_factory.mktemp("wheelhouse")
    subprocess.run([uv_binary(), "build", "--wheel", "--out-dir", str(out), str(project)], check=True, capture_output=True)
    return out


# -- the uv command line -----------------------------------------------------------------------

def test_torch_backend_reaches_the_uv_command_line() -> None:
    settings = installer_settings(PipSettings(), {})
    with_cpu = install_argv("uv", "/env/bin/python", "requirements.txt", settings.args, "cpu")
    assert with_cpu[with_cpu.index("--torch-backend") + 1] == "cpu"
    assert "--torch-backend" not in install_argv("uv", "/env/bin/python", "requirements.txt", settings.args, None)
    help_text = subprocess.run([uv_binary(), "pip", "install", "--help"], check=True, capture_output=True, text=True).stdout
    assert "--torch-backend" in help_text and "cpu" in help_text  # this uv understands the flag


def test_pip_settings_become_uv_flags() -> None:
    pip = PipSettings(index_url="https://mirror.example/simple", extra_index_urls=("file:///opt/a", "file:///opt/b"),
                      find_links=("/wheels",), constraints=("/etc/c.txt",), cert="/ca.pem", source="test")
    settings = installer_settings(pip, {})
    args = list(settings.args)
    assert args[args.index("--index-url") + 1] == "https://mirror.example/simple"
    assert [args[i + 1] for i, a in enumerate(args) if a == "--extra-index-url"] == ["file:///opt/a", "file:///opt/b"]
    assert args[args.index("--index-strategy") + 1] == "unsafe-best-match"
    assert args[args.index("--find-links") + 1] == "/wheels"
    assert args[args.index("--constraint") + 1] == "/etc/c.txt"
    assert settings.env == {"SSL_CERT_FILE": "/ca.pem"}
    assert any("unsafe-best-match" in note for note in settings.notes)


def test_uv_own_settings_win_over_pip() -> None:
    pip = PipSettings(index_url="https://pip.example/simple", extra_index_urls=("file:///opt/a",), cert="/pip-ca.pem")
    settings = installer_settings(pip, {"UV_DEFAULT_INDEX": "https://uv.example/simple", "UV_INDEX_STRATEGY": "first-index",
                                        "SSL_CERT_FILE": "/system-ca.pem"})
    assert "--index-url" not in settings.args and "--index-strategy" not in settings.args
    assert "--extra-index-url" in settings.args  # uv names no extra index: pip's is kept
    assert "SSL_CERT_FILE" not in settings.env


def test_ca_bundle_and_wheelhouse_options_reach_the_installer() -> None:
    settings = installer_settings(PipSettings(), {}, ca_bundle="/corp-ca.pem", wheelhouse="/air-gapped/wheels")
    assert settings.env["SSL_CERT_FILE"] == "/corp-ca.pem"
    assert list(settings.args) == ["--find-links", "/air-gapped/wheels"]


def test_relative_ca_bundle_and_wheelhouse_are_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The installer runs in a scratch folder: `--wheelhouse wheels` (the action passes paths relative to the
    workspace) must still name the caller's folder."""
    monkeypatch.chdir(tmp_path)
    settings = installer_settings(PipSettings(), {}, ca_bundle="certs/ca.pem", wheelhouse="wheels")
    assert settings.env["SSL_CERT_FILE"] == str(tmp_path / "certs" / "ca.pem")
    assert list(settings.args) == ["--find-links", str(tmp_path / "wheels")]


def test_pip_configuration_is_read_with_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "pip.conf"
    config.write_text("[global]\nindex-url = https://mirror.example/simple\n"
                      "extra-index-url =\n    https://one.example/simple\n    https://two.example/simple\n"
                      "[install]\nfind-links = /from-install-section\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    monkeypatch.setenv("PIP_CERT", "/env-ca.pem")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    read_pip_settings.cache_clear()
    try:
        settings = read_pip_settings()
    finally:
        read_pip_settings.cache_clear()
    assert settings.index_url == "https://mirror.example/simple"
    assert settings.extra_index_urls == ("https://one.example/simple", "https://two.example/simple")
    assert settings.find_links == ("/from-install-section",)
    assert settings.cert == "/env-ca.pem"


# -- real builds -------------------------------------------------------------------------------

def test_cold_build_then_cache_hit(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "pkg", "six==1.16.0\n")
    cache = tmp_path / "cache"
    cold = build(pkg, cache)
    assert isinstance(cold, VenvEnv), cold
    assert not cold.info.cached and cold.info.python
    assert cold.installed() == {"six": "1.16.0"}
    key = cold.info.cache_key
    assert key is not None
    assert cache_entries(cache) == [key]
    assert (cache / key / MARKER).is_file()
    warm = build(pkg, cache)
    assert isinstance(warm, VenvEnv) and warm.info.cached
    assert warm.info.cache_key == cold.info.cache_key and warm.prefix == cold.prefix
    (pkg / "requirements.txt").write_text("six==1.15.0\n")  # another runtime, another environment
    changed = build(pkg, cache)
    assert isinstance(changed, VenvEnv) and not changed.info.cached
    assert changed.info.cache_key != cold.info.cache_key and changed.installed() == {"six": "1.15.0"}


def test_environment_runs_package_code_in_a_scratch_copy(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "pkg", "six==1.16.0\n", **{"data.txt": "original"})
    env = build(pkg, tmp_path / "cache")
    assert isinstance(env, VenvEnv), env
    code = ("import json, os, six, sys\nopen('data.txt', 'w').write('overwritten')\n"
            "try:\n    open(sys.argv[1], 'w').write('overwritten')  # the original, by its absolute path\n"
            "except OSError:\n    pass\n"
            "os.makedirs('out', exist_ok=True)\n"
            "json.dump({'prefix': sys.prefix, 'six': six.__version__}, open('out/result.json', 'w'))")
    target = pkg / "data.txt" if sandbox_support().read_only_root else pkg / "not-locked-here.txt"
    done = env.run(["python", "-c", code, str(target)], pkg, Limits(wall_s=60),
                   fetch=["out/result.json", "missing.json", "../x"])
    assert done.returncode == 0, done.stderr
    assert done.argv[0] == "python"
    result = json.loads(done.files["out/result.json"])
    assert Path(result["prefix"]) == env.prefix and result["six"] == "1.16.0"
    assert set(done.files) == {"out/result.json"}
    assert (pkg / "data.txt").read_text() == "original" and not (pkg / "out").exists()


@pytest.mark.skipif(not sandbox_support().read_only_root, reason="this machine cannot mount the file system read-only in the sandbox")
def test_package_code_cannot_tamper_with_the_cached_environment(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "pkg", "six==1.16.0\n")
    env = build(pkg, tmp_path / "cache")
    assert isinstance(env, VenvEnv), env
    assert list(env.prefix.rglob("six*.pyc")), "bytecode is compiled at build time, for the read-only runs"
    code = ("import pathlib, six, sys\n"
            "target = pathlib.Path(six.__file__)\n"
            "try:\n    target.write_text('raise SystemExit(\"poisoned\")')\n    print('WROTE')\n"
            "except OSError as exc:\n    print('DENIED', exc.errno)\n")
    done = env.run(["python", "-c", code], pkg, Limits(wall_s=60))
    assert done.returncode == 0, done.stderr
    assert "DENIED" in done.stdout and "WROTE" not in done.stdout
    assert "poisoned" not in (env.prefix / "lib").joinpath(*_six_path(env)).read_text()


def _six_path(env: VenvEnv) -> tuple[str, ...]:
    found = next(env.prefix.glob("lib/python*/site-packages/six.py"))
    return found.relative_to(env.prefix / "lib").parts


def test_failed_install_leaves_no_cache_entry(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "pkg", "six==1.16.0\nmc-no-such-distribution-anywhere==1.0\n")
    cache = tmp_path / "cache"
    failed = build(pkg, cache)
    assert isinstance(failed, BuildFailure)
    assert "mc-no-such-distribution-anywhere" in failed.output_tail
    assert failed.file == "requirements.txt"
    assert cache_entries(cache) == []  # the half-built venv (created, install failed) is gone


def test_half_built_leftovers_are_never_reused(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "pkg", "six==1.16.0\n")
    cache = tmp_path / "cache"
    first = build(pkg, cache)
    assert isinstance(first, VenvEnv)
    key = first.info.cache_key
    assert key is not None
    (cache / key / MARKER).unlink()  # as if the machine died between install and completion
    (cache / f"{key}.tmp-crashed").mkdir()  # and an interrupted build from a killed run
    again = build(pkg, cache)
    assert isinstance(again, VenvEnv) and not again.info.cached
    assert (cache / key / MARKER).is_file() and again.installed() == {"six": "1.16.0"}


def test_installing_package_code_sees_no_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_should_not_leak")
    setup = ("import os\nraise SystemExit('TOKEN-VISIBLE' if any('ghs_should_not_leak' in v for v in os.environ.values())"
             " else 'TOKEN-HIDDEN')\n")
    pkg = make_package(tmp_path / "pkg", "./evil\n", **{"evil__setup.py": setup})
    failed = build(pkg, tmp_path / "cache")
    assert isinstance(failed, BuildFailure)
    assert "TOKEN-HIDDEN" in failed.output_tail and "TOKEN-VISIBLE" not in failed.output_tail
    assert "ghs_should_not_leak" not in failed.output_tail


def test_pip_find_links_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wheelhouse: Path) -> None:
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheelhouse))
    read_pip_settings.cache_clear()
    try:
        env = build(make_package(tmp_path / "pkg", "mc-wheelhouse-probe==1.0\n"), tmp_path / "cache")
    finally:
        read_pip_settings.cache_clear()
    assert isinstance(env, VenvEnv), env
    assert env.installed() == {"mc-wheelhouse-probe": "1.0"}
    assert any(str(wheelhouse) in note for note in env.info.notes)


def test_wheelhouse_option_is_honoured(tmp_path: Path, wheelhouse: Path) -> None:
    env = build(make_package(tmp_path / "pkg", "mc-wheelhouse-probe==1.0\n"), tmp_path / "cache", wheelhouse=str(wheelhouse))
    assert isinstance(env, VenvEnv), env
    assert env.installed() == {"mc-wheelhouse-probe": "1.0"}


# -- the environment check, through the runner -------------------------------------------------

def test_unresolvable_runtime_is_an_error_with_the_installer_tail(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "pkg", "mc-wheelhouse-probe==9.9\n")
    report = check(pkg, tmp_path / "cache")
    [finding] = runtime_findings(report, "MC350")
    assert finding.severity.value == "error" and finding.area.value == "runtime"
    assert finding.file == "requirements.txt"
    assert "Installer output" in finding.message and "mc-wheelhouse-probe" in finding.message
    assert report.environment is not None and report.environment["error"]
    assert report.status == "failed"


def test_report_records_the_environment_and_warns_about_floating_packages(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "pkg", "python-dateutil==2.9.0.post0\n")  # pulls six, unpinned
    forget_unreachable()  # an unreachable PyTorch index met by an earlier test would skip --torch-backend here
    report = check(pkg, tmp_path / "cache", torch_backend="cpu")
    environment = report.environment
    assert environment is not None
    assert environment["kind"] == "venv" and environment["cached"] is False
    assert environment["python"] == ".".join(map(str, sys.version_info[:3]))
    assert set(environment["installed"]) == {"python-dateutil", "six"}
    assert environment["torch_backend"] == "cpu"  # applied: uv had no torch to fetch, so no fallback
    assert not [note for note in environment["notes"] if "torch" in note]  # no torch installed: nothing to say about it
    assert environment["cache_key"] and environment["build_s"] >= 0
    [floating] = runtime_findings(report, "MC352")
    assert floating.severity.value == "warning" and floating.file == "requirements.txt"
    assert "six==" in floating.message and "python-dateutil" not in floating.message
    record = next(c for c in report.checks if c.name == "environment rebuild")
    assert record.status == CheckStatus.FAILED  # a warning fails the check record, not the run
    again = check(pkg, tmp_path / "cache", torch_backend="cpu")
    assert again.environment is not None and again.environment["cached"] is True


def test_missing_python_version_is_reported_and_the_machine_python_used(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "pkg", "six==1.16.0\n", **{".python-version": "3.99\n"})
    report = check(pkg, tmp_path / "cache")
    [finding] = runtime_findings(report, "MC351")
    assert finding.file == ".python-version" and "3.99" in finding.message
    assert report.environment is not None
    assert report.environment["python_requested"] == "3.99"
    assert report.environment["python"] == ".".join(map(str, sys.version_info[:3]))


def test_conda_runtime_without_a_conda_installer_is_skipped_with_the_reason(tmp_path: Path) -> None:
    if find_conda() is not None:
        pytest.skip(f"a conda installer is on PATH ({find_conda()}): the skip cannot be shown here")
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "environment.yml").write_text("channels: [conda-forge]\ndependencies:\n  - python=3.11\n  - numpy=2.4.6\n")
    for mode in ("auto", "conda"):
        report = run(pkg, Options(env=mode, cache_dir=str(tmp_path / "cache")))
        record = next(c for c in report.checks if c.name == "environment rebuild")
        assert record.status == CheckStatus.SKIPPED
        assert "micromamba" in record.reason
        assert report.environment is None


def test_a_weakened_sandbox_is_a_warning_never_silent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from validator.pipeline import environment as environment_check
    from validator.sandbox import bubblewrap as sandbox
    weak = sandbox.SandboxSupport(False, False, False, "unshare: operation not permitted")
    monkeypatch.setattr(sandbox, "sandbox_support", lambda: weak)
    monkeypatch.setattr(environment_check, "sandbox_support", lambda: weak)
    report = check(make_package(tmp_path / "pkg", "six==1.16.0\n"), tmp_path / "cache")
    [finding] = runtime_findings(report, "MC353")
    assert "not cut off from the network" in finding.message and "operation not permitted" in finding.message
    assert report.environment is not None and report.environment["sandbox"]["network_isolated"] is False
