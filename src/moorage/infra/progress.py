"""Progress for long steps: a live bar on a terminal, a line every 30 s in logs (CI)."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

LOG_INTERVAL_SECONDS = 30.0

Update = Callable[[int, "int | None"], None]


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


class Reporter:
    def __init__(self, console: Console | None = None, quiet: bool = False):
        # soft_wrap: long lines stay whole in CI logs instead of breaking at 80 columns.
        self.console = console or Console(stderr=True, soft_wrap=True)
        self.quiet = quiet

    def info(self, message: str) -> None:
        if not self.quiet:
            self.console.print(message, highlight=False)

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/yellow] {message}", highlight=False)

    @contextmanager
    def task(self, description: str, unit: str = "packages") -> Iterator[Update]:
        """Show a long step; the caller reports (done, total) through the yielded function."""
        started = time.monotonic()
        if self.quiet:
            yield lambda done, total: None
        elif self.console.is_terminal:
            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(unit),
                TimeElapsedColumn(),
                console=self.console,
                transient=False,
            ) as progress:
                task_id = progress.add_task(description, total=None)

                def update(done: int, total: int | None) -> None:
                    progress.update(task_id, completed=done, total=total)

                yield update
        else:
            state = {"done": 0, "total": None}
            stop = threading.Event()

            def log_periodically() -> None:
                while not stop.wait(LOG_INTERVAL_SECONDS):
                    total = state["total"]
                    count = f"{state['done']}/{total}" if total else str(state["done"])
                    done = f"{count} {unit}, " if unit else ""
                    self.info(f"  {description}: {done}{_elapsed(time.monotonic() - started)} elapsed")

            thread = threading.Thread(target=log_periodically, daemon=True)
            thread.start()

            def update(done: int, total: int | None) -> None:
                state["done"], state["total"] = done, total

            try:
                yield update
            finally:
                stop.set()
                thread.join()
        if not self.quiet:
            self.info(f"  {description}: done in {_elapsed(time.monotonic() - started)}")
