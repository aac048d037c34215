"""Linux seccomp: forbid the calling thread (and threads it starts) to ``connect()`` again.

Used when FFmpeg, inside one blocking call on a camera's ingest thread, is about to follow
an RTSP redirect to an address Beholder refuses (see :mod:`beholder.worker.redirects`).
FFmpeg offers no hook between its "Redirecting to" log line and the ``connect()`` that
follows, and its interrupt callback is only polled *after* ``connect()`` has sent the SYN.
A seccomp filter installed from that log line makes the ``connect()`` fail with ``EPERM``
(and the DNS lookup of a redirect host name with it: the resolver connects its UDP socket),
so nothing leaves the machine.

A seccomp filter can never be removed: only call this on a thread that ends after the
current call (an ingest thread is used for one connection attempt only). Other threads are
not affected (no ``SECCOMP_FILTER_FLAG_TSYNC``). Needs ``prctl(PR_SET_NO_NEW_PRIVS)``, which
is per thread too.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import sys

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_ERRNO = 0x00050000

# BPF opcodes
_LD_W_ABS = 0x00 | 0x00 | 0x20
_JEQ_K = 0x05 | 0x10 | 0x00
_JGE_K = 0x05 | 0x30 | 0x00
_RET_K = 0x06 | 0x00

# (AUDIT_ARCH, __NR_connect) per machine
_ARCHES = {
    "x86_64": (0xC000003E, 42),
    "aarch64": (0xC00000B7, 203),
}
_X32_SYSCALL_BIT = 0x40000000  # x32 ABI numbers on x86_64: refused too


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def supported() -> bool:
    """Whether this platform has the filter (Linux on x86_64 or aarch64)."""
    return sys.platform == "linux" and platform.machine() in _ARCHES


def deny_connect_in_this_thread() -> bool:
    """Install the filter on the calling thread. Returns False (nothing changed) when the
    platform or the kernel does not allow it; never raises."""
    if not supported():
        return False
    arch, nr_connect = _ARCHES[platform.machine()]
    deny = _SECCOMP_RET_ERRNO | errno.EPERM
    program = [
        _SockFilter(_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        _SockFilter(_JEQ_K, 0, 4, arch),  # another ABI: deny
        _SockFilter(_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
        _SockFilter(_JEQ_K, 2, 0, nr_connect),  # connect: deny
        _SockFilter(_JGE_K, 1, 0, _X32_SYSCALL_BIT),  # x32 numbers: deny
        _SockFilter(_RET_K, 0, 0, _SECCOMP_RET_ALLOW),
        _SockFilter(_RET_K, 0, 0, deny),
    ]
    filters = (_SockFilter * len(program))(*program)
    prog = _SockFprog(len(program), filters)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return False
        return bool(
            libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) == 0
        )
    except (OSError, AttributeError):
        return False


__all__ = ["deny_connect_in_this_thread", "supported"]
