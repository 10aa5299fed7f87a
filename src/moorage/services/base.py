"""How a service lists its operations, and the list helpers (EC2 filters, page tokens) services share."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime, timezone
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


# A field reader: a path into the resource view ("Placement.AvailabilityZone",
# "CidrBlockAssociationSet[].CidrBlock": `[]` takes every item of a list) or a function of the view.
Reader = "str | Callable[[dict], Any]"
TAG_PREFIX = "tag:"
MAX_FILTER_VALUES = 200  # EC2's limit of values per filter


def read_path(item: Any, path: str) -> list:
    """Every value a path reaches in a view; absent members and None reach nothing."""
    values = [item]
    for step in path.split("."):
        each = step.endswith("[]")
        member = step[:-2] if each else step
        found = []
        for value in values:
            if isinstance(value, dict) and value.get(member) is not None:
                child = value[member]
                found.extend(child if each and isinstance(child, list) else [child])
        values = found
    flat: list = []
    for value in values:
        flat.extend(value if isinstance(value, list) else [value])
    return [v for v in flat if v is not None]


def read_field(item: dict, reader: Any) -> list:
    if isinstance(reader, str):
        return read_path(item, reader)
    found = reader(item)
    return [v for v in (found if isinstance(found, list) else [found]) if v is not None]


def filter_text(value: Any) -> str:
    """A value as EC2 compares it: booleans as true/false, numbers and timestamps in their usual text."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return str(value)


def wildcard(pattern: str) -> re.Pattern:
    """EC2's filter wildcards: * any run of characters, ? one character, \\ escapes the next one."""
    parts, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        parts.append(".*" if char == "*" else "." if char == "?" else re.escape(char))
        i += 1
    return re.compile("".join(parts), re.DOTALL)


def _tag_values(key: str) -> Callable[[dict], list]:
    return lambda item: [t.get("Value") for t in item.get("Tags", []) if t.get("Key") == key]


def match_filters(items: Iterable[dict], filters: list[dict] | None, fields: dict[str, Any]) -> list[dict]:
    """EC2-style Filters: every filter must match (AND), any of its values (OR), with * and ? wildcards.

    fields maps each accepted name to its reader; `tag:<key>` is accepted when fields has TAG_PREFIX
    (its value: None for the Tags list, or a function of the key giving a reader). Unknown names are
    EC2's InvalidParameterValue."""
    selected = list(items)
    for filter_ in filters or []:
        name, values = filter_.get("Name", ""), filter_.get("Values") or []
        if name.startswith(TAG_PREFIX) and TAG_PREFIX in fields and len(name) > len(TAG_PREFIX):
            reader = (fields[TAG_PREFIX] or _tag_values)(name[len(TAG_PREFIX):])
        elif name in fields and name != TAG_PREFIX:
            reader = fields[name]
        else:
            raise AwsError("InvalidParameterValue", f"The filter '{name}' is invalid")
        if len(values) > MAX_FILTER_VALUES:
            raise AwsError("FilterLimitExceeded", f"The maximum number of filter values specified on a single call is {MAX_FILTER_VALUES}")
        patterns = [wildcard(str(v)) for v in values]

        def matches(item: dict, reader: Any = reader, patterns: list = patterns) -> bool:
            texts = [filter_text(v) for v in read_field(item, reader)]
            return any(p.fullmatch(text) for text in texts for p in patterns)

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
