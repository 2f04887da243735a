"""The release (docs/release.md): .github/release/pin_action.py pins action.yml's image by digest and
moves the tags, run for real in temporary git repositories with a bare "origin"; the release
workflow's trigger, jobs and permissions; the pre-commit hook; the sdist and wheel PyPI gets."""

from __future__ import annotations

import email.parser
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import REPO, RunCli

sys.path.insert(0, str(REPO / ".github" / "release"))
import pin_action  # a script of the release workflow (not part of the package), found through sys.path

TOOL = REPO / ".github" / "release" / "pin_action.py"
WORKFLOW = REPO / ".github" / "workflows" / "release.yml"
ACTION_TEXT = (REPO / "action.yml").read_text(encoding="utf-8")
IMAGE = "ghcr.io/EarthCODE/model-check"  # owners may have capitals; the reference is lower case
DIGEST = "sha256:" + hashlib.sha256(b"model-check image").hexdigest()
PINNED_IMAGE = re.compile(r"docker://ghcr\.io/earthcode/model-check@sha256:[0-9a-f]{64}")


def _load(path: Path) -> dict[str, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:  # YAML 1.1 reads the key `on` as true
        data["on"] = data.pop(True)
    return data


# --- rewriting action.yml ------------------------------------------------------------------------


def test_the_pinned_action_is_valid_and_only_its_image_changed() -> None:
    pinned = pin_action.pin_text(ACTION_TEXT, IMAGE, DIGEST, comment="ghcr.io/earthcode/model-check:1.2.3")
    pin_action.validate_pinned(ACTION_TEXT, pinned)  # includes the action metadata schema
    before, after = yaml.safe_load(ACTION_TEXT), yaml.safe_load(pinned)
    assert PINNED_IMAGE.fullmatch(after["runs"]["image"])
    assert after["runs"]["image"] == f"docker://ghcr.io/earthcode/model-check@{DIGEST}"
    before["runs"]["image"] = after["runs"]["image"]
    assert before == after
    old_lines, new_lines = ACTION_TEXT.splitlines(keepends=True), pinned.splitlines(keepends=True)
    changed = [(a, b) for a, b in zip(old_lines, new_lines, strict=True) if a != b]
    assert changed == [('  image: "Dockerfile"\n',
                        f'  image: "docker://ghcr.io/earthcode/model-check@{DIGEST}"  # ghcr.io/earthcode/model-check:1.2.3\n')]
    assert pin_action.is_released(pinned) and not pin_action.is_released(ACTION_TEXT)


def test_main_keeps_building_from_the_dockerfile() -> None:
    """main's action.yml builds the image from source, so `uses: ./` tests the code as it is; only
    release commits (made by the workflow, never merged) run a published image."""
    assert pin_action.find_image(ACTION_TEXT).value == "Dockerfile"
    assert not pin_action.is_released(ACTION_TEXT)
    self_test = (REPO / ".github" / "workflows" / "self-test.yml").read_text(encoding="utf-8")
    assert "uses: ./\n" in self_test


def test_rewrite_keeps_every_other_byte() -> None:
    text = ("name: x\r\ndescription: an action with an input named image\r\ninputs:\r\n  image:\r\n"
            "    description: not the one\r\nruns:  # the container\r\n  using: docker\r\n\r\n  # built from source\r\n"
            "  image: Dockerfile   # on main\r\n  args: [\"--image\", \"x\"]\r\nbranding:\r\n  color: blue\r\n")
    pinned = pin_action.pin_text(text, IMAGE, DIGEST)
    assert pinned == text.replace("  image: Dockerfile   # on main\r\n",
                                  f'  image: "docker://ghcr.io/earthcode/model-check@{DIGEST}"\r\n')


@pytest.mark.parametrize(("image", "digest"), [
    ("ghcr.io/earthcode/model-check", "sha256:" + "a" * 63),
    ("ghcr.io/earthcode/model-check", "sha512:" + "a" * 64),
    ("ghcr.io/earthcode/model-check:1.2.3", DIGEST),
    ("model-check", DIGEST),
    ("ghcr.io/earthcode/model check", DIGEST),
])
def test_only_a_digest_pinned_image_name_is_accepted(image: str, digest: str) -> None:
    with pytest.raises(pin_action.ReleaseError):
        pin_action.pin_text(ACTION_TEXT, image, digest)


def test_validation_refuses_a_tag_pinned_image_and_other_changes() -> None:
    by_tag = ACTION_TEXT.replace('image: "Dockerfile"', 'image: "docker://ghcr.io/earthcode/model-check:1.2.3"')
    with pytest.raises(pin_action.ReleaseError, match="not pinned by digest"):
        pin_action.validate_pinned(ACTION_TEXT, by_tag)
    pinned = pin_action.pin_text(ACTION_TEXT, IMAGE, DIGEST)
    with pytest.raises(pin_action.ReleaseError, match="more than runs.image"):
        pin_action.validate_pinned(ACTION_TEXT, pinned.replace('default: "cpu"', 'default: "auto"'))


def test_validation_runs_the_action_metadata_schema() -> None:
    """A rewrite that is right by itself still fails when the result is not valid action metadata."""
    invalid = re.sub(r"(?m)^description:.*\n(  .*\n)*", "", ACTION_TEXT, count=1)  # `description` is required
    assert "description" not in yaml.safe_load(invalid)
    with pytest.raises(pin_action.ReleaseError, match="schema"):
        pin_action.validate_pinned(invalid, pin_action.pin_text(invalid, IMAGE, DIGEST))


def test_pin_command_rewrites_a_file_in_place(tmp_path: Path) -> None:
    path = tmp_path / "action.yml"
    path.write_bytes(ACTION_TEXT.encode("utf-8"))
    assert pin_action.main(["pin", "--file", str(path), "--image", IMAGE, "--digest", DIGEST]) == 0
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["runs"]["image"] == f"docker://ghcr.io/earthcode/model-check@{DIGEST}"
    assert pin_action.main(["pin", "--file", str(path), "--image", IMAGE, "--digest", "latest"]) == 1


# --- the release in real git repositories --------------------------------------------------------


def _git_env() -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/nonexistent"), "LC_ALL": "C",
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_AUTHOR_NAME": "Maintainer", "GIT_AUTHOR_EMAIL": "maintainer@example.org",
            "GIT_COMMITTER_NAME": "Maintainer", "GIT_COMMITTER_EMAIL": "maintainer@example.org"}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=_git_env(), timeout=60, check=False)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


@dataclass
class Project:
    """A maintainer's clone (`work`) of a bare repository standing in for GitHub (`remote`)."""

    root: Path
    remote: Path
    work: Path

    def commit(self, version: str, message: str) -> str:
        (self.work / "pyproject.toml").write_text(f'[project]\nname = "model-check"\nversion = "{version}"\n', encoding="utf-8")
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", message)
        return git(self.work, "rev-parse", "HEAD")

    def tag(self, name: str, *, annotated: bool = True) -> None:
        git(self.work, "tag", *(["-a", "-m", f"{name}: the maintainer's notes"] if annotated else []), name)
        git(self.work, "push", "-q", "origin", "HEAD", f"refs/tags/{name}")

    def refs(self) -> dict[str, str]:
        """The remote's refs, peeled to commits."""
        refs = {}
        for line in git(self.remote, "for-each-ref", "--format=%(refname) %(objectname) %(*objectname)").splitlines():
            name, oid, peeled = (line.split(" ") + [""])[:3]
            refs[name] = peeled or oid
        return refs

    def release(self, tag: str, *extra: str, command: str = "release", python: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
        """Run the tool as the workflow does: in a fresh clone (the job's checkout) of the remote."""
        checkout = self.root / f"checkout-{len(list(self.root.glob('checkout-*')))}"
        git(self.root, "clone", "-q", str(self.remote), str(checkout))
        args = ["--image", IMAGE, "--digest", DIGEST] if command == "release" else []
        return subprocess.run([sys.executable, *python, str(TOOL), command, "--tag", tag, *args, *extra], cwd=checkout,
                              capture_output=True, text=True, env={"PATH": os.environ["PATH"]}, timeout=120, check=False)


@pytest.fixture()
def project(tmp_path: Path) -> Project:
    remote, work = tmp_path / "origin.git", tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(tmp_path, "clone", "-q", str(remote), str(work))
    (work / "action.yml").write_text(ACTION_TEXT, encoding="utf-8")
    (work / "README.md").write_text("# model-check\n", encoding="utf-8")
    return Project(tmp_path, remote, work)


def test_release_pins_the_image_and_moves_the_version_and_major_tags(project: Project) -> None:
    tagged = project.commit("1.2.3", "1.2.3")
    project.tag("v1.2.3")
    done = project.release("v1.2.3")
    assert done.returncode == 0, done.stderr

    refs = project.refs()
    released = refs["refs/tags/v1.2.3"]
    assert released != tagged and refs["refs/tags/v1"] == released
    assert refs["refs/heads/main"] == tagged  # main is not touched: it keeps `image: "Dockerfile"`
    assert git(project.remote, "rev-parse", f"{released}^") == tagged
    assert git(project.remote, "diff", "--name-only", tagged, released) == "action.yml"
    action = git(project.remote, "show", f"{released}:action.yml") + "\n"
    assert PINNED_IMAGE.search(action) and "# ghcr.io/earthcode/model-check:1.2.3" in action
    pin_action.validate_pinned(ACTION_TEXT, action)
    assert "v1.2.3: the maintainer's notes" in git(project.remote, "tag", "-l", "--format=%(contents)", "v1.2.3")
    assert f"released v1.2.3: {released}" in done.stdout

    again = project.release("v1.2.3")  # a re-run, or the tag pushed again: a no-op
    assert again.returncode == 0 and "released already" in again.stdout
    assert project.refs() == refs
    plan_output = project.root / "plan.out"
    assert project.release("v1.2.3", "--github-output", str(plan_output), command="plan").returncode == 0
    assert "release=false\n" in plan_output.read_text(encoding="utf-8")


def test_an_older_release_does_not_move_the_major_tag_back(project: Project) -> None:
    project.commit("1.2.3", "1.2.3")
    project.tag("v1.2.3")
    project.commit("1.3.0", "1.3.0")
    project.tag("v1.3.0", annotated=False)
    assert project.release("v1.3.0").returncode == 0
    newest = project.refs()["refs/tags/v1"]

    done = project.release("v1.2.3")  # e.g. its first run failed and is re-run after v1.3.0's
    assert done.returncode == 0, done.stderr
    refs = project.refs()
    assert refs["refs/tags/v1"] == newest == refs["refs/tags/v1.3.0"]
    assert "released already" not in done.stdout and "v1 stays" in done.stdout
    assert pin_action.is_released(git(project.remote, "show", f"{refs['refs/tags/v1.2.3']}:action.yml"))

    project.commit("2.0.0", "2.0.0")  # a new major version starts its own major tag; v1 stays
    project.tag("v2.0.0")
    assert project.release("v2.0.0").returncode == 0
    after = project.refs()
    assert after["refs/tags/v2"] == after["refs/tags/v2.0.0"] and after["refs/tags/v1"] == newest


def test_a_tag_not_on_main_is_refused(project: Project) -> None:
    project.commit("1.2.3", "1.2.3")
    git(project.work, "push", "-q", "origin", "HEAD:main")
    git(project.work, "checkout", "-q", "-b", "feature")
    project.commit("1.4.0", "not merged")
    git(project.work, "tag", "v1.4.0")
    git(project.work, "push", "-q", "origin", "refs/tags/v1.4.0")
    before = project.refs()
    for command in ("plan", "release"):
        done = project.release("v1.4.0", command=command)
        assert done.returncode == 1 and "not on the history of refs/remotes/origin/main" in done.stderr, done.stderr
    assert project.refs() == before and "refs/tags/v1" not in before


@pytest.mark.parametrize(("tag", "message"), [
    ("v1", "not an exact version tag"),
    ("v1.2.3-rc.1", "not an exact version tag"),
    ("v1.5.0", "disagrees with pyproject.toml's version '1.2.3'"),
    ("v9.9.9", "there is no tag v9.9.9"),
])
def test_a_tag_that_is_not_this_version_is_refused(project: Project, tag: str, message: str) -> None:
    project.commit("1.2.3", "1.2.3")
    git(project.work, "push", "-q", "origin", "HEAD:main")
    if tag != "v9.9.9":
        project.tag(tag)
    before = project.refs()
    done = project.release(tag)
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert project.refs() == before


def test_dry_run_prints_the_commands_and_changes_nothing(project: Project) -> None:
    project.commit("1.2.3", "1.2.3")
    project.tag("v1.2.3")
    before = project.refs()
    tag_object = git(project.remote, "rev-parse", "refs/tags/v1.2.3")
    done = project.release("v1.2.3", "--dry-run")
    assert done.returncode == 0, done.stderr
    would = [line.removeprefix("would run: ") for line in done.stdout.splitlines() if line.startswith("would run: ")]
    assert [shlex.split(line)[1] for line in would] == ["hash-object", "mktree", "commit-tree", "tag", "tag", "push"]
    assert shlex.split(would[-1]) == ["git", "push", "--atomic", f"--force-with-lease=refs/tags/v1.2.3:{tag_object}",
                                      "--force-with-lease=refs/tags/v1:", "origin", "refs/tags/v1.2.3", "refs/tags/v1"]
    assert project.refs() == before


def test_a_tag_moved_meanwhile_fails_the_push_and_nothing_moves(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """The leases: when v1 changes on the remote between the job's fetch and its push (another
    release, a maintainer), the atomic push moves neither tag."""
    project.commit("1.2.3", "1.2.3")
    project.tag("v1.2.3")
    checkout = project.root / "job"
    git(project.root, "clone", "-q", str(project.remote), str(checkout))
    job = pin_action.Git(checkout)
    pin_action.fetch(job, "origin", "main")
    git(project.work, "tag", "v1", "HEAD")  # meanwhile, someone else moves v1
    git(project.work, "push", "-q", "origin", "refs/tags/v1")
    before = project.refs()
    monkeypatch.setattr(pin_action, "fetch", lambda *args: None)  # the job's fetch happened before that
    with pytest.raises(pin_action.ReleaseError, match="stale info"):
        pin_action.release(job, "v1.2.3", IMAGE, DIGEST, remote="origin", main="main")
    assert project.refs() == before


def test_plan_writes_the_workflow_outputs(project: Project) -> None:
    project.commit("1.2.3", "1.2.3")
    project.tag("v1.2.3")
    output = project.root / "github-output"
    # -S: without site-packages, as the plan job runs it (the standard library only)
    done = project.release("v1.2.3", "--github-output", str(output), command="plan", python=("-S",))
    assert done.returncode == 0, done.stderr
    assert output.read_text(encoding="utf-8") == "release=true\nversion=1.2.3\n"


def test_the_token_goes_only_into_gits_environment(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELEASE_TOKEN", "")
    assert pin_action.main(["plan", "--tag", "v1.2.3", "--repo", str(project.work), "--token-env", "RELEASE_TOKEN"]) == 1
    git_runner = pin_action.Git(project.work, token="s3cret")
    assert "s3cret" not in " ".join(git_runner.env.values())
    header = git_runner.remote_env["GIT_CONFIG_VALUE_0"]
    assert header.startswith("AUTHORIZATION: basic ") and git_runner.remote_env["GIT_CONFIG_KEY_0"] == "http.https://github.com/.extraheader"


# --- the release workflow ------------------------------------------------------------------------


def github_filter(pattern: str) -> re.Pattern[str]:
    """A GitHub Actions branch/tag filter pattern as a regular expression (GitHub's "filter pattern
    cheat sheet"): `*` any characters but `/`, `**` any characters, `?` and `+` zero-or-one and
    one-or-more of the preceding character, `[...]` one character of a set or range, `\\` escapes;
    everything else, `.` included, is literal. The whole name must match."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        char = pattern[i]
        if char == "*":
            out.append("[^/]*")
        elif char in "?+":
            assert out, f"{pattern!r}: {char} with nothing before it"
            out.append(char)
        elif char == "[":
            end = pattern.index("]", i)
            assert re.fullmatch(r"([a-zA-Z0-9](-[a-zA-Z0-9])?)+", pattern[i + 1 : end]), pattern
            out.append(pattern[i : end + 1])
            i = end
        elif char == "\\":
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out))


@pytest.mark.parametrize(("pattern", "name", "matches"), [  # the documented examples of GitHub's cheat sheet
    ("v2*", "v2", True), ("v2*", "v2.9", True), ("v2*", "v1.0", False),
    ("v[12].[0-9]+.[0-9]+", "v1.10.1", True), ("v[12].[0-9]+.[0-9]+", "v2.0.0", True), ("v[12].[0-9]+.[0-9]+", "v3.0.0", False),
    ("feature/*", "feature/my-branch", True), ("feature/*", "feature/your/branch", False), ("feature/**", "feature/your/branch", True),
    ("*", "v1", True), ("*", "models/x/v1.0.0", False),
])
def test_the_filter_semantics(pattern: str, name: str, matches: bool) -> None:
    assert bool(github_filter(pattern).fullmatch(name)) is matches


RELEASES = ["v0.1.0", "v1.2.3", "v1.10.0", "v10.20.30"]
NOT_RELEASES = ["v1", "v2", "v1.2", "v1.2.3-rc.1", "v1.2.3.4", "1.2.3", "va.b.c", "v1.2.x", "models/cloud/v1.2.3", "v1.2.3/x"]


def test_the_release_runs_on_exact_version_tags_only_so_moving_v1_cannot_trigger_it() -> None:
    workflow = _load(WORKFLOW)
    assert workflow["on"] == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}}
    patterns = [github_filter(pattern) for pattern in workflow["on"]["push"]["tags"]]
    for name in RELEASES:
        assert any(p.fullmatch(name) for p in patterns), name
        pin_action.parse_version_tag(name)  # and the tool takes it
    for name in NOT_RELEASES:
        assert not any(p.fullmatch(name) for p in patterns), name
        with pytest.raises(pin_action.ReleaseError):
            pin_action.parse_version_tag(name)
    assert github_filter("v*").fullmatch("v1")  # the former trigger: it matched the moving tag


def test_release_jobs_permissions_and_order() -> None:
    workflow = _load(WORKFLOW)
    jobs = workflow["jobs"]
    assert workflow["permissions"] == {"contents": "read"}
    assert {name: job.get("permissions") for name, job in jobs.items() if job.get("permissions")} == {
        "image": {"contents": "read", "packages": "write"},
        "release": {"contents": "write"},
        "pypi": {"id-token": "write"},
    }
    assert jobs["tests"]["if"] == "needs.plan.outputs.release == 'true'"
    needs = {name: set([job["needs"]] if isinstance(job.get("needs"), str) else job.get("needs", [])) for name, job in jobs.items()}
    assert needs == {"plan": set(), "tests": {"plan"}, "image": {"plan", "tests"}, "dist": {"plan", "tests"},
                     "release": {"plan", "image", "dist"}, "pypi": {"plan", "release"}}
    assert workflow["concurrency"] == {"group": "release", "cancel-in-progress": False}


def _step(job: dict[str, Any], action: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [s for s in job["steps"] if s.get("uses", "").startswith(action + "@")]
    (step,) = steps
    return step


def test_the_image_is_multi_arch_and_its_digest_reaches_the_release_commit() -> None:
    jobs = _load(WORKFLOW)["jobs"]
    image = jobs["image"]
    build = _step(image, "docker/build-push-action")
    assert _step(image, "docker/setup-qemu-action") and _step(image, "docker/setup-buildx-action")
    assert set(build["with"]["platforms"].split(",")) == {"linux/amd64", "linux/arm64"} and build["with"]["push"] is True
    assert image["outputs"]["digest"] == "${{ steps." + build["id"] + ".outputs.digest }}"
    assert _load(WORKFLOW)["env"]["IMAGE"] == "ghcr.io/${{ github.repository_owner }}/model-check"
    (run,) = [s for s in jobs["release"]["steps"] if "pin_action.py" in s.get("run", "")]
    assert run["env"]["DIGEST"] == "${{ needs.image.outputs.digest }}"
    assert shlex.split(run["run"])[:3] == ["python", ".github/release/pin_action.py", "release"]
    assert "--require-hashes" in " ".join(s.get("run", "") for s in jobs["release"]["steps"])
    (plan,) = [s for s in jobs["plan"]["steps"] if "pin_action.py" in s.get("run", "")]
    assert shlex.split(plan["run"])[:3] == ["python", ".github/release/pin_action.py", "plan"]
    for name in ("plan", "release"):  # the tool needs the whole history (is the tag on main?)
        assert _step(jobs[name], "actions/checkout")["with"]["fetch-depth"] == 0


def test_pypi_gets_the_built_sdist_and_wheel_by_trusted_publishing() -> None:
    jobs = _load(WORKFLOW)["jobs"]
    assert "python -m build --sdist --wheel" in " ".join(s.get("run", "") for s in jobs["dist"]["steps"])
    pypi = jobs["pypi"]
    assert pypi["environment"]["name"] == "pypi"
    assert [s["uses"].split("@")[0] for s in pypi["steps"]] == ["actions/download-artifact", "pypa/gh-action-pypi-publish"]
    assert "with" not in pypi["steps"][-1] or "password" not in pypi["steps"][-1]["with"]  # no stored token
    assert "secrets." not in WORKFLOW.read_text(encoding="utf-8").replace("secrets.GITHUB_TOKEN", "")


# --- pre-commit ----------------------------------------------------------------------------------


def _hook() -> dict[str, Any]:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    (hook,) = hooks
    assert isinstance(hook, dict)
    return hook


def test_the_pre_commit_hook_runs_the_static_check_of_the_console_script() -> None:
    hook = _hook()
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    entry = shlex.split(hook["entry"])
    assert hook["id"] == "model-check" and hook["language"] == "python"
    assert entry[0] in scripts and scripts[entry[0]] == "validator.cli.main:main"
    assert entry[1:] == ["check", "--env", "none"]  # static: no package code runs, nothing is built
    assert hook["pass_filenames"] is False and hook["args"] == ["."]
    manifest = subprocess.run([sys.executable, "-m", "pre_commit", "validate-manifest", str(REPO / ".pre-commit-hooks.yaml")],
                              capture_output=True, text=True, timeout=120, check=False)
    assert manifest.returncode == 0, manifest.stdout + manifest.stderr


@pytest.mark.parametrize(("package", "code"), [(REPO / "examples" / "goes-cloud-regime", 0),
                                               (REPO / "tests" / "fixtures" / "broken-package", 1)])
def test_the_hook_command_passes_the_example_and_fails_a_broken_package(run_cli: RunCli, package: Path, code: int) -> None:
    entry = shlex.split(_hook()["entry"])
    assert run_cli([*entry[1:], package])[0] == code


def _copy_tracked(paths: list[str], target: Path) -> None:
    """The files of the work tree (tracked, or new and not ignored) under `paths`, copied."""
    listed = git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *paths)
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)


def _network_env(tmp_path: Path) -> dict[str, str]:
    """PATH and HOME, git without user configuration, and this machine's index and proxy settings."""
    passed = {k: v for k, v in os.environ.items()
              if k.startswith(("PIP_", "UV_", "SSL_CERT", "REQUESTS_CA")) or k.lower() in ("http_proxy", "https_proxy", "no_proxy")}
    return passed | _git_env() | {"PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}


@pytest.mark.slow
def test_pre_commit_try_repo_runs_the_hook(tmp_path: Path) -> None:
    """pre-commit itself installs this repository as the hook (pip, from PyPI) and runs it on a
    package: the example passes, the broken package fails with its findings."""
    hooks = tmp_path / "model-check"
    _copy_tracked([".pre-commit-hooks.yaml", "pyproject.toml", "README.md", "LICENSE", "validator"], hooks)
    git(hooks, "init", "-q", "-b", "main")
    git(hooks, "add", "-A")
    git(hooks, "commit", "-q", "-m", "hooks")
    env = _network_env(tmp_path)
    for package, outcome, code in [(REPO / "examples" / "goes-cloud-regime", "Passed", 0),
                                   (REPO / "tests" / "fixtures" / "broken-package", "Failed", 1)]:
        target = tmp_path / package.name
        shutil.copytree(package, target)
        git(target, "init", "-q", "-b", "main")
        git(target, "add", "-A")
        git(target, "commit", "-q", "-m", "package")
        done = subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(hooks), "model-check", "--all-files"],
                              cwd=target, capture_output=True, text=True, env=env, timeout=900, check=False)
        assert done.returncode == code, done.stdout + done.stderr
        assert re.search(rf"model-check \(static checks\)\.+{outcome}", done.stdout), done.stdout
    assert "MC1" in done.stdout  # the broken package's findings are in the hook's output


# --- the Python package --------------------------------------------------------------------------


def test_pyproject_has_what_pypi_shows() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for key in ("name", "version", "description", "readme", "license", "requires-python",
                "classifiers", "urls", "scripts", "authors", "keywords"):
        assert project.get(key), key
    assert project["name"] == "model-check" and project["scripts"] == {"model-check": "validator.cli.main:main"}
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]  # the SPDX expression says it
    assert {"Source", "Issues", "Documentation"} <= set(project["urls"])


def test_the_wheel_has_the_console_script_and_every_file_the_code_reads(tmp_path: Path) -> None:
    """`python -m build` (sdist, then the wheel from the sdist) as the release job runs it, offline
    (--no-isolation: the setuptools installed here)."""
    source, out = tmp_path / "src", tmp_path / "dist"
    _copy_tracked(["pyproject.toml", "README.md", "LICENSE", "validator"], source)
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", str(out), str(source)],
                          capture_output=True, text=True, timeout=300, check=False, env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stdout + done.stderr
    version = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    (wheel,) = out.glob(f"model_check-{version}-py3-none-any.whl")
    (sdist,) = out.glob(f"model_check-{version}.tar.gz")

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"model_check-{version}.dist-info"
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
        metadata = email.parser.Parser().parsestr(archive.read(f"{info}/METADATA").decode())
    assert "[console_scripts]\nmodel-check = validator.cli.main:main" in entry_points
    shipped = {path.relative_to(source).as_posix() for path in (source / "validator").rglob("*") if path.is_file()}
    assert shipped and not shipped - names, f"missing from the wheel: {sorted(shipped - names)}"
    for read in ("validator/core/rules.toml", "validator/schemas/report.schema.json",
                 "validator/schemas/stac/mlm-v1.5.2.schema.json", "validator/runtime/probes/__init__.py"):
        assert read in names  # resources.files(...) / Path(__file__) reads these at run time
    assert any(re.fullmatch(r"validator/runtime/probes/\w+_probe\.py", name) for name in names)
    assert f"{info}/licenses/LICENSE" in names  # setuptools' default license-files (the image builds without it)
    assert metadata["Name"] == "model-check" and metadata["Version"] == version
    assert metadata["License-Expression"] == "Apache-2.0" and metadata["Requires-Python"] == ">=3.11"
    assert metadata["Description-Content-Type"] == "text/markdown" and "## The GitHub Action" in metadata.get_payload()
    assert any(url.startswith("Source, https://") for url in metadata.get_all("Project-URL") or [])

    with tarfile.open(sdist) as archive:
        members = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "LICENSE", "validator/core/rules.toml"} <= members
