"""Docker environments across CI jobs (--env-cache, docker_cache.py) and the peak disk of a build
(docker_disk.py), against a real engine: a build saves its image; a second run with the same runtime
files loads it instead of building; a tarball that is not this build's is refused and the environment
rebuilt; --fresh-env (a release) trusts no cache; a package's configuration cannot set the cache."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from docker_fixtures import BASE, CREATED_TAGS, TIMES
from helpers import check_report

from validator.core.options import Options
from validator.core.report import Report
from validator.pipeline import runner
from validator.pipeline.config import configure, read_package_config
from validator.runtime.environments import docker_cache
from validator.runtime.environments.docker_disk import build_layers

if TYPE_CHECKING:
    from docker import DockerClient

MIN_IMAGE = "local/bookworm:min"  # tests/docker_engine.sh's image without Python: no model-check labels


def package(root: Path) -> Path:
    """numpy only; a comment unique to this session makes its own cache key, so its image is always built here."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "requirements.txt").write_text(f"# {uuid.uuid4().hex}\nnumpy==2.4.6\n", encoding="utf-8")
    (root / "README.md").write_text("# Numpy only\n", encoding="utf-8")
    return root


def check(root: Path, timing: str, **options: Any) -> dict[str, Any]:
    import time

    started = time.monotonic()
    report: Report = runner.run(root, Options(**{"env": "docker", "base_image": BASE, **options}))
    TIMES[timing] = time.monotonic() - started
    check_report(report)
    environment = report.environment
    assert environment is not None and not environment.get("error"), report.findings
    CREATED_TAGS.add(str(environment["cache_key"]))
    return dict(environment)


@pytest.mark.docker
def test_a_second_run_loads_the_saved_environment_and_a_foreign_tarball_is_rebuilt(engine: DockerClient,
                                                                                    tmp_path: Path) -> None:
    root = package(tmp_path / "pkg")
    cache = tmp_path / "env-cache"
    first = check(root, "env cache: cold build + save", env_cache=str(cache))
    tag = str(first["cache_key"])
    tarball = cache / f"{tag.partition(':')[2]}.tar"
    engine_image = engine.images.get(tag)
    assert not first["cached"]
    record = first["env_cache"]
    assert record["saved"] and not record["loaded"] and record["file"] == str(tarball)
    assert tarball.is_file() and tarball.stat().st_size == record["bytes"]
    assert docker_cache.names_in(tarball) == []  # saved untagged
    assert docker_cache.labels_in(tarball)[docker_cache.PACKAGE_LABEL]  # whose environment it is: older ones are pruned
    # the peak disk of the build: at least the image's own layers, at most a few times them plus the wheels
    own = engine_image.attrs["Size"] - engine.images.get(BASE).attrs["Size"]
    peak = first["peak_disk_bytes"]
    assert isinstance(peak, int) and own <= peak <= 4 * own + 64 * 1024 * 1024, (peak, own)
    print(f"\nnumpy-only environment: image {engine_image.attrs['Size'] / 1e6:.0f} MB ({own / 1e6:.0f} MB over the base), "
          f"peak disk of the build {peak / 1e6:.0f} MB, archive {record['bytes'] / 1e6:.0f} MB")

    engine.images.remove(tag)  # a fresh runner: the engine has nothing, the workflow restored the folder
    second = check(root, "env cache: load instead of a build", env_cache=str(cache))
    assert second["cached"] and second["env_cache"]["loaded"] and not second["env_cache"]["saved"]
    assert second["peak_disk_bytes"] is None  # nothing was built
    assert engine.images.get(tag).id == engine_image.id  # the very image the first run built, not a new build
    assert second["installed"]["numpy"] == "2.4.6"
    tarball.unlink()  # the engine has the image, the folder not (a runner that keeps its engine): written for later jobs
    kept = check(root, "env cache: engine image saved", env_cache=str(cache))
    assert kept["cached"] and not kept["env_cache"]["loaded"] and kept["env_cache"]["saved"] and tarball.is_file()

    # a tarball that is not this environment's: another image, without model-check's labels
    engine.images.remove(tag)
    with open(tarball, "wb") as handle:
        for chunk in engine.images.get(MIN_IMAGE).save(named=False):
            handle.write(chunk)
    third = check(root, "env cache: foreign tarball refused, rebuilt", env_cache=str(cache))
    assert not third["cached"] and not third["env_cache"]["loaded"] and third["env_cache"]["saved"]
    assert "does not carry the labels of this environment's build" in third["env_cache"]["problem"]
    assert any(note.startswith(f"the environment archive {tarball} was not used, and the environment was rebuilt")
               for note in third["notes"])
    assert engine.images.get(MIN_IMAGE)  # an image the engine had is never removed, whatever a tarball holds
    rebuilt = engine.images.get(tag)
    assert rebuilt.id != engine_image.id and rebuilt.labels["model-check.key"] == tag.partition(":")[2]

    # a release run: neither the engine's image nor the tarball is trusted
    fourth = check(root, "env cache: --fresh-env rebuild", env_cache=str(cache), fresh_env=True)
    assert not fourth["cached"] and fourth["env_cache"]["saved"]
    assert any(note.startswith(f"--fresh-env: the engine's image {tag} was not reused") for note in fourth["notes"])
    assert engine.images.get(tag).id != rebuilt.id


def test_a_tagged_or_unreadable_tarball_is_refused_before_the_engine_sees_it(tmp_path: Path) -> None:
    tagged = tmp_path / "tagged.tar"
    with tarfile.open(tagged, "w") as archive:
        data = json.dumps([{"Config": "x.json", "RepoTags": ["python:3.11-slim-bookworm"], "Layers": []}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    assert docker_cache.names_in(tagged) == ["python:3.11-slim-bookworm"]

    class NoEngine:  # any call to the engine fails the test
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"the engine was asked for {name}")

    loaded = docker_cache.load(NoEngine(), tagged, "k", {"model-check.key": "k"}, "model-check-env:k")  # type: ignore[arg-type]
    assert not loaded.ok and "re-point those tags" in loaded.record["problem"]
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"not a tar archive" * 100)
    refused = docker_cache.load(NoEngine(), garbage, "k", {}, "model-check-env:k")  # type: ignore[arg-type]
    assert not refused.ok and "not a readable image archive" in refused.record["problem"]


def test_the_layers_of_a_build_are_its_own(tmp_path: Path) -> None:
    before = {"base": {"Id": "base", "Size": 100, "ParentId": ""}, "other": {"Id": "other", "Size": 150, "ParentId": "base"}}
    after = {**before,
             "copy": {"Id": "copy", "Size": 130, "ParentId": "base", "Labels": {"model-check.key": "k"}},
             "install": {"Id": "install", "Size": 1130, "ParentId": "copy", "Labels": {"model-check.key": "k"}},
             "final-copy": {"Id": "final-copy", "Size": 1100, "ParentId": "base", "Labels": {}},
             "final": {"Id": "final", "Size": 1100, "ParentId": "final-copy", "Labels": {"model-check.key": "k"}},
             "concurrent": {"Id": "concurrent", "Size": 5000, "ParentId": "base", "Labels": {"model-check.key": "z"}}}
    # 30 (copy) + 1000 (install) + 1000 (final stage's COPY) + 0 (its ENV): another build's image is not counted
    assert build_layers(before, after, "k") == 2030


def test_a_packages_configuration_cannot_set_the_cache_or_skip_a_fresh_build(tmp_path: Path) -> None:
    root = package(tmp_path / "pkg")
    (root / "model-check.toml").write_text('env-cache = "/tmp/anywhere"\nfresh-env = false\n', encoding="utf-8")
    loaded = read_package_config(root)
    options = configure(loaded, {"fresh_env": True})
    assert options.env_cache is None and options.fresh_env is True
    assert {problem.message.split(";")[0] for problem in loaded.problems} == {"unknown key 'env-cache'",
                                                                               "unknown key 'fresh-env'"}


def fake_archive(path: Path, labels: dict[str, str]) -> Path:
    """A `docker save` archive in the legacy layout, with no layers: manifest.json and the image config."""
    with tarfile.open(path, "w") as archive:
        for name, data in (("abc.json", {"config": {"Labels": labels}}), ("manifest.json", [{"Config": "abc.json", "RepoTags": None}])):
            raw = json.dumps(data).encode()
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))
    return path


def test_a_save_removes_older_environments_of_the_same_package_only(tmp_path: Path) -> None:
    kept = fake_archive(tmp_path / "new.tar", {docker_cache.PACKAGE_LABEL: "p1", "model-check.key": "new"})
    older = fake_archive(tmp_path / "old.tar", {docker_cache.PACKAGE_LABEL: "p1", "model-check.key": "old"})
    other = fake_archive(tmp_path / "other.tar", {docker_cache.PACKAGE_LABEL: "p2", "model-check.key": "x"})
    unlabelled = fake_archive(tmp_path / "unlabelled.tar", {})
    (tmp_path / "notes.txt").write_text("not an archive", encoding="utf-8")
    assert docker_cache.labels_in(older) == {docker_cache.PACKAGE_LABEL: "p1", "model-check.key": "old"}
    assert docker_cache.prune(kept, "p1") == ["old.tar"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["new.tar", "notes.txt", "other.tar", "unlabelled.tar"]
    assert other.is_file() and unlabelled.is_file() and docker_cache.labels_in(tmp_path / "notes.txt") == {}


def test_the_caching_recipe_is_a_valid_workflow_that_uses_the_input(tmp_path: Path) -> None:
    import re
    import subprocess
    import sys

    import yaml
    from helpers import REPO

    text = (REPO / "docs" / "caching.md").read_text(encoding="utf-8")
    recipe = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)[0]
    path = tmp_path / "recipe.yml"
    path.write_text(recipe, encoding="utf-8")
    checked = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                              str(path)], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    steps = yaml.safe_load(recipe)["jobs"]["model-check"]["steps"]
    [action] = [step for step in steps if str(step.get("uses", "")).startswith("earthcode/model-check")]
    assert action["with"]["env-cache"] == ".model-check-env"
    restore, save = (step for step in steps if "actions/cache/" in str(step.get("uses", "")))
    assert restore["with"]["path"] == save["with"]["path"] == ".model-check-env"
    assert save["with"]["key"].startswith(restore["with"]["restore-keys"])  # the restore finds what was saved
    assert all(re.search(r"@[0-9a-f]{40} ", f"{step['uses']} ") for step in steps if "uses" in step
               and not step["uses"].startswith("earthcode/"))  # third-party actions pinned by SHA
