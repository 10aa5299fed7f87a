"""The embedded store: one SQLite file in WAL mode with durable (synchronous=FULL) commits.

Writes are compare-and-set on `version`; every committed change is announced to subscribers
(the reconcilers' work queues) after the commit, so a crash never announces an uncommitted change.

The file holds secrets (the root account's secret key, IAM secret keys, STS session secrets, etcd's
root password), so it and its WAL and shared-memory files are readable by their owner only (0600),
in a directory only the owner may enter (0700 when the store creates it). Both are enforced at every
open, so a data directory made by an older Moorage is tightened on upgrade.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from .records import AlreadyExists, Conflict, Key, NotFound, Record

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    version INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    deleting INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account, region, kind, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_by_update ON records (kind, updated_at);
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
""" + "".join(
    # The IAM generation (gateway/authorize.py) changes in the same transaction as any IAM record, so no
    # reader ever sees a committed IAM change together with the generation from before it.
    f"""
CREATE TRIGGER IF NOT EXISTS iam_generation_{event.lower()} AFTER {event} ON records
WHEN substr({row}.kind, 1, 4) = 'iam-'
BEGIN
    INSERT INTO settings (name, value) VALUES ('iam-generation', '1')
    ON CONFLICT (name) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT);
END;"""
    for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD"))
)

Subscriber = Callable[[Key], None]


def _row_to_record(row: sqlite3.Row) -> Record:
    return Record(
        key=Key(row["account"], row["region"], row["kind"], row["name"]),
        spec=json.loads(row["spec"]),
        status=json.loads(row["status"]),
        version=row["version"],
        generation=row["generation"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deleting=bool(row["deleting"]),
    )


def _dump(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _make_private(path: Path) -> None:
    """Create the database file owner-only before SQLite opens it (SQLite gives its -wal and -shm
    files the database file's mode), and tighten the files an older Moorage left readable."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if name.stat().st_mode & 0o077:
                name.chmod(0o600)
        except FileNotFoundError:
            pass


class SqliteStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _make_private(self.path)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._subscribers: list[Subscriber] = []
        with self._write_lock:
            self._db().executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
        return db

    class _Tx:
        def __init__(self, store: "SqliteStore"):
            self.store = store

        def __enter__(self) -> sqlite3.Connection:
            self.store._write_lock.acquire()
            self.db = self.store._db()
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, exc_type, exc, tb) -> None:
            try:
                self.db.execute("ROLLBACK" if exc_type else "COMMIT")
            finally:
                self.store._write_lock.release()

    def _transaction(self) -> "_Tx":
        return SqliteStore._Tx(self)

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def _announce(self, key: Key) -> None:
        for subscriber in list(self._subscribers):
            subscriber(key)

    # Reads

    def get(self, key: Key) -> Record | None:
        row = self._db().execute(
            "SELECT * FROM records WHERE account=? AND region=? AND kind=? AND name=?",
            (key.account, key.region, key.kind, key.name),
        ).fetchone()
        return _row_to_record(row) if row else None

    def require(self, key: Key) -> Record:
        record = self.get(key)
        if record is None:
            raise NotFound(str(key))
        return record

    def list(self, account: str | None, region: str | None, kind: str) -> list[Record]:
        """Records of one kind, ordered by name; None for account/region means all of them."""
        sql = "SELECT * FROM records WHERE kind=?"
        args: list[Any] = [kind]
        if account is not None:
            sql += " AND account=?"
            args.append(account)
        if region is not None:
            sql += " AND region=?"
            args.append(region)
        rows = self._db().execute(sql + " ORDER BY account, region, name", args).fetchall()
        return [_row_to_record(row) for row in rows]

    def data_version(self) -> int:
        """Changes when another connection (another process) commits to the database."""
        return self._db().execute("PRAGMA data_version").fetchone()[0]

    def changed_since(self, kind: str, since: float) -> list[Key]:
        rows = self._db().execute(
            "SELECT account, region, kind, name FROM records WHERE kind=? AND updated_at>=?", (kind, since)
        ).fetchall()
        return [Key(*row) for row in rows]

    def all_keys(self, kind: str) -> Iterator[Key]:
        for row in self._db().execute("SELECT account, region, kind, name FROM records WHERE kind=?", (kind,)):
            yield Key(*row)

    # Writes (compare-and-set on version)

    def create(self, key: Key, spec: dict[str, Any], status: dict[str, Any] | None = None) -> Record:
        return self._insert([(key, spec, status or {})])[0]

    def create_all(self, records: list[tuple[Key, dict[str, Any]]]) -> list[Record]:
        """Create several records (key, spec) in one transaction: all of them, or (on a crash or a clash) none."""
        return self._insert([(key, spec, {}) for key, spec in records])

    def _insert(self, rows: list[tuple[Key, dict[str, Any], dict[str, Any]]]) -> list[Record]:
        with self._transaction() as db:
            self._insert_rows(db, rows)
        for key, _, _ in rows:
            self._announce(key)
        return [self.require(key) for key, _, _ in rows]

    @staticmethod
    def _insert_rows(db: sqlite3.Connection, rows: list[tuple[Key, dict[str, Any], dict[str, Any]]]) -> None:
        now = time.time()
        try:
            db.executemany(
                "INSERT INTO records VALUES (?,?,?,?,?,?,1,1,?,?,0)",
                [(k.account, k.region, k.kind, k.name, _dump(spec), _dump(status), now, now) for k, spec, status in rows],
            )
        except sqlite3.IntegrityError as error:
            raise AlreadyExists(", ".join(str(key) for key, _, _ in rows)) from error

    def _write(self, record: Record, sets: str, args: list[Any]) -> Record:
        key = record.key
        with self._transaction() as db:
            cursor = db.execute(
                f"UPDATE records SET {sets}, version=version+1, updated_at=? "
                "WHERE account=? AND region=? AND kind=? AND name=? AND version=?",
                [*args, time.time(), key.account, key.region, key.kind, key.name, record.version],
            )
            if cursor.rowcount != 1:
                exists = db.execute(
                    "SELECT 1 FROM records WHERE account=? AND region=? AND kind=? AND name=?",
                    (key.account, key.region, key.kind, key.name),
                ).fetchone()
                raise Conflict(str(key)) if exists else NotFound(str(key))
        self._announce(key)
        return self.require(key)

    def update_spec(self, record: Record, spec: dict[str, Any]) -> Record:
        return self._write(record, "spec=?, generation=generation+1", [_dump(spec)])

    def update_status(self, record: Record, status: dict[str, Any]) -> Record:
        return self._write(record, "status=?", [_dump(status)])

    def merge_status(self, record: Record, **changes: Any) -> Record:
        """Merge changes into status, re-reading on conflict: status belongs to one reconciler, while
        the spec may move under it. Returns the latest record (unchanged if nothing changed)."""
        while True:
            status = {**record.status, **changes}
            if status == record.status:
                return record
            try:
                return self.update_status(record, status)
            except Conflict:
                fresh = self.get(record.key)
                if fresh is None:
                    return record
                record = fresh

    def mark_deleting(self, record: Record) -> Record:
        """Ask reconcilers to tear down; the record stays until they call remove()."""
        return self._write(record, "deleting=1, generation=generation+1", [])

    def remove(self, record: Record) -> None:
        self.remove_all([record])

    def remove_all(self, records: list[Record]) -> None:
        """Remove several records in one transaction, compare-and-set on each version: all, or none."""
        self.write_all(removes=records)

    def write_all(self, creates: list[tuple[Key, dict[str, Any]]] = (), updates: list[tuple[Record, dict[str, Any]]] = (),
                  removes: list[Record] = ()) -> None:
        """Create records (key, spec), replace specs (compare-and-set on each record's version) and remove
        records (compare-and-set) in one transaction: all of it, or (on a clash, a conflict or a crash) none."""
        now = time.time()
        with self._transaction() as db:
            self._insert_rows(db, [(key, spec, {}) for key, spec in creates])
            for record, spec in updates:
                key = record.key
                cursor = db.execute(
                    "UPDATE records SET spec=?, generation=generation+1, version=version+1, updated_at=? "
                    "WHERE account=? AND region=? AND kind=? AND name=? AND version=?",
                    (_dump(spec), now, key.account, key.region, key.kind, key.name, record.version),
                )
                if cursor.rowcount != 1:
                    raise Conflict(str(key))
            for record in removes:
                key = record.key
                cursor = db.execute(
                    "DELETE FROM records WHERE account=? AND region=? AND kind=? AND name=? AND version=?",
                    (key.account, key.region, key.kind, key.name, record.version),
                )
                if cursor.rowcount != 1:
                    raise Conflict(str(key))
        for key in [k for k, _ in creates] + [r.key for r, _ in updates] + [r.key for r in removes]:
            self._announce(key)

    # Settings (account credentials and other singletons)

    def setting(self, name: str) -> Any:
        row = self._db().execute("SELECT value FROM settings WHERE name=?", (name,)).fetchone()
        return json.loads(row["value"]) if row else None

    def set_setting(self, name: str, value: Any, only_if_absent: bool = False) -> Any:
        """Store a setting; with only_if_absent, keep (and return) an existing value."""
        with self._transaction() as db:
            if only_if_absent:
                row = db.execute("SELECT value FROM settings WHERE name=?", (name,)).fetchone()
                if row:
                    return json.loads(row["value"])
            db.execute("INSERT OR REPLACE INTO settings VALUES (?,?)", (name, json.dumps(value)))
        return value
