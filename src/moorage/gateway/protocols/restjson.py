"""The rest-json protocol (EKS): URI labels, query string, headers and a JSON body."""

from __future__ import annotations

import base64
import json

from botocore.model import OperationModel, ServiceModel, Shape

from ...core.errors import AwsError
from .errors import serialization_error
from .jsonshape import TARGET_NAMES, error_document, load_json_body, read_json, write_json, write_json_scalar
from .request import AwsRequest
from .router import uri_labels
from .scalars import (
    format_bool,
    format_float,
    format_timestamp,
    read_blob,
    read_bool,
    read_float,
    read_int,
    read_timestamp,
)


def _from_text(shape: Shape, text: str):
    """A URI, query-string or header value as its shape's type."""
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return read_int(text)
        if kind in ("float", "double"):
            return read_float(text)
        if kind == "boolean":
            return read_bool(text)
        if kind == "timestamp":
            return read_timestamp(text)
        if kind == "blob":
            return read_blob(text)
    except ValueError:
        raise serialization_error(f"STRING_VALUE can not be converted to {TARGET_NAMES[kind]}") from None
    if kind == "string" and shape.serialization.get("jsonvalue"):
        try:
            return json.loads(base64.b64decode(text))
        except ValueError:
            raise serialization_error("The header value is not base64-encoded JSON") from None
    return text


def _split_header_list(text: str) -> list[str]:
    # RFC 7230 list: comma separated, items containing commas or quotes are double-quoted.
    items, current, quoted, escaped = [], "", False, False
    for char in text:
        if escaped:
            current += char
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            items.append(current.strip())
            current = ""
        else:
            current += char
    items.append(current.strip())
    return [item for item in items if item != ""]


def parse_request(operation_model: OperationModel, request: AwsRequest) -> dict:
    shape = operation_model.input_shape
    if shape is None:
        return {}
    labels = uri_labels(operation_model, request.path)
    query = request.query_params()
    claimed = {member.serialization.get("name", name) for name, member in shape.members.items()
               if member.serialization.get("location") == "querystring" and member.type_name != "map"}
    payload_name = shape.serialization.get("payload")
    params: dict = {}
    body_members = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri":
            if wire in labels:
                params[name] = _from_text(member, labels[wire])
        elif location == "querystring":
            value = _read_query_member(member, wire, query, claimed)
            if value is not None:
                params[name] = value
        elif location == "header":
            raw = request.headers.get(wire)
            if raw is not None:
                params[name] = _read_header(member, raw)
        elif location == "headers":
            prefix = wire.lower()
            found = {key[len(prefix):]: value for key, value in request.headers.items()
                     if key.lower().startswith(prefix)}
            if found:
                params[name] = found
        elif name != payload_name:
            body_members[name] = member
    if payload_name is not None:
        _read_payload(shape.members[payload_name], payload_name, request.body, params)
    elif body_members:
        document = load_json_body(request.body)
        for name, member in body_members.items():
            raw = document.get(member.serialization.get("name", name))
            if raw is not None:
                params[name] = read_json(member, raw)
    return params


def _read_query_member(member: Shape, wire: str, query: list[tuple[str, str]], claimed: set[str]):
    if member.type_name == "map":
        # A map bound to the query string takes every parameter no other member claims.
        result: dict = {}
        for key, value in query:
            if key in claimed:
                continue
            if member.value.type_name == "list":
                result.setdefault(key, []).append(_from_text(member.value.member, value))
            else:
                result.setdefault(key, _from_text(member.value, value))
        return result or None
    values = [value for key, value in query if key == wire]
    if not values:
        return None
    if member.type_name == "list":
        return [_from_text(member.member, value) for value in values]
    return _from_text(member, values[0])


def _read_header(member: Shape, raw: str):
    if member.type_name == "list":
        return [_from_text(member.member, item) for item in _split_header_list(raw)]
    return _from_text(member, raw)


def _read_payload(member: Shape, name: str, body: bytes, params: dict) -> None:
    if member.type_name == "blob":
        if body:
            params[name] = body
    elif member.type_name == "string":
        if body:
            try:
                params[name] = body.decode("utf-8")
            except UnicodeDecodeError:
                raise serialization_error("The request body is not valid UTF-8") from None
    elif body.strip():
        params[name] = read_json(member, load_json_body(body))


# --- responses -----------------------------------------------------------------------------------------


def _header_text(member: Shape, value) -> str:
    kind = member.type_name
    if kind == "timestamp":
        return str(format_timestamp(value, member.serialization.get("timestampFormat", "rfc822")))
    if kind == "list":
        return ",".join(_quote_list_item(_header_text(member.member, item)) for item in value)
    if kind == "boolean":
        return format_bool(value)
    if kind in ("float", "double"):
        return str(format_float(value))
    if kind == "string" and member.serialization.get("jsonvalue"):
        return base64.b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()
    return str(write_json_scalar(member, value))


def _quote_list_item(text: str) -> str:
    # The inverse of _split_header_list: quote items that hold a comma or a quote.
    if "," in text or '"' in text:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def serialize_response(operation_model: OperationModel, result: dict, request_id: str):
    status = int(operation_model.http.get("responseCode", 200))
    headers = {"Content-Type": "application/json", "x-amzn-RequestId": request_id}
    shape = operation_model.output_shape
    result = {key: value for key, value in (result or {}).items() if value is not None}
    if shape is None:
        return status, headers, b"{}"
    payload_name = shape.serialization.get("payload")
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        if name not in result or location is None:
            continue
        wire = member.serialization.get("name", name)
        if location == "header":
            headers[wire] = _header_text(member, result[name])
        elif location == "headers":
            for key, value in result[name].items():
                headers[wire + key] = str(value)
        elif location == "statusCode":
            status = int(result[name])
    if payload_name is not None:
        member = shape.members[payload_name]
        value = result.get(payload_name)
        if member.type_name in ("blob", "string"):
            headers["Content-Type"] = "application/octet-stream" if member.type_name == "blob" else "text/plain"
            body = value.encode("utf-8") if isinstance(value, str) else bytes(value or b"")
        else:
            body = json.dumps(write_json(member, value or {})).encode("utf-8")
        return status, headers, body
    return status, headers, json.dumps(write_json(shape, result)).encode("utf-8")


def serialize_error(service_model: ServiceModel | None, error: AwsError, request_id: str):
    status = error.resolved_status(service_model)
    headers = {
        "Content-Type": "application/json",
        "x-amzn-RequestId": request_id,
        "x-amzn-ErrorType": error.code,
    }
    return status, headers, json.dumps(error_document(service_model, error)).encode("utf-8")
