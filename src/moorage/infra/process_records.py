"""Process specs and records: how to run a process (``ProcessSpec``, its configuration fingerprint and minimal
environment) and what is on disk about a started one (``ProcessRecord``: pid, pgid, /proc starttime, boot id,
cmdline, fingerprint), written atomically as one JSON file per process so that a later supervisor can adopt it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import types
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import quote

from .procfs import _same_process, _still_running, _try_reap

log = logging.getLogger(__name__)

RECORD_VERSION = 1
RECORD_SUFFIX = ".json"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


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


def _record_alive_or_reap(record: ProcessRecord) -> bool:
    """For a record already checked with ``is_alive``: whether its process still runs; reaps it if ours."""
    if _still_running(record.pid, record.starttime, record.boot_id):
        return True
    _try_reap(record.pid)
    return False


__all__ = [
    "DEFAULT_PATH", "ProcessRecord", "ProcessSpec", "RECORD_SUFFIX", "RECORD_VERSION", "list_records", "read_record",
    "record_path", "remove_record", "write_record",
]
