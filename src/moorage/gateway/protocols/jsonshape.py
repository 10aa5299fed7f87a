"""Shape-driven conversion between JSON documents and typed Python values (json and rest-json)."""

from __future__ import annotations

import json
from typing import Callable

from botocore.model import Shape

from .errors import error_shape, serialization_error
from .scalars import format_blob, format_float, format_timestamp, read_blob, read_float, read_timestamp

TARGET_NAMES = {
    "string": "a String",
    "integer": "an Integer",
    "long": "a Long",
    "float": "a Float",
    "double": "a Double",
    "boolean": "a Boolean",
    "timestamp": "a Date",
    "blob": "a ByteBuffer",
    "structure": "a Structure",
    "list": "a List",
    "map": "a Map",
}
_INT_BOUNDS = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


def load_json_body(body: bytes) -> dict:
    """The request body as a JSON object; an empty body is an empty object."""
    if not body.strip():
        return {}
    try:
        document = json.loads(body)
    except RecursionError:  # absurdly deep nesting must stay a client error, not a crash
        raise serialization_error("The request body is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise serialization_error(f"The request body is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise serialization_error(_mismatch(document, "structure"))
    return document


def _token(value) -> str:
    # Names in the style of the Coral/Jackson messages AWS returns for type mismatches.
    if isinstance(value, bool):
        return "TRUE_VALUE" if value else "FALSE_VALUE"
    if isinstance(value, (int, float)):
        return "NUMBER_VALUE"
    if isinstance(value, str):
        return "STRING_VALUE"
    return "NULL_VALUE"


def _mismatch(value, type_name: str) -> str:
    if isinstance(value, dict):
        return "Start of structure or map found where not expected."
    if isinstance(value, list):
        return "Start of list found where not expected."
    return f"{_token(value)} can not be converted to {TARGET_NAMES.get(type_name, 'the expected type')}"


def read_json(shape: Shape, value):
    """Typed Python value for JSON `value` of `shape`; SerializationException on a type mismatch."""
    kind = shape.type_name
    if kind == "structure":
        if getattr(shape, "is_document_type", False):
            return value
        if not isinstance(value, dict):
            raise serialization_error(_mismatch(value, kind))
        result = {}
        for member_name, member_shape in shape.members.items():
            raw = value.get(member_shape.serialization.get("name", member_name))
            if raw is not None:
                result[member_name] = read_json(member_shape, raw)
        return result
    if kind == "list":
        if not isinstance(value, list):
            raise serialization_error(_mismatch(value, kind))
        return [read_json(shape.member, item) for item in value if item is not None]
    if kind == "map":
        if not isinstance(value, dict):
            raise serialization_error(_mismatch(value, kind))
        return {key: read_json(shape.value, item) for key, item in value.items() if item is not None}
    return read_json_scalar(shape, value)


def read_json_scalar(shape: Shape, value):
    kind = shape.type_name
    if isinstance(value, (dict, list)):
        raise serialization_error(_mismatch(value, kind))
    try:
        if kind == "string":
            if not isinstance(value, str):
                raise ValueError
            return value
        if kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError
                value = int(value)
            low, high = _INT_BOUNDS[kind]
            if not low <= value <= high:
                java_type = "int" if kind == "integer" else "long"
                raise serialization_error(f"Numeric value ({value}) out of range of {java_type}")
            return value
        if kind in ("float", "double"):
            return read_float(value)
        if kind == "boolean":
            if not isinstance(value, bool):
                raise ValueError
            return value
        if kind == "timestamp":
            return read_timestamp(value)
        if kind == "blob":
            if not isinstance(value, str):
                raise ValueError
            return read_blob(value)
    except ValueError:
        raise serialization_error(_mismatch(value, kind)) from None
    return value


def write_json(shape: Shape, value):
    """JSON-ready value for Python `value` of `shape` (output direction)."""
    return _writer(shape)(value)


# Writers compiled once per shape: responses are on the hot path (DescribeCluster), and walking
# botocore's shape objects member by member on every request cost more than the rest of it.
_WRITERS: dict[int, tuple[Shape, Callable]] = {}


def _writer(shape: Shape) -> Callable:
    entry = _WRITERS.get(id(shape))
    if entry is None or entry[0] is not shape:
        entry = (shape, _compile_writer(shape))
        _WRITERS[id(shape)] = entry
    return entry[1]


def _compile_writer(shape: Shape) -> Callable:
    kind = shape.type_name
    if kind == "structure":
        if getattr(shape, "is_document_type", False):
            return lambda value: value
        members = shape.members
        body_members = {
            name: (member.serialization.get("name", name), member)
            for name, member in members.items()
            if "location" not in member.serialization
        }

        def write_structure(value):
            out = {}
            for name, item in value.items():
                info = body_members.get(name)
                if info is None:
                    if name not in members:
                        raise TypeError(f"{shape.name} has no member(s) {sorted(set(value) - set(members))}")
                    continue  # headers, status code and URI members are not part of the body
                if item is not None:
                    out[info[0]] = _writer(info[1])(item)
            return out

        return write_structure
    if kind == "list":
        member = shape.member
        return lambda value: [_writer(member)(item) for item in value]
    if kind == "map":
        value_shape = shape.value
        return lambda value: {str(key): _writer(value_shape)(item) for key, item in value.items()}
    if kind == "timestamp":
        fmt = shape.serialization.get("timestampFormat", "unixTimestamp")
        return lambda value: format_timestamp(value, fmt)
    if kind == "string":
        return lambda value: value if type(value) is str else getattr(value, "value", value)
    return lambda value: write_json_scalar(shape, value)


def write_json_scalar(shape: Shape, value):
    kind = shape.type_name
    if kind == "timestamp":
        return format_timestamp(value, shape.serialization.get("timestampFormat", "unixTimestamp"))
    if kind == "blob":
        return format_blob(value)
    if kind in ("float", "double"):
        return format_float(value)
    if kind in ("integer", "long"):
        return int(value)
    if kind == "boolean":
        return bool(value)
    if kind == "string":
        return getattr(value, "value", value)  # accept str-valued Enums for enum shapes
    return value


def error_document(service_model, error) -> dict:
    """The JSON body of an error: message plus any extra members of the modelled error shape."""
    shape = error_shape(service_model, error.code)
    members = shape.members if shape is not None else {}
    # Most shapes spell it 'message'; honour the few that model 'Message'.
    message_key = "Message" if "Message" in members and "message" not in members else "message"
    document = {message_key: error.message}
    for name, value in error.extra_fields.items():
        member = members.get(name)
        wire = member.serialization.get("name", name) if member is not None else name
        document[wire] = write_json(member, value) if member is not None else value
    return document
