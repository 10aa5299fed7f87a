"""How a service lists its operations, and the list helpers (EC2 filters, page tokens) services share."""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
from typing import Any, Awaitable, Callable, Iterable

from ..core.context import RequestContext
from ..core.errors import AwsError

Handler = Callable[[RequestContext, dict], "dict | Awaitable[dict]"]


class Service:
    """A service answers operations by name; methods named after operations are its handlers."""

    name: str = ""

    def handler(self, operation: str) -> Handler | None:
        method = getattr(self, operation, None)
        if method is None or not operation[:1].isupper():
            return None
        return method


def match_filters(items: Iterable[dict], filters: list[dict] | None, fields: dict[str, Callable[[dict], Any]]) -> list[dict]:
    """EC2-style Filters (Name, Values with * and ? wildcards; tag:<key>); unknown names are errors."""
    selected = list(items)
    for filter_ in filters or []:
        name, values = filter_.get("Name", ""), filter_.get("Values") or []
        if name.startswith("tag:"):
            key = name[4:]

            def read(item: dict, key: str = key) -> list[str]:
                return [t["Value"] for t in item.get("Tags", []) if t.get("Key") == key]

        elif name in fields:
            read = fields[name]
        else:
            raise AwsError("InvalidParameterValue", f"The filter '{name}' is invalid")

        def matches(item: dict) -> bool:
            found = read(item)
            found = found if isinstance(found, list) else [found]
            texts = [str(v).lower() if isinstance(v, bool) else str(v) for v in found if v is not None]
            return any(fnmatch.fnmatchcase(text, pattern) for text in texts for pattern in values)

        selected = [item for item in selected if matches(item)]
    return selected


def offset_page(items: list, token: str | None, size: int, invalid: Callable[[str], AwsError]) -> tuple[list, str | None]:
    """One page of items and the next page's opaque token (an offset); a bad token raises invalid(token)."""
    start = 0
    if token:
        try:
            start = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            start = -1
        if not 0 <= start <= len(items):
            raise invalid(token)
    following = None
    if start + size < len(items):
        following = base64.urlsafe_b64encode(json.dumps({"offset": start + size}).encode()).decode()
    return items[start : start + size], following
