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
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
KERNEL_NAME = "model-check-python"


def main() -> int:
    plan = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    result = execute(plan)
    Path(plan["result"]).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


def execute(plan: dict[str, Any]) -> dict[str, Any]:
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
        notebook = nbformat.read(plan["notebook"], as_version=4)
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

    def on_cell_start(cell, cell_index, **_):
        started["index"] = cell_index

    def on_cell_error(cell, cell_index, execute_reply, **_):
        content = execute_reply.get("content", {}) if isinstance(execute_reply, dict) else {}
        failure.update(index=cell_index, ename=content.get("ename"), evalue=content.get("evalue"),
                       traceback=content.get("traceback") or [])

    manager = AsyncKernelManager(kernel_name=KERNEL_NAME, transport="ipc", ip=str(scratch / "kernel"),
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(scratch / "kernels")]))
    client = NotebookClient(notebook, km=manager, timeout=plan["timeout_s"], startup_timeout=120,
                            kernel_name=KERNEL_NAME, allow_errors=False, record_timing=False,
                            resources={"metadata": {"path": str(Path(plan["notebook"]).resolve().parent)}},
                            on_cell_start=on_cell_start, on_cell_error=on_cell_error)
    code_cells = sum(1 for cell in notebook.cells if cell.cell_type == "code")
    base = {"cells": len(notebook.cells), "code_cells": code_cells}
    try:
        client.execute()
    except CellTimeoutError as exc:
        return {**base, **cell_info(notebook, started["index"]), "status": "timeout", "reason": clean(str(exc))}
    except DeadKernelError as exc:
        return {**base, **cell_info(notebook, started["index"]), "status": "kernel-died", "reason": clean(str(exc))}
    except CellExecutionError as exc:
        index = failure.get("index", started["index"])
        return {**base, **cell_info(notebook, index), "status": "cell-error",
                "ename": failure.get("ename") or getattr(exc, "ename", None),
                "evalue": clean(str(failure.get("evalue") or getattr(exc, "evalue", ""))),
                "traceback": clean("\n".join(failure.get("traceback") or [str(exc)]))[-4000:]}
    except Exception as exc:
        return {**base, **cell_info(notebook, started["index"]), "status": "error",
                "reason": clean(f"{type(exc).__name__}: {exc}")[-4000:]}
    return {**base, "status": "ok"}


def write_kernel_spec(folder: Path, layer: str | None) -> None:
    """A kernel running this same interpreter, with the tool layer appended to its sys.path."""
    boot = ("import sys; sys.path.append(sys.argv.pop(1)) if len(sys.argv) > 1 and sys.argv[1] != '-f' else None; "
            "from ipykernel.kernelapp import launch_new_instance; launch_new_instance()")
    argv = [sys.executable, "-c", boot] + ([layer] if layer else []) + ["-f", "{connection_file}"]
    folder.mkdir(parents=True)
    (folder / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python (package environment)",
                                                    "language": "python"}), encoding="utf-8")


def cell_info(notebook, index: int | None) -> dict[str, Any]:
    if index is None or not 0 <= index < len(notebook.cells):
        return {"cell_index": index}
    source = notebook.cells[index].source or ""
    first = next((line for line in source.splitlines() if line.strip()), "")
    return {"cell_index": index, "first_line": first[:200]}


def clean(text: str) -> str:
    return ANSI.sub("", text)


if __name__ == "__main__":
    sys.exit(main())
