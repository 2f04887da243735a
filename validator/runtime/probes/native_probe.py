"""Native probe: build the package's PyTorch model, load model.safetensors strictly, run it.

Runs with the PACKAGE environment's Python, inside model-check's sandbox, in a scratch copy of the
package:

    python native_probe.py PLAN.json

PLAN.json (written by validator.checks.parity):
    weights       path of the .safetensors file
    factory       "module:function" named in model-check.toml, or null
    conventional  module whose conventional factories are tried ("inference"), or null
    architecture  safetensors `architecture` metadata ("timm.resnet50d"), or null
    in_chans, num_classes   declared channel and class counts, or null
    input_sets    [{"id": str, "inputs": [{"name": str, "file": str}]}]
    out_file      .npz written here: output k of input set i is the array "s<i>_o<k>"
    result        path of the JSON result written here

Dependency-light on purpose: only the standard library, numpy, torch and safetensors, imported
inside the package environment. Nothing here trusts the package: every step's failure is recorded
in the result instead of ending the probe. The plan and result types (validator.runtime.probes.protocol)
are named for the type checker only.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:  # annotations only: nothing here is evaluated by the package environment's Python
    from collections.abc import Callable, Iterator

    from validator.runtime.probes.protocol import InputSetPlan, LoadAttempt, NativePlan, NativeResult, SetRecord

    Builder = Callable[[], object]  # makes the model, or raises

CONVENTIONAL_FACTORIES = ("load_model", "build_model", "create_model", "get_model")
WEIGHT_PARAMETER_HINTS = ("weight", "path", "checkpoint", "ckpt", "file", "safetensors")
STATE_DICT_PARAMETER_HINTS = ("state_dict", "state", "sd")
KEYS_SHOWN = 8
ARCHITECTURE_LIBRARIES = ("timm", "torchvision")  # the `architecture` prefixes from_architecture builds


def tail(limit: int = 25) -> str:
    lines = traceback.format_exc().rstrip().splitlines()
    return "\n".join(lines[-limit:])


def write_result(path: str, result: NativeResult) -> None:
    Path(path).write_text(json.dumps(result, indent=1), encoding="utf-8")


def main() -> int:
    plan: NativePlan = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    result: NativeResult = {"status": "ok", "attempts": [], "sets": []}
    try:
        import numpy as np
        import torch
        from safetensors.torch import load_file
    except Exception as exc:  # the runtime lacks a native dependency
        result["status"], result["reason"] = "unavailable", f"{type(exc).__name__}: {exc}"
        write_result(plan["result"], result)
        return 0
    result["torch"] = torch.__version__
    torch.manual_seed(0)
    sys.path.insert(0, str(Path.cwd()))  # the package's own modules (inference.py)

    weights_path = str(Path(plan["weights"]).resolve())
    try:
        state = load_file(weights_path, device="cpu")
    except Exception as exc:
        result["status"], result["reason"], result["traceback"] = "weights-unreadable", f"{type(exc).__name__}: {exc}", tail()
        write_result(plan["result"], result)
        return 0

    model: Any = None  # a torch.nn.Module
    for how, build in candidates(plan, weights_path, state):
        attempt, built = try_candidate(how, build, state, torch)
        result["attempts"].append(attempt)
        if built is not None and model is None:
            model, result["native"] = built, how
            result["model_class"] = attempt.get("model_class", "")
            result["parameters"] = parameter_count(model)
            if buildable_architecture(plan) and not how.startswith("architecture"):
                result["architecture_check"] = check_architecture(plan, state, torch)
            break
    if model is None:
        result["status"] = "no-model"
        write_result(plan["result"], result)
        return 0

    model.eval()
    arrays: dict[str, Any] = {}
    for index, input_set in enumerate(plan["input_sets"]):
        result["sets"].append(run_set(model, index, input_set, arrays, np, torch))
    np.savez(plan["out_file"], **arrays)
    write_result(plan["result"], result)
    return 0


def candidates(plan: NativePlan, weights_path: str, state: dict[str, Any]) -> Iterator[tuple[str, Builder]]:
    """(description, zero-argument builder) in the order the guideline's readers would use them."""
    factory = plan.get("factory")
    if factory:
        module_name, _, function_name = factory.partition(":")
        yield f"factory {factory} (model-check.toml)", lambda: call_factory(
            module_name, function_name, weights_path, state)
        return  # a configured factory is authoritative
    conventional = plan.get("conventional")
    if conventional:
        try:
            module = importlib.import_module(conventional)
        except (Exception, SystemExit):  # package code may call sys.exit at import
            yield f"import of {conventional}.py", raise_again(tail())
            module = None
        if module is not None:
            for name in CONVENTIONAL_FACTORIES:
                if callable(getattr(module, name, None)):
                    yield f"factory {conventional}:{name}", _factory_builder(conventional, name, weights_path, state)
    architecture = plan.get("architecture")
    if architecture:
        yield f"architecture {architecture} (safetensors metadata)", lambda: from_architecture(plan)


def _factory_builder(module_name: str, function_name: str, weights_path: str, state: dict[str, Any]) -> Builder:
    return lambda: call_factory(module_name, function_name, weights_path, state)


def raise_again(message: str) -> Builder:
    def builder() -> NoReturn:
        raise ImportError(message)
    return builder


def call_factory(module_name: str, function_name: str, weights_path: str, state: dict[str, Any]) -> object:
    module = importlib.import_module(module_name)
    factory = getattr(module, function_name)
    try:
        parameters = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if positional:
        first = positional[0].name.lower()
        if any(h == first or first.startswith(h) for h in STATE_DICT_PARAMETER_HINTS):
            return factory(state)
        if positional[0].default is inspect.Parameter.empty or any(h in first for h in WEIGHT_PARAMETER_HINTS):
            return factory(weights_path)
    return factory()


def buildable_architecture(plan: NativePlan) -> bool:
    """The `architecture` metadata names a model of a library model-check builds (timm.<name>,
    torchvision.models.<name>). Other values ("CloudRegimeCNN", "custom: ...") describe the model
    in words: they claim nothing model-check could check, so they are not tried against the weights."""
    library, _, name = (plan.get("architecture") or "").partition(".")
    return library in ARCHITECTURE_LIBRARIES and bool(name)


def from_architecture(plan: NativePlan) -> object:
    library, _, name = (plan["architecture"] or "").partition(".")
    kwargs: dict[str, Any] = {}
    if plan.get("num_classes"):
        kwargs["num_classes"] = int(plan["num_classes"] or 0)
    if library == "timm":
        timm = importlib.import_module("timm")  # the package environment's, if it has one

        if plan.get("in_chans"):
            kwargs["in_chans"] = int(plan["in_chans"] or 0)
        return timm.create_model(name, pretrained=False, **kwargs)
    if library == "torchvision":
        torchvision = importlib.import_module("torchvision")

        name = name.removeprefix("models.")
        return torchvision.models.get_model(name, weights=None, **kwargs)
    raise ValueError(f"unknown library {library!r}: model-check builds timm.<name> and torchvision.models.<name>")


def try_candidate(how: str, build: Builder, state: dict[str, Any], torch: ModuleType) -> tuple[LoadAttempt, Any]:
    attempt: LoadAttempt = {"how": how, "built": False, "loaded": False}
    try:
        model = build()
    except (Exception, SystemExit) as exc:
        # A factory that loads the weights itself fails inside load_state_dict: the weights do not fit.
        attempt["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        attempt["traceback"] = tail()
        attempt["state_dict_error"] = "loading state_dict" in str(exc)
        return attempt, None
    if not isinstance(model, torch.nn.Module):
        attempt["error"] = f"returned {type(model).__name__}, not a torch.nn.Module"
        return attempt, None
    attempt["built"] = True
    attempt["model_class"] = f"{type(model).__module__}.{type(model).__qualname__}"
    attempt["tensors"] = len(state)
    strict_load(model, state, attempt)
    return attempt, model if attempt["loaded"] else None


def parameter_count(model: Any) -> int:
    try:
        return int(sum(p.numel() for p in model.parameters()))
    except Exception:
        return -1


def strict_load(model: Any, state: dict[str, Any], attempt: LoadAttempt) -> None:
    """load_state_dict(strict=True) into the attempt, with the differing keys listed when it fails."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k}: file {list(state[k].shape)} vs model {list(expected[k].shape)}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    attempt.update({
        "missing": missing[:KEYS_SHOWN], "missing_count": len(missing),
        "unexpected": unexpected[:KEYS_SHOWN], "unexpected_count": len(unexpected),
        "mismatched": mismatched[:KEYS_SHOWN], "mismatched_count": len(mismatched),
        "loaded": False,
    })
    if missing or unexpected or mismatched:
        return
    try:
        model.load_state_dict(state, strict=True)
    except Exception as exc:
        attempt["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        return
    attempt["loaded"] = True


def check_architecture(plan: NativePlan, state: dict[str, Any], torch: ModuleType) -> LoadAttempt:
    """Does the declared architecture alone load these weights? (the factory did)"""
    attempt, _ = try_candidate(f"architecture {plan['architecture']}", lambda: from_architecture(plan), state, torch)
    return attempt


def run_set(model: Any, index: int, input_set: InputSetPlan, arrays: dict[str, Any], np: ModuleType,
            torch: ModuleType) -> SetRecord:
    record: SetRecord = {"id": input_set["id"], "outputs": []}
    try:
        tensors = [torch.from_numpy(np.ascontiguousarray(np.load(i["file"], allow_pickle=False)))
                   for i in input_set["inputs"]]
        with torch.no_grad():
            produced = model(*tensors)
        for position, (name, value) in enumerate(flatten(produced)):
            array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
            key = f"s{index}_o{position}"
            arrays[key] = array
            record["outputs"].append({"name": name, "key": key, "shape": list(array.shape), "dtype": str(array.dtype)})
    except (Exception, SystemExit) as exc:
        record["error"], record["traceback"] = f"{type(exc).__name__}: {exc}"[:2000], tail()
    return record


def flatten(produced: object) -> list[tuple[str | None, Any]]:
    """A model's return value as (name, tensor) pairs: a tensor, a tuple/list, or a dict."""
    if isinstance(produced, dict):
        return [(str(k), v) for k, v in produced.items()]
    if isinstance(produced, (tuple, list)):
        return [(None, v) for v in produced]
    return [(None, produced)]


if __name__ == "__main__":
    sys.exit(main())
