"""Notebook probe: execute a notebook from start to finish with nbclient and an IPython kernel.

Runs with the PACKAGE environment's Python, inside model-check's sandbox, in a scratch copy of the
package, so the client and its kernel are both sandboxed (no secrets, no network):

    python notebook_probe.py PLAN.json

PLAN.json (written by validator.checks.inference):
    notebook   path of the .ipynb file
    layer      a directory holding ipykernel/nbclient for this Python (model-check's tool layer),
               or null when the environment has them. It is APPENDED to sys.path, so the
               package's own pins always win over the layer's copies.
    timeout_s  per-cell timeout
    result     path of the JSON result written here

The kernel talks to the client over Unix sockets (ZeroMQ ipc transport): it works in a network
namespace that has no interface up, where TCP on localhost would not.

The plan and result types (validator.runtime.probes.protocol) are named for the type checker only.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: nothing here is evaluated by the probe's Python
    from validator.runtime.probes.protocol import NotebookPlan, NotebookResult, NotebookStatus

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
KERNEL_NAME = "model-check-python"


def main() -> int:
    plan: NotebookPlan = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    result = execute(plan)
    Path(plan["result"]).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


def execute(plan: NotebookPlan) -> NotebookResult:
    layer = plan.get("layer")
    if layer:
        sys.path.append(layer)
    try:
        import nbformat
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import AsyncKernelManager
        from nbclient import NotebookClient
        from nbclient.exceptions import (
            CellExecutionError,
            CellTimeoutError,
            DeadKernelError,
        )
    except Exception as exc:
        return {"status": "unavailable", "reason": f"{type(exc).__name__}: {exc}"}

    try:
        notebook = nbformat.read(plan["notebook"], as_version=4)  # type: ignore[no-untyped-call]  # nbformat has no annotations
    except Exception as exc:
        return {"status": "unreadable", "reason": f"{type(exc).__name__}: {exc}"[:2000]}
    language = (notebook.metadata.get("kernelspec", {}).get("language")
                or notebook.metadata.get("language_info", {}).get("name") or "python")
    if str(language).lower() != "python":
        return {"status": "unsupported-kernel", "reason": f"the notebook's kernel language is {language!r}"}

    scratch = Path(tempfile.mkdtemp(prefix="model-check-kernel-"))
    write_kernel_spec(scratch / "kernels" / KERNEL_NAME, layer)
    started: dict[str, Any] = {"index": None}
    failure: dict[str, Any] = {}

    def on_cell_start(cell: object, cell_index: int, **_: object) -> None:
        started["index"] = cell_index

    def on_cell_error(cell: object, cell_index: int, execute_reply: object, **_: object) -> None:
        content = execute_reply.get("content", {}) if isinstance(execute_reply, dict) else {}
        failure.update(index=cell_index, ename=content.get("ename"), evalue=content.get("evalue"),
                       traceback=content.get("traceback") or [])

    manager = AsyncKernelManager(kernel_name=KERNEL_NAME, transport="ipc", ip=str(scratch / "kernel"),
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(scratch / "kernels")]))
    client = NotebookClient(notebook, km=manager, timeout=plan["timeout_s"], startup_timeout=120,
                            kernel_name=KERNEL_NAME, allow_errors=False, record_timing=False,
                            resources={"metadata": {"path": str(Path(plan["notebook"]).resolve().parent)}},
                            on_cell_start=on_cell_start, on_cell_error=on_cell_error)
    result: NotebookResult
    try:
        client.execute()
    except CellTimeoutError as exc:
        result = stopped("timeout", notebook, started["index"])
        result["reason"] = clean(str(exc))
    except DeadKernelError as exc:
        result = stopped("kernel-died", notebook, started["index"])
        result["reason"] = clean(str(exc))
    except CellExecutionError as exc:
        result = stopped("cell-error", notebook, failure.get("index", started["index"]))
        result["ename"] = failure.get("ename") or getattr(exc, "ename", None)
        result["evalue"] = clean(str(failure.get("evalue") or getattr(exc, "evalue", "")))
        result["traceback"] = clean("\n".join(failure.get("traceback") or [str(exc)]))[-4000:]
    except Exception as exc:
        result = stopped("error", notebook, started["index"])
        result["reason"] = clean(f"{type(exc).__name__}: {exc}")[-4000:]
    else:
        result = {"cells": len(notebook.cells), "code_cells": code_cells(notebook), "status": "ok"}
    return result


def write_kernel_spec(folder: Path, layer: str | None) -> None:
    """A kernel running this same interpreter, with the tool layer appended to its sys.path."""
    boot = ("import sys; sys.path.append(sys.argv.pop(1)) if len(sys.argv) > 1 and sys.argv[1] != '-f' else None; "
            "from ipykernel.kernelapp import launch_new_instance; launch_new_instance()")
    argv = [sys.executable, "-c", boot] + ([layer] if layer else []) + ["-f", "{connection_file}"]
    folder.mkdir(parents=True)
    (folder / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python (package environment)",
                                                    "language": "python"}), encoding="utf-8")


def code_cells(notebook: Any) -> int:
    return sum(1 for cell in notebook.cells if cell.cell_type == "code")


def stopped(status: NotebookStatus, notebook: Any, index: int | None) -> NotebookResult:
    """The result of a run that stopped in cell `index` (None: before any cell), before the details of why."""
    result: NotebookResult = {"cells": len(notebook.cells), "code_cells": code_cells(notebook), "cell_index": index,
                              "status": status}
    if index is not None and 0 <= index < len(notebook.cells):
        source = notebook.cells[index].source or ""
        result["first_line"] = next((line for line in source.splitlines() if line.strip()), "")[:200]
    return result


def clean(text: str) -> str:
    return ANSI.sub("", text)


if __name__ == "__main__":
    sys.exit(main())
