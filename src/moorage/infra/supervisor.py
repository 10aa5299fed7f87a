"""Process supervisor: runs upstream binaries (etcd, kube-apiserver, …) as detached children.

What it guarantees:
- Children live in their own session and process group (``start_new_session``), read stdin from /dev/null and
  append stdout+stderr to a log file. Ctrl-C on Moorage's terminal and Moorage's death by SIGKILL leave them running.
- Each running process has a record (one JSON file per process in ``spec.state_dir``, see ``process_records``). A
  later Supervisor reads it and ADOPTS the process when it is still the same process (same boot, pid, /proc
  starttime and cmdline) and runs the same configuration (fingerprint). A pid that was reused by something else is
  never adopted nor signalled.
- A background task per process notices exits: pidfd (works for adopted, non-child processes too) with /proc
  polling as the fallback; own children are reaped. Unexpected exits are restarted with exponential backoff; after
  ``max_failures`` consecutive quick failures the state is "failed" (with the log tail as the reason) but retries
  go on at the maximum delay, so the process recovers when the cause goes away.
- ``stop`` signals the whole process group: SIGTERM, then SIGKILL after the timeout. ``detach``/``close`` stop
  watching and leave the processes running.

This module holds the ``Supervisor`` itself (ensure/adopt/spawn, watching and restarting, stopping and stop
ordering); /proc reading is in ``procfs``, specs and records in ``process_records``, statuses and the restart policy
in ``process_state``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import subprocess
import time
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Awaitable, Callable, Sequence, Union

from .process_records import (
    ProcessRecord,
    ProcessSpec,
    _record_alive_or_reap,
    list_records,
    read_record,
    remove_record,
    write_record,
)
from .process_state import BACKOFF, FAILED, RUNNING, STOPPED, ExitInfo, ProcessStatus, RestartPolicy, _Managed
from .procfs import (
    _boot_id,
    _boot_time,
    _close_fd,
    _group_has_members,
    _is_dead_state,
    _pidfd_open,
    _read_cmdline,
    _read_stat,
    _signal_group,
    _still_running,
    _terminate,
    _try_reap,
    _wall_time_of,
)

log = logging.getLogger(__name__)

TAIL_LINES = 20
TAIL_BYTES = 64 * 1024
DEFAULT_STOP_TIMEOUT = 10.0
# With a pidfd the exit wakes us at once; the periodic check is only a safety net.
PIDFD_RECHECK_SECONDS = 5.0

OnChange = Callable[["ProcessStatus"], Union[None, Awaitable[None]]]


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
            await self._stop_unrecorded(spec)
            if self._spawn(managed):
                managed.state = RUNNING
            else:
                self._after_exit(managed, self._start_failure_exit(managed))
        self._procs[spec.name] = managed
        self._notify(managed)
        managed.task = asyncio.get_running_loop().create_task(self._watch(managed), name=f"supervise {spec.name}")
        return managed.status()

    async def _stop_unrecorded(self, spec: ProcessSpec) -> None:
        """Stop copies of this process that no record names: a Moorage killed between starting a process and
        recording it (a few milliseconds) leaves one running, which nothing would ever adopt or stop (e.g. a
        second kube-apiserver on a shared port). They run exactly the spec's command line, lead their own
        process group, and their pid is in no record of the state directory."""
        recorded = {r.pid for r in list_records(spec.state_dir)}
        argv = tuple(spec.argv)
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            if pid in recorded or pid == os.getpid() or _read_cmdline(pid) != argv:
                continue
            stat = _read_stat(pid)
            if stat is None or stat.pgid != pid or _is_dead_state(stat.state):
                continue
            log.warning("%s: pid %d runs its command line but no record names it (left by a crash); stopping it",
                        spec.name, pid)

            def alive(pid: int = pid) -> bool:
                current = _read_stat(pid)
                return current is not None and not _is_dead_state(current.state)

            await _terminate(pid, pid, alive, self.stop_timeout)

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


__all__ = ["Supervisor"]
