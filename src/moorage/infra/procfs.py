"""Linux process primitives, read from /proc: a process's stat and cmdline, the boot id and boot time, whether
a (boot, pid, starttime, cmdline) identity still names the same live process, reaping, process groups (membership,
signalling, SIGTERM-then-SIGKILL termination) and pidfds.

Linux only: everything about a process is read from /proc.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

log = logging.getLogger(__name__)

# After SIGKILL, how long to wait for the group to disappear before giving up (uninterruptible sleep, NFS, …).
KILL_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class _ProcStat:
    state: str
    ppid: int
    pgid: int
    starttime: int  # field 22: clock ticks after boot


def _read_stat(pid: int) -> _ProcStat | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            data = file.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself contain spaces and parentheses.
    rest = data[data.rfind(b")") + 2:].split()
    try:
        return _ProcStat(state=rest[0].decode(), ppid=int(rest[1]), pgid=int(rest[2]), starttime=int(rest[19]))
    except (IndexError, ValueError):
        return None


def _read_cmdline(pid: int) -> tuple[str, ...] | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            data = file.read()
    except OSError:
        return None
    if not data:
        return ()
    parts = data.split(b"\0")
    if parts[-1] == b"":
        parts.pop()
    return tuple(os.fsdecode(part) for part in parts)


_BOOT_ID: str | None = None
_BOOT_TIME: float | None = None


def _boot_id() -> str:
    global _BOOT_ID
    if _BOOT_ID is None:
        try:
            _BOOT_ID = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        except OSError:
            _BOOT_ID = ""
    return _BOOT_ID


def _boot_time() -> float:
    global _BOOT_TIME
    if _BOOT_TIME is None:
        _BOOT_TIME = 0.0
        try:
            for line in Path("/proc/stat").read_text().splitlines():
                if line.startswith("btime "):
                    _BOOT_TIME = float(line.split()[1])
                    break
        except OSError:
            pass
    return _BOOT_TIME


def _wall_time_of(starttime: int) -> float:
    return _boot_time() + starttime / os.sysconf("SC_CLK_TCK")


def _is_dead_state(state: str) -> bool:
    return state in ("Z", "X", "x")


def _still_running(pid: int, starttime: int, boot_id: str) -> bool:
    """Whether the process identified by (boot, pid, starttime) has not exited yet (a zombie has).

    Used to follow a process whose identity was already checked: while it exits, its cmdline reads empty (its memory
    is released) before it becomes a zombie, so the cmdline must not be part of this test."""
    if pid <= 0 or boot_id != _boot_id():
        return False
    stat = _read_stat(pid)
    return stat is not None and not _is_dead_state(stat.state) and stat.starttime == starttime


def _same_process(pid: int, starttime: int, cmdline: Sequence[str], boot_id: str) -> bool:
    """True when ``pid`` is still the very process described: same boot, pid, starttime and cmdline, not a zombie.
    A record failing this test is treated as dead: never adopted, never signalled."""
    return _still_running(pid, starttime, boot_id) and _read_cmdline(pid) == tuple(cmdline)


def _try_reap(pid: int) -> int | None:
    """Reap ``pid`` if it is our exited child; return its wait status, else None."""
    try:
        reaped, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return status if reaped == pid else None


def _group_has_members(pgid: int) -> bool:
    """Whether any live (non-zombie) process is in process group ``pgid``."""
    if pgid <= 1:
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    # kill(0) also succeeds for zombies (and PID 1 in containers does not always reap): look closer.
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for entry in entries:
        if entry.isdigit():
            stat = _read_stat(int(entry))
            if stat is not None and stat.pgid == pgid and not _is_dead_state(stat.state):
                return True
    return False


def _signal_group(pgid: int, pid: int | None, signum: int) -> None:
    if pgid > 1:
        try:
            os.killpg(pgid, signum)
        except (ProcessLookupError, PermissionError):
            pass
    if pid is not None and pid > 1:
        # The leader may have left its group (setpgid); it is still ours.
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def _pidfd_open(pid: int) -> int | None:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return opener(pid)
    except OSError:
        return None


def _close_fd(fd: int | None) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


async def _terminate(pgid: int, pid: int, leader_alive: Callable[[], bool], timeout: float) -> None:
    """SIGTERM the group (and the leader), wait up to ``timeout`` for all of it to go, then SIGKILL."""

    def alive() -> bool:
        # Evaluate both: leader_alive() also reaps the leader, which must happen before the group can look empty.
        leader = leader_alive()
        return _group_has_members(pgid) or leader

    if not alive():
        return
    _signal_group(pgid, pid if leader_alive() else None, signal.SIGTERM)
    deadline = time.monotonic() + max(0.0, timeout)
    pause = 0.01
    while time.monotonic() < deadline:
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.1)
        if not alive():
            return
    log.warning("process group %d still alive %.1fs after SIGTERM, sending SIGKILL", pgid, timeout)
    _signal_group(pgid, pid if leader_alive() else None, signal.SIGKILL)
    deadline = time.monotonic() + KILL_WAIT_SECONDS
    while alive() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
