"""Records: a spec written by services, a status written by reconcilers, and a version for CAS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class Key:
    account: str
    region: str
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.account}/{self.region}/{self.kind}/{self.name}"


@dataclass(frozen=True)
class Record:
    key: Key
    spec: dict[str, Any]
    status: dict[str, Any]
    # version: bumped by every write (compare-and-set); generation: bumped by spec writes only,
    # so a reconciler can tell from status["observedGeneration"] whether it has acted on the spec.
    version: int
    generation: int
    created_at: float
    updated_at: float
    deleting: bool = False


class StoreError(Exception):
    pass


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class Conflict(StoreError):
    """The record changed since it was read: re-read and retry."""
