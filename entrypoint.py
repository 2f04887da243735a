#!/usr/bin/env python3
"""The action's entrypoint: maps the INPUT_* variables to the model-check command line.

One `model-check check` per package folder (globs expanded in the workspace), each writing its
JSON report under model-check-reports/ in the workspace, then one `model-check github post` for the
comment, annotations, summary, outputs, SARIF and release-tag gating; on tags (input `attest`), one
`model-check attest` per package from its gated report, for actions/attest and `model-check sign`.
Inputs are passed as argv items, never pasted into shell text.

In the action, `env: auto` means docker: package code runs only in sibling containers, never in
this one, which holds the runner's docker socket and workflow-command files.

What a package may ask for is the workflow's to grant: `allow-network` (the package's
`network = true`) and `allow-package-indexes` (index options in its runtime files) are off unless
the workflow sets them.
"""

from __future__ import annotations

import glob
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from validator.core.escape import log_line
from validator.github.annotations import Annotation, format_command, stop_commands
from validator.github.log_groups import STOP_TOKEN_ENV
from validator.github.outputs import write_outputs

EXIT_USAGE = 2
REPORT_DIR = "model-check-reports"
# Environment modes of the CLI as the action maps them: venv and conda would run package code
# inside this container, next to the docker socket, so the action does not offer them.
ENV_MODES = {"auto": "docker", "docker": "docker", "none": "none"}
TRUE, FALSE = ("true", "True", "TRUE", "yes", "on", "1"), ("false", "False", "FALSE", "no", "off", "0", "")
SECRET_PREFIXES = ("INPUT_", "ACTIONS_")
SECRET_NAMES = {"GITHUB_TOKEN", "GH_TOKEN"}


class InputError(Exception):
    pass


@dataclass(frozen=True)
class Inputs:
    paths: tuple[str, ...]
    env: str
    fail_on: str
    comment: bool
    annotations: bool
    sarif: str
    rtol: str
    atol: str
    config: str
    token: str
    torch_backend: str
    allow_network: bool = False  # grant package code network when the package's configuration asks for it
    allow_package_indexes: bool = False  # follow package indexes the package's runtime files name
    ca_bundle: str = ""  # a CA bundle in the workspace for environment builds (--ca-bundle)
    wheelhouse: str = ""  # a folder of wheels in the workspace for environment builds (--wheelhouse)
    env_cache: str = ""  # a folder in the workspace for environment images across jobs (--env-cache)
    fresh_env: bool = False  # a tag push (a release): no cached environment is trusted (--fresh-env)
    attest: bool = False  # write each package's validation attestation after the checks (input attest; auto: on tags)


def _boolean(name: str, value: str) -> bool:
    if value.strip() in TRUE:
        return True
    if value.strip() in FALSE:
        return False
    raise InputError(f"input {name} must be true or false, not {value.strip()!r}")


def read_inputs(environ: Mapping[str, str]) -> Inputs:
    def get(name: str, default: str = "") -> str:
        return environ.get(f"INPUT_{name.upper()}", default).strip()

    env = get("env", "auto") or "auto"
    if env not in ENV_MODES:
        raise InputError(f"input env must be auto, docker or none in the action, not {env!r} "
                         "(venv and conda would run package code inside the action's container)")
    fail_on = get("fail-on", "error") or "error"
    if fail_on not in ("error", "warning"):
        raise InputError(f"input fail-on must be error or warning, not {fail_on!r}")
    paths = tuple(p for p in re.split(r"\s+", get("path", ".")) if p) or (".",)
    return Inputs(
        paths=paths,
        env=ENV_MODES[env],
        fail_on=fail_on,
        comment=_boolean("comment", get("comment", "true")),
        annotations=_boolean("annotations", get("annotations", "true")),
        sarif=get("sarif"),
        rtol=get("rtol"),
        atol=get("atol"),
        config=get("config"),
        token=get("github-token"),
        torch_backend=get("torch-backend", "cpu"),
        allow_network=_boolean("allow-network", get("allow-network", "false")),
        allow_package_indexes=_boolean("allow-package-indexes", get("allow-package-indexes", "false")),
        ca_bundle=get("ca-bundle"),
        wheelhouse=get("wheelhouse"),
        env_cache=get("env-cache"),
        fresh_env=environ.get("GITHUB_REF", "").startswith("refs/tags/"),
        attest=_attest_mode(get("attest", "auto"), environ.get("GITHUB_REF", "")),
    )


def _attest_mode(value: str, ref: str) -> bool:
    if value in ("auto", ""):
        return ref.startswith("refs/tags/")  # a release: attest what the gated run validated
    return _boolean("attest", value)


def workspace_files(inputs: Inputs, workspace: Path) -> Inputs:
    """The inputs with ca-bundle (a file) and wheelhouse (a folder) as paths inside the workspace; an error
    when one leaves it (symlinks resolved) or is not there."""
    found: dict[str, str] = {}
    for name, value, kind in (("ca-bundle", inputs.ca_bundle, "file"), ("wheelhouse", inputs.wheelhouse, "folder")):
        if not value:
            continue
        try:
            rel = _inside(value, workspace)
        except InputError as exc:
            raise InputError(f"input {name}: {exc}") from None
        if not ((workspace / rel).is_file() if kind == "file" else (workspace / rel).is_dir()):
            raise InputError(f"input {name}: {value!r} is not a {kind} in the workspace")
        found[name] = rel
    return replace(inputs, ca_bundle=found.get("ca-bundle", ""), wheelhouse=found.get("wheelhouse", ""))


def env_cache_folder(inputs: Inputs, workspace: Path) -> Inputs:
    """The inputs with env-cache as a folder path inside the workspace (it may not exist yet: the first run
    creates it); an error when it leaves the workspace or is a file."""
    if not inputs.env_cache:
        return inputs
    try:
        rel = _inside(inputs.env_cache, workspace)
    except InputError as exc:
        raise InputError(f"input env-cache: {exc}") from None
    if (workspace / rel).exists() and not (workspace / rel).is_dir():
        raise InputError(f"input env-cache: {inputs.env_cache!r} is not a folder")
    return replace(inputs, env_cache=rel)


def _inside(path: str, workspace: Path) -> str:
    """`path` relative to the workspace (POSIX); an error when it leaves the workspace."""
    full = (workspace / path).resolve()
    try:
        rel = full.relative_to(workspace.resolve()).as_posix()
    except ValueError:
        raise InputError(f"path {path!r} is outside the workspace") from None
    return rel or "."


def expand_paths(patterns: tuple[str, ...], workspace: Path) -> list[str]:
    """Package folders named by `patterns`, relative to the workspace, in order, without repeats."""
    folders: list[str] = []
    for pattern in patterns:
        if re.search(r"[*?[]", pattern):
            matches = sorted(m for m in glob.glob(pattern, root_dir=workspace, recursive=True) if (workspace / m).is_dir())
            if not matches:
                raise InputError(f"path {pattern!r} matches no folder")
        else:
            matches = [pattern]
        for match in matches:
            rel = _inside(match, workspace)
            if rel not in folders:
                folders.append(rel)
    return folders


def report_name(folder: str, taken: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", folder).strip("-.") or "package"
    name, n = f"{stem}.json", 2
    while name in taken:
        name, n = f"{stem}-{n}.json", n + 1
    taken.add(name)
    return name


def check_argv(folder: str, inputs: Inputs, report: str) -> list[str]:
    argv = [sys.executable, "-m", "validator.cli", "check", folder, "--json", report,
            "--env", inputs.env, "--fail-on", inputs.fail_on]
    for flag, value in (("--rtol", inputs.rtol), ("--atol", inputs.atol), ("--config", inputs.config),
                        ("--torch-backend", inputs.torch_backend), ("--ca-bundle", inputs.ca_bundle),
                        ("--wheelhouse", inputs.wheelhouse), ("--env-cache", inputs.env_cache)):
        if value:
            argv += [flag, value]
    for flag, allowed in (("--allow-network", inputs.allow_network), ("--allow-package-indexes", inputs.allow_package_indexes),
                          ("--fresh-env", inputs.fresh_env)):
        if allowed:
            argv.append(flag)
    return argv


def post_argv(reports: list[str], inputs: Inputs) -> list[str]:
    argv = [sys.executable, "-m", "validator.cli", "github", "post", *reports, "--release-gate",
            "--comment" if inputs.comment else "--no-comment",
            "--annotations" if inputs.annotations else "--no-annotations"]
    if inputs.sarif:
        argv += ["--sarif", inputs.sarif]
    if inputs.config:
        argv += ["--config", inputs.config]
    return argv


def attest_argv(folder: str, report: str) -> list[str]:
    """`model-check attest` of a checked package from its (gated) report: the Statement goes into the package
    (validation.intoto.json, so that a signature covers it), the predicate and the subjects beside the report,
    for actions/attest (predicate-path, subject-checksums)."""
    stem = report.removesuffix(".json")
    return [sys.executable, "-m", "validator.cli", "attest", folder, "--report", report,
            "--predicate", f"{stem}.predicate.json", "--subjects", f"{stem}.subjects.sha256"]


def child_env(environ: Mapping[str, str], token: str | None = None) -> dict[str, str]:
    """The environment of a child: no inputs, runner tokens or GitHub token, unless given."""
    env = {k: v for k, v in environ.items() if not k.startswith(SECRET_PREFIXES) and k not in SECRET_NAMES}
    if token:
        env["GITHUB_TOKEN"] = token
    return env


def ca_environment(ca_bundle: str, workspace: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """With a ca-bundle input, the variables that make the children's own HTTPS (the GitHub API, the
    installer of the notebook tools) trust it beside the image's bundle, as a bundle baked into a fork's
    image would be; nothing without one. (Environment builds get the input itself: --ca-bundle.)"""
    if not ca_bundle:
        return {}
    system = Path(environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt")
    trusted = system.read_text(encoding="utf-8", errors="replace").rstrip("\n") + "\n" if system.is_file() else ""
    combined = Path(tempfile.mkdtemp(prefix="model-check-ca-")) / "ca-bundle.pem"
    combined.write_text(trusted + (workspace / ca_bundle).read_text(encoding="utf-8", errors="replace"), encoding="utf-8")
    return dict.fromkeys(("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"), str(combined))


def run_child(argv: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Run a model-check command, passing SIGTERM / SIGINT on to it: when the runner stops this
    container, the child still removes the package's containers before it exits."""
    child = subprocess.Popen(argv, cwd=cwd, env=env)

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(environ: Mapping[str, str] = os.environ) -> int:
    workspace = Path(environ.get("GITHUB_WORKSPACE") or os.getcwd())
    try:
        inputs = env_cache_folder(workspace_files(read_inputs(environ), workspace), workspace)
        folders = expand_paths(inputs.paths, workspace)
    except InputError as exc:
        print(format_command(Annotation("error", str(exc), "model-check: action inputs")), flush=True)
        return EXIT_USAGE
    (workspace / REPORT_DIR).mkdir(exist_ok=True)
    trust = ca_environment(inputs.ca_bundle, workspace, environ)
    reports: list[str] = []
    checked: list[tuple[str, str]] = []  # (package folder, its report)
    worst = 0
    taken: set[str] = set()
    for folder in folders:
        report = f"{REPORT_DIR}/{report_name(folder, taken)}"
        print(log_line(f"model-check: checking {folder}"), flush=True)
        # The output quotes the package: no workflow commands from it. The check groups its steps in the log
        # (validator/github/log_groups.py): with this token it resumes commands for a group switch only, and
        # stops them again with the same token, which is resumed here even if it dies mid-run.
        with stop_commands() as token:
            code = run_child(check_argv(folder, inputs, report), workspace, {**child_env(environ), **trust, STOP_TOKEN_ENV: token})
        print("::endgroup::", flush=True)  # the check's last group, had it ended without closing it
        if code in (0, 1) and (workspace / report).is_file():
            reports.append(report)
            checked.append((folder, report))
        else:
            worst = EXIT_USAGE
            print(format_command(Annotation("error", f"model-check could not check {folder} (exit {code}); see the log",
                                            "model-check")), flush=True)
    if not reports:
        return EXIT_USAGE
    posted = run_child(post_argv(reports, inputs), workspace, {**child_env(environ, inputs.token), **trust})
    if inputs.attest:  # after `github post`, which wrote the release gate into each report
        worst = max(worst, attest_all(checked, workspace, environ))
    return max(worst, posted)


def attest_all(checked: list[tuple[str, str]], workspace: Path, environ: Mapping[str, str]) -> int:
    """Attest each checked package; the step outputs name the files. A package that failed is attested as
    failed (the attestation says so), which fails the step like the check did."""
    written: dict[str, list[str]] = {"attestation": [], "predicate": [], "subjects": []}
    worst = 0
    for folder, report in checked:
        argv = attest_argv(folder, report)
        with stop_commands() as token:  # the output names the package: no workflow commands from it
            code = run_child(argv, workspace, {**child_env(environ), STOP_TOKEN_ENV: token})
        if code in (0, 1):
            written["attestation"].append(f"{folder.rstrip('/')}/validation.intoto.json".removeprefix("./"))
            written["predicate"].append(argv[argv.index("--predicate") + 1])
            written["subjects"].append(argv[argv.index("--subjects") + 1])
        worst = max(worst, code)
    if environ.get("GITHUB_OUTPUT"):
        write_outputs(Path(environ["GITHUB_OUTPUT"]), {name: "\n".join(paths) for name, paths in written.items()})
    return worst


if __name__ == "__main__":
    sys.exit(main())
