"""A small controller runtime: a de-duplicating work queue, per-key serial reconciles, backoff.

As in controller-runtime, a reconcile is level-based and idempotent: it may run at any time, any
number of times, and after a crash at any point; it returns when to look again (or None).

Each reconciler declares what it reconciles and what it watches (controller-runtime's For and
Watches): its store `kind`, and `watches()`: for a change to a record of another kind, which of its
own records to look at again. The composition root only wires: every store change goes to every
controller's `notify`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Hashable, Iterable, Protocol

from ..store import Key

log = logging.getLogger(__name__)

Reconcile = Callable[[Hashable], Awaitable["float | None"]]


@dataclass(frozen=True)
class Watch:
    """When a record of `kind` changes, reconcile the keys `related(changed key)` gives."""

    kind: str
    related: Callable[[Key], Iterable[Key]]


class Reconciler(Protocol):
    name: str  # the controller's name in logs
    kind: str  # the store kind it reconciles

    async def reconcile(self, key: Key) -> float | None: ...

    def watches(self) -> list[Watch]: ...


class Controller:
    def __init__(self, name: str, reconcile: Reconcile, workers: int = 4, max_backoff: float = 30.0,
                 kind: str | None = None, watches: Iterable[Watch] = ()):
        self.name = name
        self.kind = kind
        self.watches = tuple(watches)
        self._reconcile = reconcile
        self._workers = workers
        self._max_backoff = max_backoff
        self._queue: asyncio.Queue[Hashable] = asyncio.Queue()
        self._queued: set[Hashable] = set()
        self._active: set[Hashable] = set()
        self._dirty: set[Hashable] = set()
        self._failures: dict[Hashable, int] = {}
        self._timers: dict[Hashable, asyncio.TimerHandle] = {}
        self._tasks: list[asyncio.Task] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def of(cls, reconciler: Reconciler) -> "Controller":
        return cls(reconciler.name, reconciler.reconcile, kind=reconciler.kind, watches=reconciler.watches())

    def notify(self, key: Key) -> None:
        """A record changed: reconcile it if it is ours, and whatever of ours watches its kind."""
        if key.kind == self.kind:
            self.enqueue(key)
        for watch in self.watches:
            if watch.kind == key.kind:
                for related in watch.related(key):
                    self.enqueue(related)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._tasks = [asyncio.create_task(self._work(), name=f"{self.name}-{i}") for i in range(self._workers)]

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def enqueue(self, key: Hashable) -> None:
        """Ask for a reconcile of key; thread-safe, and cheap when it is already queued."""
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._add(key)
        else:
            loop.call_soon_threadsafe(self._add, key)

    def enqueue_after(self, key: Hashable, delay: float) -> None:
        assert self._loop is not None
        existing = self._timers.get(key)
        if existing and existing.when() <= self._loop.time() + delay:
            return
        if existing:
            existing.cancel()
        self._timers[key] = self._loop.call_later(delay, self._fire, key)

    def _fire(self, key: Hashable) -> None:
        self._timers.pop(key, None)
        self._add(key)

    def _add(self, key: Hashable) -> None:
        if key in self._active:
            self._dirty.add(key)  # run again right after the current pass: never two at once per key
            return
        if key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self._active.add(key)
            started = time.monotonic()
            try:
                requeue = await self._reconcile(key)
                self._failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except Exception:
                failures = self._failures.get(key, 0) + 1
                self._failures[key] = failures
                requeue = min(self._max_backoff, 0.2 * 2 ** (failures - 1))
                log.exception("%s: reconcile of %s failed (attempt %d); retrying in %.1fs", self.name, key, failures, requeue)
            finally:
                self._active.discard(key)
            log.debug("%s: reconciled %s in %.3fs", self.name, key, time.monotonic() - started)
            if key in self._dirty:
                self._dirty.discard(key)
                self._add(key)
            elif requeue is not None:
                self.enqueue_after(key, requeue)
