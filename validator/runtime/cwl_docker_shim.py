"""The `docker` program cwltool finds on its PATH inside the sandbox (copied there as a script).

It holds no engine access: it sends its arguments and stdin to model-check's broker over the unix
socket named by MODEL_CHECK_CWL_BROKER, and replays the broker's answer (stdout, stderr, exit code).
The broker decides what runs (validator.runtime.cwl_broker). Standard library only.
"""

import json
import os
import socket
import struct
import sys

MAX_STDIN = 64 * 1024 * 1024


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(min(1 << 20, size - len(data)))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        data += chunk
    return data


def main() -> int:
    argv = sys.argv[1:]
    stdin = b""
    if argv[:1] in (["run"], ["build"], ["load"]) and not sys.stdin.isatty():
        stdin = sys.stdin.buffer.read(MAX_STDIN)
    build_dir = argv[-1] if argv[:1] == ["build"] and argv else ""
    dockerfile = ""
    if build_dir and os.path.isfile(os.path.join(build_dir, "Dockerfile")):
        with open(os.path.join(build_dir, "Dockerfile"), encoding="utf-8", errors="replace") as handle:
            dockerfile = handle.read(1_000_000)
    request = json.dumps({"argv": argv, "stdin": stdin.decode("latin-1"), "dockerfile": dockerfile}).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(os.environ["MODEL_CHECK_CWL_BROKER"])
        sock.sendall(struct.pack(">Q", len(request)) + request)
        size = struct.unpack(">Q", _recv_exact(sock, 8))[0]
        answer = json.loads(_recv_exact(sock, size))
    sys.stdout.buffer.write(answer["stdout"].encode("latin-1"))
    sys.stdout.flush()
    sys.stderr.buffer.write(answer["stderr"].encode("latin-1"))
    return int(answer["returncode"])


if __name__ == "__main__":
    sys.exit(main())
