"""What one request asks IAM, read from its row in gateway/authorization_tables/: the action, each
resource ARN it is authorized on, and the condition keys supplied with each (the row grammar is in
that package's docstring). Stored resources are read only when the ARN needs them (an IAM entity's
path, a node group's UUID) or a policy in play mentions a key they supply.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterator

from ..core.context import RequestContext
from ..store import SqliteStore
from .authorization_resources import FINDERS
from .authorization_tables import ServiceTable

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")


@dataclass
class ResourceRequest:
    """One (resource, condition keys) pair the action is authorized on."""

    arn: str
    resource_type: str | None
    keys: dict[str, Any] = field(default_factory=dict)
    read_store: bool = False  # a finder was asked: the answer depends on stored state


# --- sources: paths into the request's parameters ----------------------------------------------------


@lru_cache(maxsize=1024)
def _alternatives(source: str) -> tuple[tuple[str | None, tuple[tuple[str, bool, bool], ...], bool], ...]:
    """A source parsed once: (literal or None, path tokens (name, expand, keys), host) per alternative."""
    parsed = []
    for alternative in source.split("|"):
        if alternative.startswith("="):
            parsed.append((alternative[1:], (), False))
            continue
        host = alternative.endswith("~host")
        path = alternative[: -len("~host")] if host else alternative
        tokens = tuple(
            (token[:-2] if token.endswith(("[]", "{}")) else token, token.endswith("[]"), token.endswith("{}"))
            for token in path.split(".")
        )
        parsed.append((None, tokens, host))
    return tuple(parsed)


def values(params: dict, source: str) -> list[Any]:
    """Every value a source names in the request (the first alternative that names any)."""
    for literal, tokens, host in _alternatives(source):
        if literal is not None:
            return [literal]
        if len(tokens) == 1 and not tokens[0][1] and not tokens[0][2]:  # the common case: one plain name
            value = params.get(tokens[0][0])
            found = [] if value is None or value == [] or value == {} else [value]
        else:
            found = _walk(params, tokens)
        if host:
            found = [str(v).split("://", 1)[-1] for v in found]
        if found:
            return found
    return []


def _walk(params: Any, tokens: tuple[tuple[str, bool, bool], ...]) -> list[Any]:
    current = [params]
    for name, expand, keys in tokens:
        following: list[Any] = []
        for item in current:
            value = item.get(name) if isinstance(item, dict) else None
            if value is None:
                continue
            if keys:
                following.extend(tag_set(value))
            elif expand and isinstance(value, list):
                following.extend(value)
            else:
                following.append(value)
        current = following
    return [v for v in current if v is not None and v != [] and v != {}]


def tag_set(value: Any) -> dict[str, str]:
    """Tags in any service's shape: {"k": "v"}, [{"Key": k, "Value": v}], or lists of those."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    tags: dict[str, str] = {}
    for item in value if isinstance(value, list) else []:
        if isinstance(item, list):
            tags.update(tag_set(item))
        elif isinstance(item, dict) and "Key" in item:
            tags[str(item["Key"])] = str(item.get("Value", ""))
    return tags


def supply(keys: dict[str, Any], name: str, found: list[Any]) -> None:
    """Put a condition key (or, for a name ending in "/", a tag family) into `keys`."""
    if not found:
        return
    if name.endswith("/"):
        for item in found:
            for key, value in tag_set(item).items():
                keys[name + key] = value
    elif len(found) == 1 and not name.endswith(("TagKeys", "Groups", "namespaces")):
        keys[name] = found[0] if isinstance(found[0], (str, bool)) else str(found[0])
    else:
        flat = [k for item in found for k in (item if isinstance(item, list) else [item])]
        keys[name] = [str(v) for v in flat]


# --- ARN templates -----------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _parts(template: str) -> tuple[tuple[str, str | None], ...]:
    """A template as (literal text, placeholder name or None) pairs."""
    parts, position = [], 0
    for holder in _PLACEHOLDER.finditer(template):
        parts.append((template[position:holder.start()], holder.group(1)))
        position = holder.end()
    parts.append((template[position:], None))
    return tuple(parts)


@lru_cache(maxsize=512)
def holders(template: str) -> tuple[str, ...]:
    return tuple(name for _, name in _parts(template) if name is not None)


def fill(template: str, names: dict[str, str]) -> str:
    return "".join(text + (str(names.get(name, "*")) if name is not None else "") for text, name in _parts(template))


@lru_cache(maxsize=256)
def _template_regex(template: str) -> re.Pattern | None:
    """A regex reading the identifiers back out of an ARN of this template (None: no fixed form)."""
    resource = template.split(":", 5)[-1]
    if resource.startswith("${"):
        return None
    pattern, position, holders = "", 0, list(_PLACEHOLDER.finditer(template))
    for index, holder in enumerate(holders):
        pattern += re.escape(template[position:holder.start()])
        name = holder.group(1)
        last = index == len(holders) - 1
        if name in ("Partition", "Region", "Account"):
            pattern += "[^:]*"
        else:
            pattern += f"(?P<{name}>.+)" if last else f"(?P<{name}>[^/:]+)"
        position = holder.end()
    return re.compile(pattern + re.escape(template[position:]))


def type_of_arn(table: ServiceTable, arn: str) -> tuple[str, dict[str, str]] | None:
    for name, resource_type in table.resource_types.items():
        regex = _template_regex(resource_type["arn"])
        found = regex.fullmatch(arn) if regex is not None else None
        if found:
            return name, {k: v for k, v in found.groupdict().items() if v is not None}
    return None


# --- a request's resources ---------------------------------------------------------------------------


def resource_requests(
    table: ServiceTable, row: dict, params: dict, ctx: RequestContext, store: SqliteStore | None,
    wants: Callable[[str], bool], caller_user_arn: str | None = None,
) -> list[ResourceRequest]:
    """The resources a request is authorized on, with every condition key each supplies."""
    base = {"Partition": ctx.partition, "Region": ctx.region, "Account": ctx.account}
    found: list[tuple[ResourceRequest, dict | None]] = []
    for ref in row.get("resources") or ():
        for request, view in _resolve(table, ref, params, ctx, store, wants, base, caller_user_arn):
            found.append((request, view))
    if not found:
        found = [(ResourceRequest("*", None), None)]
    shared: dict[str, Any] = {}
    for name, source in table.service_keys.items():
        supply(shared, name, [ctx.region] if source == "$region" else values(params, source))
    first_view = found[0][1] or {}
    for name, source in (row.get("keys") or {}).items():
        if source.startswith("@"):
            value = first_view.get(source[1:])
            supply(shared, name, [value] if value is not None else [])
        else:
            supply(shared, name, values(params, source))
    for request, _ in found:
        request.keys = {**shared, **request.keys}
    return [request for request, _ in found]


def _resolve(table: ServiceTable, ref: dict, params: dict, ctx: RequestContext, store: SqliteStore | None,
             wants: Callable[[str], bool], base: dict, caller_user_arn: str | None) -> Iterator[tuple[ResourceRequest, dict | None]]:
    if "arn" in ref:
        for arn in values(params, ref["arn"]):
            typed = type_of_arn(table, str(arn))
            if typed is None:
                yield ResourceRequest(str(arn), None), None
                continue
            type_name, ids = typed
            view, read = _view(table, type_name, ref, ids, ctx, store, wants, force=False)
            yield ResourceRequest(str(arn), type_name, _resource_keys(table, type_name, view, ref, params), read), view
        return
    if "id" in ref:
        for resource in values(params, ref["id"]):
            type_name = next((t for prefix, t in ref["types"].items() if str(resource).startswith(prefix)), None)
            if type_name is None:
                yield ResourceRequest("*", None), None
                continue
            holder = holders(table.resource_types[type_name]["arn"])[-1]
            yield from _typed(table, type_name, ref, {holder: str(resource)}, params, ctx, store, wants, base)
        return
    sources = ref.get("ids") or {}
    named = {name: values(params, source) for name, source in sources.items()}
    if ref.get("optional") and not any(named[n] for n, s in sources.items() if not s.startswith("=")):
        return
    if ref.get("or_caller") and caller_user_arn and not any(named.values()):
        yield ResourceRequest(caller_user_arn, ref["type"]), None
        return
    names = [n for n in named if named[n]]
    for combination in itertools.product(*(named[n] for n in names)):
        ids = {n: str(v) for n, v in zip(names, combination)}
        yield from _typed(table, ref["type"], ref, ids, params, ctx, store, wants, base)


def _typed(table: ServiceTable, type_name: str, ref: dict, ids: dict, params: dict, ctx: RequestContext,
           store: SqliteStore | None, wants: Callable[[str], bool], base: dict) -> Iterator[tuple[ResourceRequest, dict | None]]:
    resource_type = table.resource_types[type_name]
    names = {**base, **ids}
    for name, value in list(ids.items()):  # literal identifiers may themselves be templates
        if "${" in value:
            names[name] = ids[name] = fill(value, names)
    template = resource_type["arn"]
    missing = [h for h in holders(template) if h not in names]
    view, read = _view(table, type_name, ref, ids, ctx, store, wants, force=bool(missing))
    if view is not None and view.get("arn"):
        arn = view["arn"]
    else:
        names.update((view or {}).get("fields") or {})
        for name, value in (resource_type.get("defaults") or {}).items():
            names.setdefault(name, value)
        arn = fill(template, names)
    yield ResourceRequest(arn, type_name, _resource_keys(table, type_name, view, ref, params), read), view


def _view(table: ServiceTable, type_name: str, ref: dict, ids: dict, ctx: RequestContext, store: SqliteStore | None,
          wants: Callable[[str], bool], force: bool) -> tuple[dict | None, bool]:
    """(the stored resource's view or None, whether the store was asked)."""
    resource_type = table.resource_types[type_name]
    finder = FINDERS.get(ref.get("finder") or resource_type.get("finder") or "")
    if finder is None or store is None or "*" in ids.values():
        return None, False
    if not force and not any(wants(key) for key in resource_type.get("keys") or {}):
        return None, False
    return finder(store, ctx, ids), True


def _resource_keys(table: ServiceTable, type_name: str, view: dict | None, ref: dict, params: dict) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    if view is not None:
        for name, source in (table.resource_types[type_name].get("keys") or {}).items():
            value = view.get(source)
            supply(keys, name, [value] if value is not None else [])
    for name, source in (ref.get("keys") or {}).items():
        supply(keys, name, values(params, source))
    return keys
