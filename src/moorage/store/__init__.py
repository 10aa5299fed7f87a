"""Desired state and observed status, keyed by (account, region, kind, name)."""

from .records import AlreadyExists, Conflict, Key, NotFound, Record
from .sqlite import SqliteStore

__all__ = ["AlreadyExists", "Conflict", "Key", "NotFound", "Record", "SqliteStore"]
