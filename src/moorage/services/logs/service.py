"""CloudWatch Logs operations (json protocol), by name, as the gateway dispatches them: each one is
answered by the part of the service that owns its idea (groups, streams, ingest, reads, queries)."""

from __future__ import annotations

from ...store import SqliteStore
from ...store.log_events import LogEventStore
from ..base import Handler, Service
from .groups import LogGroups
from .ingest import Ingest
from .queries import Queries
from .reads import Reads
from .streams import LogStreams


class LogsService(Service):
    name = "logs"

    def __init__(self, store: SqliteStore, events: LogEventStore):
        self.groups = LogGroups(store, events)
        self.streams = LogStreams(self.groups)
        self.ingest = Ingest(self.groups, self.streams)
        self.reads = Reads(self.groups, self.streams)
        self.queries = Queries(self.groups, self.streams)
        self._parts = (self.groups, self.streams, self.ingest, self.reads, self.queries)

    def handler(self, operation: str) -> Handler | None:
        if not operation[:1].isupper():
            return None
        for part in self._parts:
            method = getattr(part, operation, None)
            if method is not None:
                return method
        return None

    def append_events(self, account: str, region: str, group: str, stream: str, events: list[tuple[int, str]],
                      cursor: tuple[str, str] | None = None) -> int:
        """The shipper's entry point (see ingest.Ingest.append_events)."""
        return self.ingest.append_events(account, region, group, stream, events, cursor)
