"""`model-check publish --workflow/--experiment`: the provenance chain of the Open Science Catalog
(model product, workflow, experiment) written in the catalog's tree, each record pointing at the
others, validated offline, and every value traced to what the package states."""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import EXAMPLE, RunCli, remove_section, replace_in

from validator.cli.main import main
from validator.publish.records import chain_problems, validate_record
from validator.publish.vcs import public_url, read_git
from validator.readers.stac_assets import OSC_SCHEMA
from validator.readers.stac_schemas import load_schemas

BASE = "https://example.org/models/goes/v0.1.0"
ITEM_ID = "earthcode-goes-cloud-regime-classifier-demo"
PRODUCT = f"products/{ITEM_ID}"
WORKFLOW = f"workflows/{ITEM_ID}-workflow/record.json"
EXPERIMENT = f"experiments/{ITEM_ID}-experiment/record.json"
COMMIT = "5d1c2a9e8b7f4306a1c2e3d4f5b6a7980c1d2e3f"


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def publish(run_cli: RunCli, package: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    return run_cli(["publish", package, "--base-url", BASE, "--out", out, "--experiment", "--project", "demo-project",
                    "--theme", "atmosphere", *extra])


@pytest.fixture(scope="module")
def chain_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("chain") / "out"
    assert main(["publish", str(EXAMPLE), "--base-url", BASE, "--out", str(out), "--experiment", "--project", "demo-project",
                 "--theme", "atmosphere"]) == 0
    return out


def records(out: Path) -> dict[str, dict[str, Any]]:
    found = {str(p.relative_to(out)): load(p) for p in out.glob("*/*/record.json")}
    found.update({str(p.relative_to(out)): load(p) for p in out.glob("products/*/collection.json")})
    return found


def sidecar(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = load(out / PRODUCT / f"{ITEM_ID}.provenance.json")
    return data


def test_example_product_workflow_and_experiment_link_each_other_and_validate(chain_out: Path) -> None:
    written = records(chain_out)
    assert set(written) == {f"{PRODUCT}/collection.json", WORKFLOW, EXPERIMENT}
    assert validate_record(written[WORKFLOW], "workflow") == []
    assert validate_record(written[EXPERIMENT], "experiment") == []
    assert load_schemas().validate(written[f"{PRODUCT}/collection.json"], OSC_SCHEMA) == []
    assert chain_problems(written) == []
    # every relative link between the three resolves to a file on disk, with the catalog's rel types
    pointed: dict[str, set[tuple[str, str]]] = {}
    for path, record in written.items():
        for link in record["links"]:
            target = posixpath.normpath(posixpath.join(posixpath.dirname(path), link["href"]))
            if "://" not in link["href"] and target.split("/")[0] in ("products", "workflows", "experiments") \
                    and target.split("/")[1].startswith(ITEM_ID):
                assert (chain_out / target).is_file(), f"{path}: {link['href']} does not resolve"
                pointed.setdefault(path, set()).add((link["rel"], target))
    product = f"{PRODUCT}/collection.json"
    assert {("related", WORKFLOW), ("related", EXPERIMENT), ("item", f"{PRODUCT}/{ITEM_ID}.json")} <= pointed[product]
    assert {("child", EXPERIMENT), ("related", product), ("related", f"{PRODUCT}/{ITEM_ID}.json")} <= pointed[WORKFLOW]
    assert {("related", WORKFLOW), ("child", product), ("related", f"{PRODUCT}/{ITEM_ID}.json")} <= pointed[EXPERIMENT]
    assert written[product]["osc:experiment"] == f"{ITEM_ID}-experiment"
    assert written[EXPERIMENT]["properties"]["osc:workflow"] == f"{ITEM_ID}-workflow"
    assert (chain_out / "experiments" / f"{ITEM_ID}-experiment" / "input.yaml").is_file()


def test_every_value_of_workflow_and_experiment_names_its_source(chain_out: Path) -> None:
    prov = sidecar(chain_out)
    readme = (EXAMPLE / "README.md").read_text(encoding="utf-8").splitlines()
    for key, path in (("workflow", WORKFLOW), ("experiment", EXPERIMENT)):
        section = prov[key]
        assert section["file"] == path
        record = load(chain_out / path)
        listed = set(section["sources"]) | {o["field"] for o in section["omitted"] + section["placeholders"]}
        for name in record["properties"]:
            assert any(p == f"/properties/{name}" or p.startswith(f"/properties/{name}/") for p in listed), (key, name)
        for index in range(len(record["links"])):
            assert f"/links/{index}" in section["sources"], (key, index)
        for source in section["sources"].values():  # a card line really states the value's origin
            if source["source"] == "model card":
                assert source["file"] == "README.md" and 1 <= source["line"] <= len(readme)
    workflow = load(chain_out / WORKFLOW)
    git = next(link for link in workflow["links"] if link["rel"] == "git")
    assert git["href"] == f"https://github.com/earthcode-examples/goes-cloud-regime-demo/tree/{COMMIT}"
    assert workflow["properties"]["version"] == "v0.1.0"
    assert readme[prov["workflow"]["sources"]["/properties/version"]["line"] - 1].count("v0.1.0")
    command_line = prov["experiment"]["sources"]["input.yaml#/command"]["line"]
    assert readme[command_line - 1].strip() == "python inference.py"
    environment = next(link for link in load(chain_out / EXPERIMENT)["links"] if link["rel"] == "environment")
    assert environment["href"] == f"{BASE}/requirements.txt"


def test_no_input_product_is_invented_when_the_card_names_none(chain_out: Path) -> None:
    experiment = load(chain_out / EXPERIMENT)
    inputs = [link for link in experiment["links"] if link["rel"] == "input"]
    assert [link["href"] for link in inputs] == ["./input.yaml"]  # the parameters file only: no product
    omitted = {o["field"]: o["reason"] for o in sidecar(chain_out)["experiment"]["omitted"]}
    assert "names no EarthCODE product" in omitted["/links/input products"]
    # the product the card names as related is linked from the product, as related, with the card's title
    collection = load(chain_out / PRODUCT / "collection.json")
    related = [link for link in collection["links"] if "earthcare-marine-stratocumulus-transitions" in link["href"]]
    assert related == [{"rel": "related", "href": "../../products/earthcare-marine-stratocumulus-transitions/collection.json",
                        "type": "application/json",
                        "title": "Product: EarthCARE Marine Stratocumulus Organization and Transition Dataset"}]


def test_training_data_naming_an_earthcode_product_becomes_an_input(pkg_copy: Path, tmp_path: Path, run_cli: RunCli) -> None:
    replace_in(pkg_copy / "README.md", "| Training data | None: untrained, deterministic demonstration weights "
               "(seeded generator, seed 20260101) |",
               "| Training data | EarthCODE product `goes-abi-cloud-tiles` (GOES ABI cloud tiles), 2019-2021; and "
               "https://opensciencedata.esa.int/products/era5-trajectories/collection |")
    code, stdout, stderr = publish(run_cli, pkg_copy, tmp_path / "out", "--allow-failing")
    assert code == 0, stderr
    experiment = load(tmp_path / "out" / EXPERIMENT)
    inputs = {link["href"]: link.get("title") for link in experiment["links"] if link["rel"] == "input"}
    assert inputs == {"./input.yaml": "Input parameters",
                      "../../products/era5-trajectories/collection.json": "Input product: era5-trajectories",
                      "../../products/goes-abi-cloud-tiles/collection.json": "Input product: GOES ABI cloud tiles"}
    assert validate_record(experiment, "experiment") == []
    assert "/links/input products" not in {o["field"] for o in sidecar(tmp_path / "out")["experiment"]["omitted"]}


def test_options_override_the_card_and_a_card_without_provenance_lists_the_omission(
        pkg_copy: Path, tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)  # in CI the run's context would fill the gap
    remove_section(pkg_copy / "README.md", "## Provenance")
    replace_in(pkg_copy / "README.md", "version v0.1.0. Apache-2.0. https://github.com/earthcode-examples/goes-cloud-regime-demo",
               "version v0.1.0. Apache-2.0.")  # the citation names the repository too
    code, stdout, stderr = publish(run_cli, pkg_copy, tmp_path / "bare", "--allow-failing")
    assert code == 0, stderr
    workflow = load(tmp_path / "bare" / WORKFLOW)
    assert not [link for link in workflow["links"] if link["rel"] == "git"] and "version" not in workflow["properties"]
    omitted = {o["field"] for o in sidecar(tmp_path / "bare")["workflow"]["omitted"]}
    assert {"/links/git", "/properties/version"} <= omitted and "/links/git" in stdout
    code, _, stderr = publish(run_cli, pkg_copy, tmp_path / "given", "--allow-failing", "--repository",
                              "https://gitlab.com/group/goes", "--ref", "v0.2.0", "--commit", "abc1234")
    assert code == 0, stderr
    workflow = load(tmp_path / "given" / WORKFLOW)
    git = next(link for link in workflow["links"] if link["rel"] == "git")
    assert git["href"] == "https://gitlab.com/group/goes/tree/abc1234" and workflow["properties"]["version"] == "v0.2.0"
    sources = sidecar(tmp_path / "given")["workflow"]["sources"]
    assert sources["/properties/version"]["source"] == "--ref"
    sha = "0" * 39 + "1"
    for name, value in {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "owner/goes", "GITHUB_SHA": sha,
                        "GITHUB_REF": "refs/tags/v0.3.0", "GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": ""}.items():
        monkeypatch.setenv(name, value)
    code, _, stderr = publish(run_cli, pkg_copy, tmp_path / "actions", "--allow-failing")
    assert code == 0, stderr
    workflow = load(tmp_path / "actions" / WORKFLOW)
    assert next(link for link in workflow["links"] if link["rel"] == "git")["href"] == f"https://github.com/owner/goes/tree/{sha}"
    assert workflow["properties"]["version"] == "v0.3.0"
    assert sidecar(tmp_path / "actions")["workflow"]["sources"]["/properties/version"]["source"] == "GitHub Actions context"


def _git(cwd: Path, *args: str) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org"}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, timeout=60)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_metadata_is_read_without_running_git_or_its_hooks(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "models" / "goes").mkdir(parents=True)
    (repo / "models" / "goes" / "README.md").write_text("# x\n", encoding="utf-8")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first")
    _git(repo, "tag", "-a", "v1.0.0", "-m", "release")
    _git(repo, "remote", "add", "origin", "https://user:secret-token@github.com/owner/goes.git")
    _git(repo, "pack-refs", "--all")
    marker = tmp_path / "hook-ran"
    for hook in ("post-checkout", "pre-commit", "post-index-change"):
        (repo / ".git" / "hooks" / hook).write_text(f"#!/bin/sh\ntouch {marker}\n", encoding="utf-8")
        (repo / ".git" / "hooks" / hook).chmod(0o755)
    _git(repo, "config", "core.fsmonitor", f"touch {marker}")
    head = (repo / ".git" / "refs" / "heads" / "main")
    commit = head.read_text().strip() if head.exists() else next(
        line.split()[0] for line in (repo / ".git" / "packed-refs").read_text().splitlines() if line.endswith("refs/heads/main"))
    found = read_git(repo / "models" / "goes")
    assert found["commit"].value == commit and found["tag"].value == "v1.0.0"
    assert found["repository"].value == "https://github.com/owner/goes"  # no user, no token
    assert not marker.exists()


@pytest.mark.parametrize(("url", "public"), [
    ("git@github.com:owner/repo.git", "https://github.com/owner/repo"),
    ("ssh://git@github.com/owner/repo", "https://github.com/owner/repo"),
    ("https://x-access-token:ghs_abc@github.com/owner/repo.git", "https://github.com/owner/repo"),
    ("file:///srv/repo", None),
    ("/srv/repo", None),
])
def test_remote_urls_are_published_without_credentials(url: str, public: str | None) -> None:
    assert public_url(url) == public


def test_records_that_break_the_catalog_rules_are_named(chain_out: Path) -> None:
    written = records(chain_out)
    experiment = json.loads(json.dumps(written[EXPERIMENT]))
    experiment["links"] = [link for link in experiment["links"] if link["rel"] not in ("input", "environment")]
    del experiment["properties"]["osc:workflow"]
    problems = validate_record(experiment, "experiment")
    assert any("osc:workflow" in p for p in problems) and len(problems) >= 3
    workflow = json.loads(json.dumps(written[WORKFLOW]))
    workflow["links"][0]["href"] = "https://example.org/catalog.json"  # root must be the catalog's, relative
    workflow["links"].append({"rel": "child", "href": "../../products/x/collection.json", "type": "application/json"})
    assert len(validate_record(workflow, "workflow")) >= 2
    broken = dict(written)
    broken[WORKFLOW] = {**written[WORKFLOW], "links": [link for link in written[WORKFLOW]["links"] if link["rel"] != "child"]}
    broken[EXPERIMENT] = {**written[EXPERIMENT], "properties": {**written[EXPERIMENT]["properties"], "osc:workflow": "other"}}
    problems = chain_problems(broken)
    assert any(p.startswith(f"{WORKFLOW}: no 'child' link to {EXPERIMENT}") for p in problems)
    assert any("osc:workflow 'other'" in p for p in problems)


def test_chain_usage_errors(tmp_path: Path, run_cli: RunCli) -> None:
    out = tmp_path / "out"
    for extra, says in ((["--commit", "abc1234"], "give --workflow"),
                        (["--workflow", "--commit", "not-a-sha"], "--commit"),
                        (["--workflow", "--repository", "https://user:tok@github.com/o/r"], "without credentials"),
                        (["--workflow", "Bad/Id"], "OSC id")):
        code, _, stderr = run_cli(["publish", EXAMPLE, "--base-url", BASE, "--out", out, *extra])
        assert code == 2 and says in stderr, (extra, stderr)
    assert not out.exists()


def test_an_unusable_item_id_is_refused_before_anything_is_written(tmp_path: Path, run_cli: RunCli) -> None:
    code, _, stderr = run_cli(["publish", EXAMPLE, "--base-url", BASE, "--out", tmp_path / "out", "--workflow",
                               "--product-id", "../escape"])
    assert code == 1 and "not an OSC id" in stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "escape").exists()


def test_check_lints_shipped_records_and_passes_those_publish_writes(chain_out: Path, pkg_copy: Path, tmp_path: Path,
                                                                     run_cli: RunCli) -> None:
    (pkg_copy / "osc").mkdir()
    shutil.copy(chain_out / WORKFLOW, pkg_copy / "osc" / "workflow.json")
    shutil.copy(chain_out / EXPERIMENT, pkg_copy / "osc" / "experiment.json")
    report = tmp_path / "ok.json"
    run_cli(["check", pkg_copy, "--env", "none", "--json", report, "-q"])
    assert not [f for f in load(report)["findings"] if f["rule"] in ("MC875", "MC876", "MC877")]
    replace_in(pkg_copy / "osc" / "workflow.json", f"/tree/{COMMIT}", "/tree/fedcba9876543210fedcba9876543210fedcba98")
    experiment = load(pkg_copy / "osc" / "experiment.json")
    experiment["links"] = [link for link in experiment["links"] if link["rel"] != "environment"]
    (pkg_copy / "osc" / "experiment.json").write_text(json.dumps(experiment, indent=2), encoding="utf-8")
    report = tmp_path / "bad.json"
    run_cli(["check", pkg_copy, "--env", "none", "--json", report, "-q"])
    found = {(f["rule"], f["file"]): f["message"] for f in load(report)["findings"] if f["rule"] in ("MC875", "MC877")}
    assert "no link with rel 'environment'" in found[("MC875", "osc/experiment.json")]
    assert "fedcba98" in found[("MC877", "osc/workflow.json")] and COMMIT in found[("MC877", "osc/workflow.json")]
