"""Nothing model-check starts on a Docker engine outlives it: cleanup on every exit path.

Every container and volume this process creates carries the label `model-check.run=<RUN_ID>`
(one id per process). Build steps are containers the engine makes itself, without our labels: the
build watcher registers their ids here while a build runs. `cleanup()` removes all of them; it runs
- in the `finally` of each run and build (the normal path, one container at a time);
- at interpreter exit (atexit: exceptions, sys.exit, the end of main);
- on SIGTERM, SIGINT and SIGHUP, before the signal's usual effect (KeyboardInterrupt, or exit
  status 128 + N): removing the containers first also ends the threads waiting on them, so the
  exit is prompt. The handlers are installed, from the main thread, by the first docker build of
  the process, and only over the default ones (an application's own handler is left alone).
A SIGKILL leaves them behind, labelled: `docker rm -f $(docker ps -aq --filter label=model-check)`.
"""

from __future__ import annotations

import atexit
import signal
import sys
import threading
import uuid
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the docker SDK is imported where an engine is used (CLI start-up: issue 16)
    from docker.client import DockerClient

RUN_LABEL = "model-check.run"
RUN_ID = uuid.uuid4().hex[:16]
SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP")

_lock = threading.RLock()  # re-entrant: a signal handler may run while this thread holds it
_clients: dict[str, Callable[[], DockerClient]] = {}  # how to reach each engine this process used, by address
_build_containers: dict[str, Callable[[], DockerClient]] = {}  # running build steps: id -> engine
_installed = False


def labels() -> dict[str, str]:
    """The labels that mark a container or volume as this process's."""
    return {"model-check": "1", RUN_LABEL: RUN_ID}


def register_engine(address: str, make_client: Callable[[], DockerClient]) -> None:
    """Remember the engine at `address` to clean up at exit; installs the exit hooks on first use."""
    with _lock:
        if not _clients:
            atexit.register(cleanup)
        _clients.setdefault(address, make_client)
    install_signal_handlers()


def track_build_container(container_id: str, make_client: Callable[[], DockerClient]) -> None:
    with _lock:
        _build_containers[container_id] = make_client


def untrack_build_container(container_id: str) -> None:
    with _lock:
        _build_containers.pop(container_id, None)


def cleanup() -> list[str]:
    """Remove every container and volume of this process on every engine it used; the ids removed."""
    with _lock:
        clients = list(_clients.values())
        builds = dict(_build_containers)
    removed: list[str] = []
    for container_id, make_client in builds.items():
        try:
            client = make_client()
            client.api.remove_container(container_id, force=True, v=True)
            removed.append(container_id)
        except Exception:  # gone already, or the engine is: nothing more to do
            pass
        untrack_build_container(container_id)
    for make_client in clients:
        try:
            client = make_client()
            selector: dict[str, str | list[str] | bool] = {"label": f"{RUN_LABEL}={RUN_ID}"}
            for container in client.containers.list(all=True, filters=selector):
                try:
                    container.remove(force=True, v=True)
                    removed.append(container.id or "")  # a listed container always has its id
                except Exception:
                    pass
            for volume in client.volumes.list(filters=selector):
                try:
                    volume.remove(force=True)
                    removed.append(volume.name)
                except Exception:
                    pass
        except Exception:
            pass
    return removed


def install_signal_handlers() -> None:
    """Clean up on SIGTERM/SIGINT/SIGHUP where the handler is still the default (main thread only)."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    _installed = True
    for name in SIGNALS:
        number = getattr(signal, name, None)
        if number is None:
            continue
        previous = signal.getsignal(number)
        if previous in (signal.SIG_DFL, signal.default_int_handler):
            signal.signal(number, _handler(previous))


def _handler(previous: Any) -> Callable[[int, FrameType | None], None]:
    def handle(number: int, frame: FrameType | None) -> None:
        cleanup()
        if previous is signal.default_int_handler:
            raise KeyboardInterrupt
        sys.exit(128 + number)  # SIG_DFL would end the process without running `finally` or atexit

    return handle
