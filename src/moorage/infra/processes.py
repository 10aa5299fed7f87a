"""Process supervisor: runs upstream binaries (etcd, kube-apiserver, …) as detached children.

What it guarantees:
- Children live in their own session and process group (``start_new_session``), read stdin from /dev/null and
  append stdout+stderr to a log file. Ctrl-C on Moorage's terminal and Moorage's death by SIGKILL leave them running.
- Each running process has a record (one JSON file per process in ``spec.state_dir``). A later Supervisor reads it
  and ADOPTS the process when it is still the same process (same boot, pid, /proc starttime and cmdline) and runs
  the same configuration (fingerprint). A pid that was reused by something else is never adopted nor signalled.
- A background task per process notices exits: pidfd (works for adopted, non-child processes too) with /proc
  polling as the fallback; own children are reaped. Unexpected exits are restarted with exponential backoff; after
  ``max_failures`` consecutive quick failures the state is "failed" (with the log tail as the reason) but retries
  go on at the maximum delay, so the process recovers when the cause goes away.
- ``stop`` signals the whole process group: SIGTERM, then SIGKILL after the timeout. ``detach``/``close`` stop
  watching and leave the processes running.

Linux only: everything about a process is read from /proc.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
import os
import signal
import subprocess
import time
import types
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cached_property
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping, Sequence, Union
from urllib.parse import quote

log = logging.getLogger(__name__)

RUNNING = "running"
BACKOFF = "backoff"
STOPPED = "stopped"
FAILED = "failed"
STATES = (RUNNING, BACKOFF, STOPPED, FAILED)

RECORD_VERSION = 1
RECORD_SUFFIX = ".json"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TAIL_LINES = 20
TAIL_BYTES = 64 * 1024
DEFAULT_STOP_TIMEOUT = 10.0
# With a pidfd the exit wakes us at once; the periodic check is only a safety net.
PIDFD_RECHECK_SECONDS = 5.0
# After SIGKILL, how long to wait for the group to disappear before giving up (uninterruptible sleep, NFS, …).
KILL_WAIT_SECONDS = 5.0

OnChange = Callable[["ProcessStatus"], Union[None, Awaitable[None]]]


# --------------------------------------------------------------------------------------------------------------------
# /proc


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


# --------------------------------------------------------------------------------------------------------------------
# Specs, records, statuses


def _minimal_env(cwd: Path) -> dict[str, str]:
    # Fixed on purpose: the fingerprint covers the effective environment, so nothing inherited from the shell
    # that ran `moorage up` may leak in (or every new shell would restart every control plane).
    return {"PATH": DEFAULT_PATH, "LANG": "C.UTF-8", "HOME": str(cwd)}


@dataclass(frozen=True, kw_only=True)
class ProcessSpec:
    """How to run one process. ``name`` is the unique key, e.g. "etcd" or "123456789012/us-east-1/demo/kube-apiserver".

    ``env`` is merged over a minimal environment (PATH, LANG=C.UTF-8, HOME=cwd). ``cwd`` defaults to ``state_dir``.
    ``fingerprint`` (sha256 of argv, effective env and cwd) identifies the configuration; log_path and state_dir are
    not part of it.
    """

    name: str
    argv: Sequence[str]
    log_path: Path
    state_dir: Path
    env: Mapping[str, str] = field(default_factory=dict, hash=False)
    cwd: Path | None = None

    def __post_init__(self) -> None:
        if not self.name or "\0" in self.name:
            raise ValueError(f"invalid process name {self.name!r}")
        if isinstance(self.argv, (str, bytes)):
            raise TypeError(f"{self.name}: argv must be a list of arguments, not a string")
        argv = tuple(os.fspath(arg) for arg in self.argv)
        if not argv or not argv[0]:
            raise ValueError(f"{self.name}: argv must name a program")
        object.__setattr__(self, "argv", argv)
        object.__setattr__(self, "env", types.MappingProxyType({str(k): str(v) for k, v in self.env.items()}))
        object.__setattr__(self, "log_path", Path(os.path.abspath(self.log_path)))
        object.__setattr__(self, "state_dir", Path(os.path.abspath(self.state_dir)))
        if self.cwd is not None:
            object.__setattr__(self, "cwd", Path(os.path.abspath(self.cwd)))

    @property
    def working_dir(self) -> Path:
        return self.cwd if self.cwd is not None else self.state_dir

    def full_env(self) -> dict[str, str]:
        return {**_minimal_env(self.working_dir), **self.env}

    @cached_property
    def fingerprint(self) -> str:
        canonical = json.dumps(
            {"argv": list(self.argv), "env": self.full_env(), "cwd": str(self.working_dir)},
            sort_keys=True, separators=(",", ":"), ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()

    @property
    def record_path(self) -> Path:
        return record_path(self.state_dir, self.name)


def record_path(state_dir: Path | str, name: str) -> Path:
    """Where the record of process ``name`` lives: the name, percent-encoded, as a file name."""
    encoded = quote(name, safe="")
    if encoded.startswith("."):
        encoded = "%2E" + encoded[1:]  # never a hidden file (temporary files are hidden)
    if len(encoded) > 200:
        encoded = f"{encoded[:160]}~{hashlib.sha256(name.encode()).hexdigest()[:16]}"
    return Path(state_dir) / (encoded + RECORD_SUFFIX)


@dataclass(frozen=True)
class ProcessRecord:
    """What is on disk about a started process (see ``record_path``)."""

    name: str
    pid: int
    pgid: int
    starttime: int  # /proc/<pid>/stat field 22, clock ticks after boot
    boot_id: str  # /proc/sys/kernel/random/boot_id at start
    fingerprint: str
    argv: tuple[str, ...]
    cmdline: tuple[str, ...]  # /proc/<pid>/cmdline right after exec (differs from argv for #! scripts)
    cwd: str
    log_path: str
    log_offset: int  # size of the log when this run started: its own output begins here
    started_at: float  # wall-clock seconds
    restarts: int = 0
    path: Path | None = field(default=None, compare=False)

    def is_alive(self) -> bool:
        """True only if the recorded process itself still runs (same boot, pid, starttime and cmdline)."""
        return _same_process(self.pid, self.starttime, self.cmdline, self.boot_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": RECORD_VERSION, "name": self.name, "pid": self.pid, "pgid": self.pgid,
            "starttime": self.starttime, "boot_id": self.boot_id, "fingerprint": self.fingerprint,
            "argv": list(self.argv), "cmdline": list(self.cmdline), "cwd": self.cwd, "log_path": self.log_path,
            "log_offset": self.log_offset, "started_at": self.started_at, "restarts": self.restarts,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], path: Path | None = None) -> ProcessRecord:
        if data.get("version") != RECORD_VERSION:
            raise ValueError(f"unsupported record version {data.get('version')!r}")
        return cls(
            name=str(data["name"]), pid=int(data["pid"]), pgid=int(data.get("pgid", data["pid"])),
            starttime=int(data["starttime"]), boot_id=str(data["boot_id"]), fingerprint=str(data["fingerprint"]),
            argv=tuple(map(str, data["argv"])), cmdline=tuple(map(str, data.get("cmdline", data["argv"]))),
            cwd=str(data.get("cwd", "")), log_path=str(data.get("log_path", "")),
            log_offset=int(data.get("log_offset", 0)), started_at=float(data.get("started_at", 0.0)),
            restarts=int(data.get("restarts", 0)), path=path,
        )


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_record(state_dir: Path, record: ProcessRecord) -> Path:
    """Write atomically: temporary file, fsync, rename over the old one, fsync the directory."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    path = record_path(state_dir, record.name)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = (json.dumps(record.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode(
        "utf-8", "surrogateescape"
    )
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(state_dir)
    return path


def read_record(state_dir: Path | str, name: str) -> ProcessRecord | None:
    path = record_path(state_dir, name)
    try:
        record = _load_record(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("ignoring unreadable process record %s: %s", path, error)
        return None
    return record if record.name == name else None


def remove_record(state_dir: Path | str, name: str) -> None:
    path = record_path(state_dir, name)
    try:
        path.unlink()
    except FileNotFoundError:
        return
    _fsync_dir(path.parent)


def _load_record(path: Path) -> ProcessRecord:
    with open(path, "rb") as file:
        data = json.loads(file.read().decode("utf-8", "surrogateescape"))
    return ProcessRecord.from_json(data, path)


def list_records(state_dir: Path | str) -> list[ProcessRecord]:
    """Every readable record in ``state_dir``, sorted by name (alive or not: see ``ProcessRecord.is_alive``)."""
    directory = Path(state_dir)
    try:
        entries = sorted(directory.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    records = []
    for path in entries:
        if path.name.startswith(".") or not path.name.endswith(RECORD_SUFFIX):
            continue
        try:
            records.append(_load_record(path))
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("ignoring unreadable process record %s: %s", path, error)
    return sorted(records, key=lambda record: record.name)


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


# --------------------------------------------------------------------------------------------------------------------
# The supervisor


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


# Popen objects of children we stopped watching (detach) stay referenced so that their garbage collection neither
# warns nor reaps them behind the back of a later supervisor that adopts them.
_DETACHED_CHILDREN: list[subprocess.Popen] = []


def _read_tail(path: Path, offset: int, lines: int) -> str | None:
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            start = offset if 0 <= offset <= size else 0
            start = max(start, size - TAIL_BYTES)
            file.seek(start)
            data = file.read(size - start)
    except OSError:
        return None
    text = data.decode("utf-8", "replace").rstrip("\n")
    if not text:
        return None
    return "\n".join(text.splitlines()[-lines:])


class Supervisor:
    """Starts, adopts, watches, restarts and stops processes described by ``ProcessSpec``s.

    One instance per event loop. ``on_change(status)`` (plain function or coroutine function) is called, in order and
    outside the supervisor's own tasks, whenever a process's state or pid changes.
    """

    def __init__(
        self,
        *,
        on_change: OnChange | None = None,
        policy: RestartPolicy | None = None,
        poll_interval: float = 0.5,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
        tail_lines: int = TAIL_LINES,
        use_pidfd: bool = True,
    ):
        self.on_change = on_change
        self.policy = policy or RestartPolicy()
        self.poll_interval = poll_interval
        self.stop_timeout = stop_timeout
        self.tail_lines = tail_lines
        self.use_pidfd = use_pidfd
        self._procs: dict[str, _Managed] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._events: asyncio.Queue[ProcessStatus] | None = None
        self._notifier: asyncio.Task | None = None
        self._closed = False

    async def __aenter__(self) -> Supervisor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- queries

    def status(self, name: str) -> ProcessStatus:
        """The status of a process this supervisor manages (or stopped); KeyError for unknown names."""
        return self._procs[name].status()

    def statuses(self) -> dict[str, ProcessStatus]:
        return {name: managed.status() for name, managed in self._procs.items()}

    def names(self) -> list[str]:
        return list(self._procs)

    # ---- ensure

    async def ensure(self, spec: ProcessSpec) -> ProcessStatus:
        """Make ``spec`` run: keep or adopt a live process with the same fingerprint, replace one with another,
        start it otherwise. Idempotent."""
        self._check_open()
        async with self._lock(spec.name):
            self._check_open()
            managed = self._procs.get(spec.name)
            if managed is not None and managed.state != STOPPED:
                if managed.spec.fingerprint == spec.fingerprint:
                    self._update_spec(managed, spec)
                    return managed.status()
                log.info("%s: configuration changed, restarting", spec.name)
                await self._retire(managed, self.stop_timeout)
            return await self._adopt_or_start(spec)

    def _update_spec(self, managed: _Managed, spec: ProcessSpec) -> None:
        old = managed.spec
        managed.spec = spec
        if old.state_dir != spec.state_dir and managed.pid is not None:
            write_record(spec.state_dir, managed.record())
            remove_record(old.state_dir, old.name)

    async def _adopt_or_start(self, spec: ProcessSpec) -> ProcessStatus:
        managed = _Managed(spec)
        record = read_record(spec.state_dir, spec.name)
        if record is not None:
            if record.fingerprint == spec.fingerprint and record.is_alive() and self._adopt(managed, record):
                log.info("%s: adopted running process %d", spec.name, record.pid)
            else:
                if record.is_alive():
                    log.info("%s: recorded process %d runs another configuration, replacing it", spec.name, record.pid)
                    await _terminate(record.pgid, record.pid, lambda: _record_alive_or_reap(record), self.stop_timeout)
                remove_record(spec.state_dir, spec.name)
        if managed.pid is None:
            if self._spawn(managed):
                managed.state = RUNNING
            else:
                self._after_exit(managed, self._start_failure_exit(managed))
        self._procs[spec.name] = managed
        self._notify(managed)
        managed.task = asyncio.get_running_loop().create_task(self._watch(managed), name=f"supervise {spec.name}")
        return managed.status()

    def _adopt(self, managed: _Managed, record: ProcessRecord) -> bool:
        pidfd = _pidfd_open(record.pid) if self.use_pidfd else None
        # Checked again after opening the pidfd, so that the pidfd surely refers to the recorded process.
        if not record.is_alive():
            _close_fd(pidfd)
            return False
        managed.pid, managed.pgid, managed.pidfd = record.pid, record.pgid, pidfd
        managed.starttime, managed.cmdline, managed.boot_id = record.starttime, record.cmdline, record.boot_id
        managed.log_offset, managed.restarts = record.log_offset, record.restarts
        managed.started_at = _wall_time_of(record.starttime) if _boot_time() else record.started_at
        managed.started_mono = None
        managed.adopted = True
        managed.state = RUNNING
        return True

    def _spawn(self, managed: _Managed) -> bool:
        """Start the process (synchronously, so no cancellation can land between spawn and record)."""
        spec = managed.spec
        managed.popen = None
        try:
            for directory in {spec.state_dir, spec.log_path.parent, spec.working_dir}:
                directory.mkdir(parents=True, exist_ok=True)
            log_fd = os.open(spec.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
            try:
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                os.write(log_fd, f"--- moorage: starting {spec.name} at {stamp} ---\n".encode())
                managed.log_offset = os.fstat(log_fd).st_size
                popen = subprocess.Popen(
                    list(spec.argv), stdin=subprocess.DEVNULL, stdout=log_fd, stderr=subprocess.STDOUT,
                    cwd=spec.working_dir, env=spec.full_env(), start_new_session=True, close_fds=True,
                )
            finally:
                os.close(log_fd)
        except (OSError, subprocess.SubprocessError, ValueError) as error:
            managed.last_error_tail = f"could not start {spec.argv[0]}: {error}"
            managed.pid = None
            log.warning("%s: %s", spec.name, managed.last_error_tail)
            return False
        # Popen returns once exec succeeded, so /proc already shows the new program.
        pid = popen.pid
        stat = _read_stat(pid)
        managed.popen = popen
        managed.pid, managed.pgid = pid, pid
        managed.starttime = stat.starttime if stat else 0
        cmdline = _read_cmdline(pid)
        managed.cmdline = cmdline if cmdline else tuple(spec.argv)
        managed.boot_id = _boot_id()
        managed.started_at, managed.started_mono = time.time(), time.monotonic()
        managed.adopted = False
        managed.next_restart_at = None
        managed.pidfd = _pidfd_open(pid) if self.use_pidfd else None
        try:
            write_record(spec.state_dir, managed.record())
        except OSError as error:
            # Unrecorded, a later Moorage could neither adopt nor stop it: do not let it run.
            _signal_group(pid, pid, signal.SIGKILL)
            popen.wait()
            self._forget_process(managed)
            managed.last_error_tail = f"could not write the process record in {spec.state_dir}: {error}"
            log.warning("%s: %s", spec.name, managed.last_error_tail)
            return False
        log.info("%s: started pid %d", spec.name, pid)
        return True

    def _start_failure_exit(self, managed: _Managed) -> ExitInfo:
        return ExitInfo(at=time.time(), uptime=0.0, error=managed.last_error_tail)

    # ---- watching

    async def _watch(self, managed: _Managed) -> None:
        try:
            while True:
                try:
                    if managed.pid is not None:
                        exit_info = await self._wait_for_exit(managed)
                        self._after_exit(managed, exit_info)
                        self._notify(managed)
                    delay = (managed.next_restart_at or time.time()) - time.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    managed.restarts += 1
                    if self._spawn(managed):
                        if managed.state != FAILED:
                            managed.state = RUNNING
                    else:
                        self._after_exit(managed, self._start_failure_exit(managed))
                    self._notify(managed)
                except asyncio.CancelledError:
                    raise
                except Exception:  # the watcher must outlive any surprise; retry after a pause
                    log.exception("%s: supervisor error", managed.spec.name)
                    await asyncio.sleep(max(self.poll_interval, 1.0))
        finally:
            _close_fd(managed.pidfd)
            managed.pidfd = None

    async def _wait_for_exit(self, managed: _Managed) -> ExitInfo:
        loop = asyncio.get_running_loop()
        while True:
            exit_info = self._poll_exit(managed)
            if exit_info is not None:
                return exit_info
            timeout = PIDFD_RECHECK_SECONDS if managed.pidfd is not None else self.poll_interval
            if managed.consecutive_failures:
                remaining = self.policy.stable_after - managed.uptime()
                if remaining <= 0:
                    managed.consecutive_failures = 0  # stable again: the next failure starts from the first delay
                else:
                    timeout = min(timeout, remaining)
            if managed.state == FAILED:
                remaining = self.policy.recover_after - managed.uptime()
                if remaining <= 0:
                    log.info("%s: up for %.1fs, running again", managed.spec.name, managed.uptime())
                    managed.state = RUNNING
                    self._notify(managed)
                else:
                    timeout = min(timeout, remaining)
            if managed.pidfd is None:
                await asyncio.sleep(timeout)
                continue
            ready = loop.create_future()
            loop.add_reader(managed.pidfd, lambda: ready.done() or ready.set_result(None))
            try:
                await asyncio.wait({ready}, timeout=timeout)
            finally:
                loop.remove_reader(managed.pidfd)
            if ready.done():
                exit_info = self._poll_exit(managed)
                if exit_info is not None:
                    return exit_info
                # Readable yet alive (e.g. only a thread exited on an old kernel): fall back to polling.
                log.debug("%s: pidfd readable but process alive, polling instead", managed.spec.name)
                _close_fd(managed.pidfd)
                managed.pidfd = None

    def _poll_exit(self, managed: _Managed) -> ExitInfo | None:
        """ExitInfo once the current process has exited (reaping our own child), else None. Idempotent."""
        pid = managed.pid
        if pid is None:
            return ExitInfo(at=time.time(), uptime=0.0)
        uptime = managed.uptime()
        if managed.popen is not None:
            returncode = managed.popen.poll()
            if returncode is None:
                return None
            return ExitInfo.from_returncode(returncode, time.time(), uptime)
        if _still_running(pid, managed.starttime, managed.boot_id):
            return None
        status = _try_reap(pid)  # adopted from a supervisor in this same process: it is our zombie
        if status is not None:
            return ExitInfo.from_wait_status(status, time.time(), uptime)
        return ExitInfo(at=time.time(), uptime=uptime)

    def _after_exit(self, managed: _Managed, exit_info: ExitInfo) -> None:
        """Bookkeeping for an unexpected exit (or a failed start): failure count, backoff, state."""
        name = managed.spec.name
        if managed.pid is not None:
            tail = _read_tail(managed.spec.log_path, managed.log_offset, self.tail_lines)
            managed.last_error_tail = tail
            # Leftovers in its group (children of a crashed leader) would hold ports and files: kill them.
            if managed.pgid and _group_has_members(managed.pgid):
                _signal_group(managed.pgid, None, signal.SIGKILL)
            self._forget_process(managed)
        if exit_info.uptime >= self.policy.stable_after:
            managed.consecutive_failures = 0
        managed.consecutive_failures += 1
        managed.last_exit = exit_info
        delay = self.policy.delay(managed.consecutive_failures)
        managed.next_restart_at = time.time() + delay
        managed.state = FAILED if managed.consecutive_failures >= self.policy.max_failures else BACKOFF
        log.warning(
            "%s: %s; restart in %.1fs (%d consecutive failures)%s", name, exit_info.describe(), delay,
            managed.consecutive_failures, f"\n{managed.last_error_tail}" if managed.last_error_tail else "",
        )

    def _forget_process(self, managed: _Managed) -> None:
        _close_fd(managed.pidfd)
        managed.pidfd = None
        managed.pid = managed.pgid = None
        managed.popen = None
        managed.started_at = managed.started_mono = None
        managed.adopted = False

    # ---- stopping

    async def stop(self, name: str, timeout: float | None = None) -> ProcessStatus | None:
        """SIGTERM the process group, SIGKILL after ``timeout`` seconds; remove the record; no restart afterwards.
        Returns the final status, or None when ``name`` is not managed here."""
        if name not in self._procs:
            return None
        async with self._lock(name):
            managed = self._procs.get(name)
            if managed is None:
                return None
            if managed.state != STOPPED:
                await self._retire(managed, self.stop_timeout if timeout is None else timeout)
                managed.state = STOPPED
                managed.next_restart_at = None
                self._notify(managed)
            return managed.status()

    async def _retire(self, managed: _Managed, timeout: float) -> None:
        await self._cancel_watcher(managed)
        if managed.pid is not None:
            pid, pgid = managed.pid, managed.pgid or managed.pid
            await _terminate(pgid, pid, managed.leader_alive, timeout)
            log.info("%s: stopped pid %d", managed.spec.name, pid)
        remove_record(managed.spec.state_dir, managed.spec.name)
        self._forget_process(managed)

    async def _cancel_watcher(self, managed: _Managed) -> None:
        task, managed.task = managed.task, None
        if task is None or task is asyncio.current_task():
            return
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def stop_all(self, order: Sequence[str] = (), timeout: float | None = None) -> None:
        """Stop every managed process. ``order`` holds name patterns (fnmatch, e.g. "*/kube-apiserver", "etcd");
        each process belongs to the first pattern it matches. Processes matching no pattern are stopped first, then
        each pattern's processes in order; the processes of one step are stopped concurrently."""
        steps: dict[int, list[str]] = {}
        for name, managed in self._procs.items():
            if managed.state == STOPPED:
                continue
            index = next((i for i, pattern in enumerate(order) if fnmatchcase(name, pattern)), -1)
            steps.setdefault(index, []).append(name)
        for index in sorted(steps):
            await asyncio.gather(*(self.stop(name, timeout) for name in steps[index]))

    async def kill_recorded(self, name: str, state_dir: Path | str, timeout: float | None = None) -> bool:
        """Stop the process recorded under ``name`` in ``state_dir`` even without a spec (e.g. its cluster was
        deleted while Moorage was down) and remove the record. True if a live process was stopped."""
        timeout = self.stop_timeout if timeout is None else timeout
        managed = self._procs.get(name)
        state_dir = Path(os.path.abspath(state_dir))
        if managed is not None and managed.state != STOPPED and managed.spec.state_dir == state_dir:
            alive = managed.pid is not None
            await self.stop(name, timeout)
            return alive
        record = read_record(state_dir, name)
        if record is None:
            return False
        alive = record.is_alive()
        if alive:
            await _terminate(record.pgid, record.pid, lambda: _record_alive_or_reap(record), timeout)
        remove_record(state_dir, name)
        return alive

    def detach(self) -> None:
        """Stop watching without touching the processes: they keep running and their records stay, exactly as if
        Moorage had been SIGKILLed. Pending notifications are dropped. The supervisor cannot ``ensure`` afterwards."""
        self._release_watchers()
        if self._notifier is not None:
            self._notifier.cancel()

    async def close(self, notify_timeout: float = 2.0) -> None:
        """Like ``detach``, but waits for the watchers to end and gives pending notifications ``notify_timeout``."""
        tasks = self._release_watchers()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._notifier is not None and self._events is not None:
            try:
                await asyncio.wait_for(self._events.join(), notify_timeout)
            except asyncio.TimeoutError:
                pass
            self._notifier.cancel()
            await asyncio.gather(self._notifier, return_exceptions=True)

    def _release_watchers(self) -> list[asyncio.Task]:
        self._closed = True
        tasks = []
        for managed in self._procs.values():
            if managed.popen is not None and managed.popen.returncode is None:
                _DETACHED_CHILDREN.append(managed.popen)
            task, managed.task = managed.task, None
            if task is not None and not task.done():
                task.cancel()  # its finally closes the pidfd
                tasks.append(task)
            else:
                _close_fd(managed.pidfd)
                managed.pidfd = None
        return tasks

    # ---- internals

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the supervisor is closed")

    def _lock(self, name: str) -> asyncio.Lock:
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = asyncio.Lock()
        return lock

    def _notify(self, managed: _Managed) -> None:
        key = (managed.state, managed.pid)
        if key == managed.notified:
            return
        managed.notified = key
        if self.on_change is None or self._closed:
            return
        if self._events is None:
            self._events = asyncio.Queue()
        if self._notifier is None or self._notifier.done():
            self._notifier = asyncio.get_running_loop().create_task(self._deliver(), name="supervisor on_change")
        self._events.put_nowait(managed.status())

    async def _deliver(self) -> None:
        assert self._events is not None
        while True:
            status = await self._events.get()
            try:
                result = self.on_change(status) if self.on_change is not None else None
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("on_change callback failed for %s", status.name)
            finally:
                self._events.task_done()


def _record_alive_or_reap(record: ProcessRecord) -> bool:
    """For a record already checked with ``is_alive``: whether its process still runs; reaps it if ours."""
    if _still_running(record.pid, record.starttime, record.boot_id):
        return True
    _try_reap(record.pid)
    return False


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


__all__ = [
    "BACKOFF", "ExitInfo", "FAILED", "ProcessRecord", "ProcessSpec", "ProcessStatus", "RUNNING", "RestartPolicy",
    "STATES", "STOPPED", "Supervisor", "list_records", "read_record", "record_path", "remove_record", "write_record",
]
