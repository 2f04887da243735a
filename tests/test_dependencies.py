"""What installing model-check brings along: no dependency, however deep, requires pip (installing
model-check must never upgrade the user's pip; stac-model did, and is gone)."""

from __future__ import annotations

from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def requirement_tree(root: str, extras: frozenset[str] = frozenset()) -> dict[str, list[str]]:
    """Installed distribution name -> the requirement strings that pulled it in, walking
    importlib.metadata from `root` over what is installed (markers evaluated for this interpreter and
    the extras each requirer asked for)."""
    pulled_by: dict[str, list[str]] = {canonicalize_name(root): ["(root)"]}
    todo: list[tuple[str, frozenset[str]]] = [(root, extras)]
    done: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, wanted = todo.pop()
        if (canonicalize_name(name), wanted) in done:
            continue
        done.add((canonicalize_name(name), wanted))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # not installed here (e.g. a platform-specific requirement): nothing to walk
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in (wanted or {""})):
                continue
            pulled_by.setdefault(canonicalize_name(req.name), []).append(f"{dist.metadata['Name']}: {text}")
            todo.append((req.name, frozenset(req.extras)))
    return pulled_by


def test_model_check_is_installed_with_its_metadata() -> None:
    tree = requirement_tree("model-check")
    assert {"jsonschema", "pystac", "onnx"} <= tree.keys()
    assert "stac-model" not in tree


def test_no_dependency_of_model_check_requires_pip() -> None:
    tree = requirement_tree("model-check")
    assert "pip" not in tree, f"installing model-check would upgrade pip: {tree['pip']}"


def test_no_test_or_lint_dependency_requires_pip() -> None:
    tree = requirement_tree("model-check", frozenset({"test", "lint"}))
    assert "pip" not in tree, f"pip is required by: {tree['pip']}"
