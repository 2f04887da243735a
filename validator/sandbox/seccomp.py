"""A seccomp filter that refuses new unix sockets, for sandboxed runs that share the host's network.

Abstract unix sockets (`@/containerd-shim/…`, D-Bus, X11) belong to a network namespace, not to the
file system: a run with `Limits.network` shares the host's, so hiding files does not hide them. The
filter makes `socket(AF_UNIX, …)` fail with EACCES (socketpair() stays allowed: it reaches nothing),
refuses io_uring (which creates sockets past seccomp) and every syscall of a foreign ABI (x32, i386),
through which the first check could be bypassed. bwrap loads it (`--seccomp FD`) right before exec.
"""

from __future__ import annotations

import errno
import platform
import struct

_LD_W_ABS, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06
_ALLOW = 0x7FFF0000
_DENY = 0x00050000 | errno.EACCES  # SECCOMP_RET_ERRNO
_X32_BIT = 0x40000000
_AF_UNIX = 1
_IO_URING_SETUP = 425  # the same number on x86_64 and aarch64
# machine -> (AUDIT_ARCH_*, __NR_socket)
_ARCHES = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def unix_socket_filter(machine: str | None = None) -> bytes | None:
    """The compiled BPF program for this machine's architecture, or None where it is not known."""
    arch = _ARCHES.get(machine or platform.machine())
    if arch is None:
        return None
    audit_arch, nr_socket = arch
    program = [
        _op(_LD_W_ABS, 4),  # 0: seccomp_data.arch
        _op(_JEQ, audit_arch, 0, 7),  # 1: a foreign ABI -> 9
        _op(_LD_W_ABS, 0),  # 2: seccomp_data.nr
        _op(_JGE, _X32_BIT, 5, 0),  # 3: x32 syscalls -> 9
        _op(_JEQ, _IO_URING_SETUP, 4, 0),  # 4: io_uring -> 9
        _op(_JEQ, nr_socket, 0, 2),  # 5: not socket() -> 8
        _op(_LD_W_ABS, 16),  # 6: args[0], the address family (low 32 bits, little-endian)
        _op(_JEQ, _AF_UNIX, 1, 0),  # 7: AF_UNIX -> 9
        _op(_RET, _ALLOW),  # 8
        _op(_RET, _DENY),  # 9
    ]
    return b"".join(program)
