"""The log-event store: CloudWatch Logs events in their own SQLite file (logs.db beside state.db).

Events are not records: one row each in a rowid table, indexed by (group, timestamp) and (stream,
timestamp), appended in one durable transaction per batch (WAL, synchronous=FULL like the record
store). Groups and streams are records (kinds log-group, log-stream) that carry a numeric uid; the
events and the per-stream figures (first/last event, last ingestion, stored bytes) are keyed by those
uids, so a group or stream deleted and created again never sees its predecessor's events.

A writer that ships lines from a file can pass a cursor (a name and an offset) with a batch: it is
stored in the same transaction as the events, so after a crash the events and the offset agree
(`cursor()` reads it back), and shipping resumes with neither loss nor duplicates.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

SCHEMA = """
CREATE TABLE IF NOT EXISTS log_events (
    id INTEGER PRIMARY KEY,
    group_uid INTEGER NOT NULL,
    stream_uid INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    ingested INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_events_by_group ON log_events (group_uid, ts);
CREATE INDEX IF NOT EXISTS log_events_by_stream ON log_events (stream_uid, ts);
CREATE TABLE IF NOT EXISTS log_stream_figures (
    stream_uid INTEGER PRIMARY KEY,
    group_uid INTEGER NOT NULL,
    first_ts INTEGER,
    last_ts INTEGER,
    last_ingested INTEGER,
    stored_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS log_stream_figures_by_group ON log_stream_figures (group_uid);
CREATE TABLE IF NOT EXISTS log_cursors (
    name TEXT PRIMARY KEY,
    position TEXT NOT NULL
) WITHOUT ROWID;
"""

# Columns an event row is read with: (id, stream_uid, ts, ingested, message).
COLUMNS = "id, stream_uid, ts, ingested, message"


@dataclass(frozen=True)
class StreamFigures:
    first_ts: int | None
    last_ts: int | None
    last_ingested: int | None
    stored_bytes: int


class LogEventStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        self._local = threading.local()
        self._write_lock = threading.Lock()
        with self._write_lock:
            self._db().executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            # Scans read hundreds of MB: a larger page cache and memory-mapped reads (writes still go
            # through the WAL) take about a third off a full scan (measured, docs/decisions.md).
            db.execute("PRAGMA cache_size=-65536")
            db.execute("PRAGMA mmap_size=1073741824")
            self._local.db = db
        return db

    def _write(self, work) -> object:
        with self._write_lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                result = work(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

    # Writes

    def append(self, group_uid: int, stream_uid: int, events: Sequence[tuple[int, str]], ingested: int,
               cursor: tuple[str, str] | None = None) -> None:
        """Append (timestamp ms, message) events to a stream in one durable transaction, with the
        stream's figures and (optionally) a shipper's cursor."""

        def work(db: sqlite3.Connection) -> None:
            if events:
                db.executemany(
                    "INSERT INTO log_events (group_uid, stream_uid, ts, ingested, message) VALUES (?,?,?,?,?)",
                    [(group_uid, stream_uid, ts, ingested, message) for ts, message in events],
                )
                size = sum(len(message.encode("utf-8")) for _, message in events)
                first, last = min(ts for ts, _ in events), max(ts for ts, _ in events)
                db.execute(
                    "INSERT INTO log_stream_figures VALUES (?,?,?,?,?,?) ON CONFLICT(stream_uid) DO UPDATE SET "
                    "first_ts=min(coalesce(first_ts, excluded.first_ts), excluded.first_ts), "
                    "last_ts=max(coalesce(last_ts, excluded.last_ts), excluded.last_ts), "
                    "last_ingested=excluded.last_ingested, stored_bytes=stored_bytes+excluded.stored_bytes",
                    (stream_uid, group_uid, first, last, ingested, size),
                )
            if cursor is not None:
                db.execute("INSERT OR REPLACE INTO log_cursors VALUES (?,?)", cursor)

        self._write(work)

    def purge_before(self, group_uid: int, ts: int) -> int:
        """Delete a group's events older than ts (retention); returns how many went."""
        return self._write(lambda db: db.execute(
            "DELETE FROM log_events WHERE group_uid=? AND ts<?", (group_uid, ts)).rowcount)

    def drop_stream(self, stream_uid: int) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM log_events WHERE stream_uid=?", (stream_uid,))
            db.execute("DELETE FROM log_stream_figures WHERE stream_uid=?", (stream_uid,))

        self._write(work)

    def drop_group(self, group_uid: int) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM log_events WHERE group_uid=?", (group_uid,))
            db.execute("DELETE FROM log_stream_figures WHERE group_uid=?", (group_uid,))

        self._write(work)

    # Reads

    def cursor(self, name: str) -> str | None:
        row = self._db().execute("SELECT position FROM log_cursors WHERE name=?", (name,)).fetchone()
        return row[0] if row else None

    def figures(self, group_uid: int) -> dict[int, StreamFigures]:
        rows = self._db().execute(
            "SELECT stream_uid, first_ts, last_ts, last_ingested, stored_bytes FROM log_stream_figures WHERE group_uid=?",
            (group_uid,),
        ).fetchall()
        return {row[0]: StreamFigures(*row[1:]) for row in rows}

    def scan(self, group_uid: int, streams: Sequence[int] | None, start: int, end: int, after: tuple[int, int] | None = None,
             descending: bool = False, where: str = "", args: Sequence = (), batch: int = 20000) -> Iterator[tuple]:
        """Events of a group (or of some of its streams) with start <= ts < end, in (ts, id) order,
        resuming strictly after (or, descending, before) the position `after`. `where` is an extra SQL
        condition on `message` (a filter pattern's pre-filter), with its args."""
        if streams is not None and not streams:
            return
        if streams is not None and len(streams) == 1:
            sql = f"SELECT {COLUMNS} FROM log_events INDEXED BY log_events_by_stream WHERE stream_uid=?"
            base = [streams[0]]
        else:
            sql = f"SELECT {COLUMNS} FROM log_events INDEXED BY log_events_by_group WHERE group_uid=?"
            base = [group_uid]
            if streams is not None:
                sql += f" AND stream_uid IN ({','.join('?' * len(streams))})"
                base += list(streams)
        sql += " AND ts>=? AND ts<?"
        base += [start, end]
        if where:
            sql += f" AND ({where})"
            base += list(args)
        order = "DESC" if descending else "ASC"
        compare, edge = ("<", "<=") if descending else (">", ">=")
        db = self._db()
        position = after
        while True:
            page_sql, page_args = sql, list(base)
            if position is not None:
                # The first term bounds the index range, so each page starts where the last one ended.
                page_sql += f" AND ts {edge} ? AND (ts {compare} ? OR id {compare} ?)"
                page_args += [position[0], position[0], position[1]]
            rows = db.execute(f"{page_sql} ORDER BY ts {order}, id {order} LIMIT {batch}", page_args).fetchall()
            yield from rows
            if len(rows) < batch:
                return
            position = (rows[-1][2], rows[-1][0])

    def count_by(self, group_uid: int, start: int, end: int, bin_ms: int | None, by_stream: bool) -> list[tuple]:
        """(bin start or None, stream uid or None, events) for a group's events in [start, end), counted
        by SQLite, for Insights `stats count(*) by bin(...)`; without streams, from the index alone."""
        bin_column = f"(ts / {int(bin_ms)}) * {int(bin_ms)}" if bin_ms else "NULL"
        stream_column = "stream_uid" if by_stream else "NULL"
        return self._db().execute(
            f"SELECT {bin_column}, {stream_column}, count(*) FROM log_events "
            "INDEXED BY log_events_by_group WHERE group_uid=? AND ts>=? AND ts<? GROUP BY 1, 2",
            (group_uid, start, end),
        ).fetchall()

    def bytes_per_event(self, group_uid: int) -> float:
        """A group's average stored bytes per event (Insights' bytesScanned for counted queries)."""
        stored = self._db().execute("SELECT sum(stored_bytes) FROM log_stream_figures WHERE group_uid=?",
                                    (group_uid,)).fetchone()[0] or 0
        events = self._db().execute("SELECT count(*) FROM log_events INDEXED BY log_events_by_group WHERE group_uid=?",
                                    (group_uid,)).fetchone()[0]
        return stored / events if events else 0.0

    def size_on_disk(self) -> int:
        return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
