"""Server-side apply's field ownership (metadata.managedFields, fieldsV1): removing from an apply body
the fields that other field managers own, so applying it takes nothing from them (EKS's
resolveConflicts=PRESERVE).

fieldsV1 is a tree: ``f:<name>`` a map field, ``k:<json>`` a list item by its merge keys, ``v:<json>``
a set value, ``i:<n>`` a list item by index, ``.`` the node itself. An empty subtree means the
whole field is owned.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Iterable, Mapping


def owned_by_others(managed_fields: Iterable[Mapping[str, Any]], manager: str) -> list[dict]:
    """The fieldsV1 trees of every manager but ``manager`` (any operation, any subresource but status)."""
    return [
        entry.get("fieldsV1") or {}
        for entry in managed_fields
        if entry.get("manager") != manager and entry.get("subresource", "") != "status"
    ]


def _item_matches(item: Any, keys: Mapping[str, Any]) -> bool:
    return isinstance(item, dict) and all(item.get(k) == v for k, v in keys.items())


def _prune(body: Any, live: Any, tree: Mapping[str, Any]) -> None:
    """Drop from body the fields the tree owns whose live value differs from body's (the same value is
    shared ownership and takes nothing from anyone)."""
    if isinstance(body, dict):
        for entry, subtree in tree.items():
            name = entry[2:]
            if not entry.startswith("f:") or name not in body:
                continue
            live_value = live.get(name) if isinstance(live, dict) else None
            children = {k: v for k, v in (subtree or {}).items() if k != "."}
            if not children:
                if body[name] != live_value:
                    del body[name]
            else:
                _prune(body[name], live_value, children)
    elif isinstance(body, list):
        live_items = live if isinstance(live, list) else []
        for entry, subtree in tree.items():
            children = {k: v for k, v in (subtree or {}).items() if k != "."}
            if not entry.startswith("k:") or not children:
                continue  # set values and whole items owned elsewhere: ours to state as well
            keys = json.loads(entry[2:])
            live_item = next((item for item in live_items if _item_matches(item, keys)), None)
            for item in (item for item in body if _item_matches(item, keys)):
                _prune(item, live_item, children)
                item.update(keys)  # the merge keys identify the item: they always stay


def without_fields_of_others(body: Mapping[str, Any], live: Mapping[str, Any] | None, manager: str) -> dict:
    """A copy of the apply body without the fields other managers own in the live object. apiVersion,
    kind and metadata.name/namespace always stay: they identify the object."""
    result = copy.deepcopy(dict(body))
    if not live:
        return result
    for tree in owned_by_others((live.get("metadata") or {}).get("managedFields") or [], manager):
        _prune(result, live, tree)
    result["apiVersion"], result["kind"] = body["apiVersion"], body["kind"]
    metadata = result.setdefault("metadata", {})
    for field in ("name", "namespace"):
        if field in body["metadata"]:
            metadata[field] = body["metadata"][field]
    return result
