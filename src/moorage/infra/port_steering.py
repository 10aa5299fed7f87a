"""Steering new connections between two kube-apiservers that share one port (SO_REUSEPORT).

During a version update the old and the new kube-apiserver listen on the same address and port, and the
kernel hands each new connection to either. Before the old one stops, Moorage attaches a classic BPF
program to the port's reuseport group (SO_ATTACH_REUSEPORT_CBPF) that sends every new connection to the
second socket, the new kube-apiserver (NEW_ONLY), and lets the old one's accept queue drain: otherwise the
connections waiting there when it closes its listener are reset (measured: about one failed request in
two hand-overs with a client reading every 5 ms; none in 13 with steering). An index the group no longer
has (once the old socket closed) falls back to the kernel's hash, so the program can stay.

During the new one's start-up the port is shared by the kernel's hash (SHARE): its own loopback client
(informers, start-up hooks) connects to the same address and port and must reach it, and nothing at L4
tells that client from other local clients (sending every other connection to the old one stalled the
new one's start for a minute).

The program is attached through a duplicate of the old process's listening socket (pidfd_getfd), so this
needs the right to ptrace it (same user, or root) and a plain TCP listener (Go listens with MPTCP unless
GODEBUG=multipathtcp=0, and MPTCP listeners refuse the program); without them `steer` logs why and returns
False, and the kernel's hash decides.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import socket
from pathlib import Path

log = logging.getLogger(__name__)

SO_ATTACH_REUSEPORT_CBPF = 51
SO_DETACH_REUSEPORT_BPF = 68
SYS_PIDFD_OPEN = 434
SYS_PIDFD_GETFD = 438

# Classic BPF opcodes.
_RET_K = 0x06 | 0x00  # BPF_RET | BPF_K


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _program(*instructions: tuple[int, int, int, int]):
    array = (_SockFilter * len(instructions))(*[_SockFilter(*i) for i in instructions])
    return array, _SockFprog(len(instructions), array)


NEW_ONLY = ((_RET_K, 0, 0, 1),)
SHARE = None

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def listening_socket_fd(pid: int, port: int) -> int | None:
    """The fd number, in process ``pid``, of its TCP socket listening on 127.0.0.1:``port``."""
    wanted = f"0100007F:{port:04X}"
    inodes = set()
    try:
        for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1] == wanted and fields[3] == "0A":  # LISTEN
                inodes.add(fields[9])
        for entry in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(entry)
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return int(entry.name)
    except OSError:
        return None
    return None


def _duplicate(pid: int, fd: int) -> int:
    pidfd = _libc.syscall(SYS_PIDFD_OPEN, pid, 0)
    if pidfd < 0:
        raise OSError(ctypes.get_errno(), f"pidfd_open({pid}): {os.strerror(ctypes.get_errno())}")
    try:
        copy = _libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
        if copy < 0:
            raise OSError(ctypes.get_errno(), f"pidfd_getfd({pid}, {fd}): {os.strerror(ctypes.get_errno())}")
        return copy
    finally:
        os.close(pidfd)


def steer(pid: int, port: int, program) -> bool:
    """Attach ``program`` (NEW_ONLY, or SHARE to detach any) to the reuseport group of the socket process
    ``pid`` listens on at 127.0.0.1:``port``. False (and a log line) when it cannot be done."""
    fd = listening_socket_fd(pid, port)
    if fd is None:
        log.warning("port steering: no socket of pid %d listens on 127.0.0.1:%d", pid, port)
        return False
    try:
        copy = _duplicate(pid, fd)
    except OSError as error:
        log.warning("port steering off (the kernel's hash decides): %s", error)
        return False
    try:
        if program is SHARE:
            zero = ctypes.c_int(0)
            result = _libc.setsockopt(copy, socket.SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, ctypes.byref(zero),
                                      ctypes.sizeof(zero))
            if result != 0 and ctypes.get_errno() == 2:  # ENOENT: nothing attached
                return True
        else:
            _, fprog = keep = _program(*program)
            result = _libc.setsockopt(copy, socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, ctypes.byref(fprog),
                                      ctypes.sizeof(fprog))
            del keep
        if result != 0:
            log.warning("port steering off: setsockopt: %s", os.strerror(ctypes.get_errno()))
            return False
        return True
    finally:
        os.close(copy)
