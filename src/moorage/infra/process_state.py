"""What the supervisor knows and reports about each process: the states (running, backoff, stopped, failed),
how a run ended (``ExitInfo``), the status it reports (``ProcessStatus``), when it restarts (``RestartPolicy``) and
``_Managed``, the mutable per-process bookkeeping behind a status and a record.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from dataclasses import dataclass

from .process_records import ProcessRecord, ProcessSpec
from .procfs import _still_running, _try_reap

RUNNING = "running"
BACKOFF = "backoff"
STOPPED = "stopped"
FAILED = "failed"
STATES = (RUNNING, BACKOFF, STOPPED, FAILED)


@dataclass(frozen=True)
class ExitInfo:
    """How a run ended. returncode/signal are both None when it is unknown (adopted, not our child) or when the
    program could not be started at all (then ``error`` says why)."""

    at: float  # wall-clock seconds
    uptime: float  # seconds the run lasted (best effort)
    returncode: int | None = None
    signal: int | None = None
    error: str | None = None

    @classmethod
    def from_wait_status(cls, status: int, at: float, uptime: float) -> ExitInfo:
        return cls.from_returncode(os.waitstatus_to_exitcode(status), at, uptime)

    @classmethod
    def from_returncode(cls, returncode: int, at: float, uptime: float) -> ExitInfo:
        if returncode < 0:
            return cls(at=at, uptime=uptime, signal=-returncode)
        return cls(at=at, uptime=uptime, returncode=returncode)

    def describe(self) -> str:
        if self.error is not None:
            return self.error
        if self.signal is not None:
            try:
                signame = signal.Signals(self.signal).name
            except ValueError:
                signame = f"signal {self.signal}"
            return f"killed by {signame} after {self.uptime:.1f}s"
        if self.returncode is not None:
            return f"exited with code {self.returncode} after {self.uptime:.1f}s"
        return f"exited after {self.uptime:.1f}s (status unknown: adopted process)"


@dataclass(frozen=True)
class ProcessStatus:
    name: str
    state: str  # running | backoff | stopped | failed
    pid: int | None
    restarts: int  # restarts after unexpected exits (kept in the record, so it survives adoption)
    last_exit: ExitInfo | None
    last_error_tail: str | None  # last log lines of the run that ended last (or why it could not start)
    started_at: float | None  # wall-clock seconds of the current run
    adopted: bool  # the current run was started by an earlier supervisor
    fingerprint: str | None = None
    consecutive_failures: int = 0
    next_restart_at: float | None = None  # wall-clock seconds, while in backoff/failed without a process


@dataclass(frozen=True)
class RestartPolicy:
    initial_delay: float = 0.5
    factor: float = 2.0
    max_delay: float = 30.0
    stable_after: float = 60.0  # a run that lasted this long resets the delay and the failure count
    max_failures: int = 10  # consecutive quick failures before the state is "failed" (retries go on at max_delay)
    recover_after: float = 5.0  # a "failed" process that stays up this long is "running" again

    def delay(self, failures: int) -> float:
        if failures >= self.max_failures:
            return self.max_delay
        return min(self.max_delay, self.initial_delay * self.factor ** max(0, failures - 1))


class _Managed:
    def __init__(self, spec: ProcessSpec):
        self.spec = spec
        self.state = STOPPED
        self.pid: int | None = None
        self.pgid: int | None = None
        self.popen: subprocess.Popen | None = None  # set when the process is our child
        self.pidfd: int | None = None
        self.starttime = 0
        self.cmdline: tuple[str, ...] = ()
        self.boot_id = ""
        self.log_offset = 0
        self.started_at: float | None = None
        self.started_mono: float | None = None
        self.adopted = False
        self.restarts = 0
        self.consecutive_failures = 0
        self.last_exit: ExitInfo | None = None
        self.last_error_tail: str | None = None
        self.next_restart_at: float | None = None
        self.task: asyncio.Task | None = None
        self.notified: tuple[str, int | None] | None = None

    def status(self) -> ProcessStatus:
        return ProcessStatus(
            name=self.spec.name, state=self.state, pid=self.pid, restarts=self.restarts, last_exit=self.last_exit,
            last_error_tail=self.last_error_tail, started_at=self.started_at, adopted=self.adopted,
            fingerprint=self.spec.fingerprint, consecutive_failures=self.consecutive_failures,
            next_restart_at=self.next_restart_at,
        )

    def uptime(self) -> float:
        if self.started_mono is not None:
            return time.monotonic() - self.started_mono
        if self.started_at is not None:
            return max(0.0, time.time() - self.started_at)
        return 0.0

    def record(self) -> ProcessRecord:
        assert self.pid is not None and self.pgid is not None and self.started_at is not None
        return ProcessRecord(
            name=self.spec.name, pid=self.pid, pgid=self.pgid, starttime=self.starttime, boot_id=self.boot_id,
            fingerprint=self.spec.fingerprint, argv=tuple(self.spec.argv), cmdline=self.cmdline,
            cwd=str(self.spec.working_dir), log_path=str(self.spec.log_path), log_offset=self.log_offset,
            started_at=self.started_at, restarts=self.restarts,
        )

    def leader_alive(self) -> bool:
        """Whether the current process still runs; reaps it when it is our exited child."""
        if self.pid is None:
            return False
        if self.popen is not None:
            return self.popen.poll() is None
        if _still_running(self.pid, self.starttime, self.boot_id):
            return True
        _try_reap(self.pid)
        return False


__all__ = ["BACKOFF", "ExitInfo", "FAILED", "ProcessStatus", "RUNNING", "RestartPolicy", "STATES", "STOPPED"]
