"""Test helpers: example values generated from shapes, and botocore's client side of the wire."""

from __future__ import annotations

import re._parser as sre_parse
from datetime import datetime, timezone
from urllib.parse import urlsplit

from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.compat import HTTPHeaders
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from moorage.gateway.protocols import AwsRequest, Headers
from moorage.gateway.protocols.validate import compiled_pattern

EXAMPLE_TIME = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
ENDPOINT = "https://aws.example.test"
_CATEGORY_CHAR = {
    sre_parse.CATEGORY_DIGIT: "7",
    sre_parse.CATEGORY_WORD: "w",
    sre_parse.CATEGORY_SPACE: " ",
    sre_parse.CATEGORY_NOT_DIGIT: "a",
    sre_parse.CATEGORY_NOT_WORD: "-",
    sre_parse.CATEGORY_NOT_SPACE: "a",
}


# --- strings that satisfy a model pattern ---------------------------------------------------------


def _render(parsed, repeat: int) -> str:
    out = []
    for op, arg in parsed:
        if op is sre_parse.LITERAL:
            out.append(chr(arg))
        elif op is sre_parse.ANY:
            out.append("a")
        elif op is sre_parse.IN:
            out.append(_class_char(arg))
        elif op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, sre_parse.POSSESSIVE_REPEAT):
            low, high, sub = arg
            count = max(low, min(repeat, high))
            out.append(_render(sub, repeat) * count)
        elif op is sre_parse.SUBPATTERN:
            out.append(_render(arg[-1], repeat))
        elif op is sre_parse.BRANCH:
            out.append(_render(arg[1][0], repeat))
        elif op is sre_parse.CATEGORY:
            out.append(_CATEGORY_CHAR.get(arg, "a"))
        elif op is sre_parse.NOT_LITERAL:
            out.append("a" if arg != ord("a") else "b")
    return "".join(out)


def _class_char(items) -> str:
    negated = any(op is sre_parse.NEGATE for op, _ in items)
    if negated:
        excluded = {arg for op, arg in items if op is sre_parse.LITERAL}
        return next(ch for ch in "abcxyz019" if ord(ch) not in excluded)
    # Prefer a letter when the class allows one: it reads better and survives every encoding.
    for op, arg in items:
        if op is sre_parse.RANGE and arg[0] <= ord("a") <= arg[1]:
            return "a"
    for op, arg in items:
        if op is sre_parse.LITERAL:
            return chr(arg)
        if op is sre_parse.RANGE:
            return chr(max(arg[0], 0x21) if arg[1] >= 0x21 else arg[0])
        if op is sre_parse.CATEGORY:
            return _CATEGORY_CHAR.get(arg, "a")
    return "a"


def example_string(meta: dict) -> str:
    low, high = meta.get("min", 1), meta.get("max", 64)
    pattern = meta.get("pattern")
    regex = compiled_pattern(pattern) if pattern else None
    candidates = []
    if regex is not None:
        parsed = sre_parse.parse(pattern)
        repeats = sorted({1, 3, 8, 20, low, min(high, 100)})
        candidates += [_render(parsed, repeat) for repeat in repeats]
    candidates += ["example", "a" * max(low, 1)]
    for text in candidates:
        if low <= len(text) <= high and (regex is None or regex.fullmatch(text)):
            return text
    return "example"[: max(high, 1)].ljust(low, "a")


# --- values for whole shapes -------------------------------------------------------------------------


def _within(value, meta: dict):
    if "min" in meta:
        value = max(value, meta["min"])
    if "max" in meta:
        value = min(value, meta["max"])
    return value


def example_value(shape, depth: int = 0):
    """A value for `shape` with every member filled in (optional ones too, down to a depth)."""
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if getattr(shape, "is_document_type", False):
            return {"key": ["document", 1, True]}
        if shape.is_tagged_union:
            name, member = next(iter(shape.members.items()))
            return {name: example_value(member, depth + 1)}
        members = {name: member for name, member in shape.members.items()
                   if not member.serialization.get("eventstream")}
        if depth > 3:
            # Deep down keep the required members, or one scalar: the query protocols cannot
            # express an empty structure, so every structure must carry something.
            chosen = [name for name in members if name in shape.required_members]
            scalars = [name for name, member in members.items()
                       if member.type_name not in ("structure", "list", "map")]
            members = {name: members[name] for name in (chosen or scalars[:1] or list(members)[:1])}
        return {name: example_value(member, depth + 1) for name, member in members.items()}
    if kind == "list":
        count = max(1, meta.get("min", 1))
        count = min(count, meta.get("max", count))
        return [example_value(shape.member, depth + 1) for _ in range(count)]
    if kind == "map":
        key = example_value(shape.key, depth + 1)
        count = max(1, meta.get("min", 1))
        # Distinct keys when the model asks for several entries.
        keys = [key] + [f"{key}{index}" for index in range(1, count)]
        return {item: example_value(shape.value, depth + 1) for item in keys}
    if kind == "string":
        if meta.get("enum"):
            return meta["enum"][0]
        if shape.serialization.get("jsonvalue"):
            return {"json": "value"}
        return example_string(meta)
    if kind in ("integer", "long"):
        return int(_within(3, meta))
    if kind in ("float", "double"):
        return float(_within(1.5, meta))
    if kind == "boolean":
        return True
    if kind == "timestamp":
        return EXAMPLE_TIME
    if kind == "blob":
        return b"blob\x00data"
    raise AssertionError(f"unexpected shape type {kind}")


# --- botocore's client side ---------------------------------------------------------------------------


def botocore_request(operation_model, params, endpoint: str = ENDPOINT):
    """The AWSRequest botocore would send for these params (not yet signed)."""
    serializer = create_serializer(operation_model.service_model.protocol, include_validation=True)
    request_dict = serializer.serialize_to_request(params, operation_model)
    prepare_request_dict(request_dict, endpoint_url=endpoint)
    return create_request_object(request_dict)


def to_aws_request(aws_request) -> AwsRequest:
    """What our server sees of a botocore request: raw path, raw query, headers (with Host), body."""
    prepared = aws_request.prepare()
    url = urlsplit(prepared.url)
    headers = Headers()
    if "host" not in {name.lower() for name in prepared.headers}:
        headers.add("Host", url.netloc)
    for name, value in prepared.headers.items():
        headers.add(name, value)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    return AwsRequest(prepared.method, url.path or "/", url.query, headers, body)


def botocore_parse(protocol: str, shape, status: int, headers: dict, body: bytes) -> dict:
    """Parse our response the way a boto3 client does."""
    http_headers = HTTPHeaders()
    for name, value in headers.items():
        http_headers[name] = value
    response = {"status_code": status, "headers": http_headers, "body": body, "context": {}}
    return create_parser(protocol).parse(response, shape)


def strip_metadata(parsed: dict) -> dict:
    return {key: value for key, value in parsed.items() if key != "ResponseMetadata"}


__all__ = [
    "EXAMPLE_TIME",
    "botocore_parse",
    "botocore_request",
    "example_string",
    "example_value",
    "strip_metadata",
    "to_aws_request",
]
