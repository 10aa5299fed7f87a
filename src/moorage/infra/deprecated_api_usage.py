"""Where a cluster's deprecated-API requests are seen: kube-apiserver's gauge and its audit log.

* ``apiserver_requested_deprecated_apis{group,version,resource,subresource,removed_release}`` (GET
  /metrics) is 1 for every deprecated API requested since that kube-apiserver started. It names the
  API and its removal release, but not who asked or how often.
* The audit log (JSON lines, written by kube-apiserver with the policy in infra/controlplane.py) marks
  each request for a deprecated API with the annotations ``k8s.io/deprecated: "true"`` and
  ``k8s.io/removed-release: "1.xx"``; its ``userAgent`` and ``requestReceivedTimestamp`` give EKS's
  clientStats. The log is read incrementally from a saved position (inode and offset), following
  kube-apiserver's rotation (``audit.log`` is renamed to ``audit-<time>.log`` and started anew).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

METRIC = "apiserver_requested_deprecated_apis"
_SAMPLE = re.compile(r"^" + METRIC + r"\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
DEPRECATED_MARKER = b'"k8s.io/deprecated"'  # a cheap test before parsing a line
MAX_READ_BYTES = 64 << 20  # per refresh; the rest is read by the next one


@dataclass(frozen=True)
class DeprecatedApi:
    group: str  # "" for the core group
    version: str
    resource: str
    subresource: str
    removed_release: str  # "" when kube-apiserver does not know it


@dataclass(frozen=True)
class DeprecatedRequest:
    api: DeprecatedApi
    user_agent: str
    at: float  # epoch seconds


@dataclass(frozen=True)
class AuditPosition:
    inode: int = 0
    offset: int = 0

    def as_dict(self) -> dict:
        return {"inode": self.inode, "offset": self.offset}

    @classmethod
    def of(cls, data: dict | None) -> "AuditPosition":
        return cls(int((data or {}).get("inode", 0)), int((data or {}).get("offset", 0)))


def requested_deprecated_apis(metrics_text: str) -> list[DeprecatedApi]:
    """The deprecated APIs the gauge reports as requested (value 1), from /metrics' text."""
    found = []
    for line in metrics_text.splitlines():
        match = _SAMPLE.match(line)
        if not match or float(match.group("value")) == 0:
            continue
        labels = {k: v.encode().decode("unicode_escape") for k, v in _LABEL.findall(match.group("labels"))}
        found.append(DeprecatedApi(labels.get("group", ""), labels.get("version", ""), labels.get("resource", ""),
                                   labels.get("subresource", ""), labels.get("removed_release", "")))
    return found


def _timestamp(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def parse_audit_line(line: bytes) -> DeprecatedRequest | None:
    """A request for a deprecated API from one audit event line; None for every other event."""
    if DEPRECATED_MARKER not in line:
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    annotations = event.get("annotations") or {}
    ref = event.get("objectRef") or {}
    at = _timestamp(event.get("requestReceivedTimestamp")) or _timestamp(event.get("stageTimestamp"))
    if annotations.get("k8s.io/deprecated") != "true" or not ref.get("resource") or at is None:
        return None
    api = DeprecatedApi(ref.get("apiGroup", ""), ref.get("apiVersion", ""), ref["resource"], ref.get("subresource", ""),
                        annotations.get("k8s.io/removed-release", ""))
    return DeprecatedRequest(api, event.get("userAgent", ""), at)


def _read_from(path: Path, offset: int, budget: int) -> tuple[list[DeprecatedRequest], int]:
    """Complete lines from offset (a partial last line waits for the next read); the new offset."""
    found = []
    with path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read(budget)
    end = data.rfind(b"\n") + 1
    for line in data[:end].splitlines():
        request = parse_audit_line(line)
        if request is not None:
            found.append(request)
    return found, offset + end


def read_deprecated_requests(log: Path, position: AuditPosition) -> tuple[list[DeprecatedRequest], AuditPosition]:
    """Deprecated-API requests logged since position, and the position after them. A rotated log is
    finished first (found among its siblings by inode), then the new one is read from its start."""
    try:
        current = os.stat(log)
    except FileNotFoundError:
        return [], position
    found: list[DeprecatedRequest] = []
    offset = position.offset
    if position.inode and position.inode != current.st_ino:
        for rotated in sorted(log.parent.glob(f"{log.stem}-*{log.suffix}")):
            try:
                if rotated.stat().st_ino == position.inode:
                    found.extend(_read_from(rotated, position.offset, MAX_READ_BYTES)[0])
                    break
            except FileNotFoundError:
                continue
        offset = 0
    elif current.st_size < offset:
        offset = 0  # truncated and rewritten in place
    more, offset = _read_from(log, offset, MAX_READ_BYTES)
    return found + more, AuditPosition(current.st_ino, offset)
