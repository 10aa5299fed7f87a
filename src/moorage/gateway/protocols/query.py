"""The query protocol (IAM, STS, Auto Scaling): flat form parameters in, XML out.

EC2 is a dialect of it; ec2.py overrides the few places where the two differ.
"""

from __future__ import annotations

from collections import defaultdict
from xml.sax.saxutils import escape

from botocore.model import OperationModel, ServiceModel, Shape

from ...core.errors import AwsError
from .errors import error_shape, invalid_parameter_value, malformed_query_string
from .request import AwsRequest
from .scalars import (
    format_blob,
    format_bool,
    format_float,
    format_timestamp,
    read_blob,
    read_bool,
    read_float,
    read_int,
    read_timestamp,
)

_MISSING = object()
_EXPECTED = {
    "integer": "an integer",
    "long": "an integer",
    "float": "a number",
    "double": "a number",
    "boolean": "true or false",
    "timestamp": "an ISO 8601 timestamp",
    "blob": "base64-encoded data",
}


class FlatParams:
    """Flat 'A.b.1.C' parameters, indexed so list and map members can be found without scanning."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self.values: dict[str, str] = {}
        self.children: dict[str, set[str]] = defaultdict(set)
        for key, value in pairs:
            self.values.setdefault(key, value)  # a repeated key: the first one wins
            segments = key.split(".")
            for depth in range(1, len(segments)):
                self.children[".".join(segments[:depth])].add(segments[depth])

    def indices(self, prefix: str) -> list[int]:
        """The numeric children of `prefix`, in numeric order (clients need not send them in order)."""
        return sorted(
            int(segment)
            for segment in self.children.get(prefix, ())
            if segment.isascii() and segment.isdigit() and len(segment) < 10
        )


class QueryProtocol:
    """Reading and writing for the query protocol; driven entirely by the operation's shapes."""

    protocol = "query"
    # The query protocol sends an empty list as a bare 'Name=' parameter.
    empty_list_as_blank = True
    timestamp_format = "iso8601"

    # --- names -----------------------------------------------------------------------------------

    def input_name(self, member: Shape, member_name: str) -> str:
        return member.serialization.get("name", member_name)

    def xml_name(self, member: Shape, member_name: str) -> str:
        # A flattened list repeats its member's element name when the model gives one.
        if member.type_name == "list" and member.serialization.get("flattened"):
            return member.member.serialization.get("name") or member.serialization.get("name", member_name)
        return member.serialization.get("name", member_name)

    def namespace(self, service_model: ServiceModel) -> str:
        return service_model.metadata.get("xmlNamespace", "")

    # --- requests --------------------------------------------------------------------------------

    def parse_request(self, operation_model: OperationModel, request: AwsRequest) -> dict:
        try:
            pairs = request.query_params(errors="strict") + request.form_params(errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise malformed_query_string("The query string or form body is not valid UTF-8.") from None
        shape = operation_model.input_shape
        if shape is None:
            return {}
        value = self._read(shape, "", FlatParams(pairs))
        return {} if value is _MISSING else value

    def _read(self, shape: Shape, prefix: str, params: FlatParams):
        kind = shape.type_name
        if kind == "structure":
            if prefix and prefix not in params.children:
                return _MISSING  # nothing sent under it (this also ends recursive shapes)
            result = {}
            for name, member in shape.members.items():
                key = self.input_name(member, name)
                value = self._read(member, f"{prefix}.{key}" if prefix else key, params)
                if value is not _MISSING:
                    result[name] = value
            return result if result or not prefix else _MISSING
        if kind == "list":
            return self._read_list(shape, prefix, params)
        if kind == "map":
            return self._read_map(shape, prefix, params)
        raw = params.values.get(prefix)
        if raw is None:
            return _MISSING
        return self._scalar(shape, prefix, raw)

    def _list_prefix(self, shape: Shape, prefix: str) -> str:
        if shape.serialization.get("flattened"):
            name = shape.member.serialization.get("name")
            return ".".join(prefix.split(".")[:-1] + [name]) if name else prefix
        return f"{prefix}.{shape.member.serialization.get('name', 'member')}"

    def _read_list(self, shape: Shape, prefix: str, params: FlatParams):
        list_prefix = self._list_prefix(shape, prefix)
        indices = params.indices(list_prefix)
        if not indices:
            empty = self.empty_list_as_blank and params.values.get(prefix) == ""
            return [] if empty else _MISSING
        items = (self._read(shape.member, f"{list_prefix}.{index}", params) for index in indices)
        return [item for item in items if item is not _MISSING]

    def _read_map(self, shape: Shape, prefix: str, params: FlatParams):
        entries = prefix if shape.serialization.get("flattened") else f"{prefix}.entry"
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        result = {}
        for index in params.indices(entries):
            key = self._read(shape.key, f"{entries}.{index}.{key_name}", params)
            value = self._read(shape.value, f"{entries}.{index}.{value_name}", params)
            if key is not _MISSING and value is not _MISSING:
                result[key] = value
        return result if result else _MISSING

    def _scalar(self, shape: Shape, wire_name: str, raw: str):
        kind = shape.type_name
        try:
            if kind in ("integer", "long"):
                return read_int(raw)
            if kind in ("float", "double"):
                return read_float(raw)
            if kind == "boolean":
                return read_bool(raw)
            if kind == "timestamp":
                return read_timestamp(raw)
            if kind == "blob":
                return read_blob(raw)
        except ValueError:
            raise invalid_parameter_value(wire_name, raw, _EXPECTED[kind]) from None
        return raw

    # --- responses -------------------------------------------------------------------------------

    def serialize_response(self, operation_model: OperationModel, result: dict, request_id: str):
        name = operation_model.name
        shape = operation_model.output_shape
        namespace = escape(self.namespace(operation_model.service_model), {'"': "&quot;"})
        body = [f'<{name}Response xmlns="{namespace}">']
        if shape is not None:
            wrapper = shape.serialization.get("resultWrapper", f"{name}Result")
            body.append(f"<{wrapper}>{self._members_xml(shape, result or {})}</{wrapper}>")
        body.append(f"<ResponseMetadata><RequestId>{escape(request_id)}</RequestId></ResponseMetadata>")
        body.append(f"</{name}Response>")
        return 200, self._headers(request_id), "".join(body).encode("utf-8")

    def serialize_error(self, service_model: ServiceModel | None, error: AwsError, request_id: str):
        namespace = escape(self.namespace(service_model), {'"': "&quot;"}) if service_model else ""
        fault = "Sender" if error.resolved_sender_fault(service_model) else "Receiver"
        body = (
            f'<ErrorResponse xmlns="{namespace}"><Error><Type>{fault}</Type>'
            f"<Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message>"
            f"{self._extra_fields_xml(service_model, error)}</Error>"
            f"<RequestId>{escape(request_id)}</RequestId></ErrorResponse>"
        )
        return error.resolved_status(service_model), self._headers(request_id), body.encode("utf-8")

    def _headers(self, request_id: str) -> dict:
        return {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}

    def _extra_fields_xml(self, service_model, error: AwsError) -> str:
        shape = error_shape(service_model, error.code)
        members = shape.members if shape is not None else {}
        parts = []
        for name, value in error.extra_fields.items():
            member = members.get(name)
            if member is None:
                parts.append(f"<{name}>{escape(str(value))}</{name}>")
            else:
                parts.append(self._xml(member, value, self.xml_name(member, name)))
        return "".join(parts)

    def _members_xml(self, shape: Shape, value: dict) -> str:
        unknown = set(value) - set(shape.members)
        if unknown:
            raise TypeError(f"{shape.name} has no member(s) {sorted(unknown)}")
        parts = []
        for name, member in shape.members.items():
            item = value.get(name)
            if item is not None:
                parts.append(self._xml(member, item, self.xml_name(member, name)))
        return "".join(parts)

    def _xml(self, shape: Shape, value, tag: str) -> str:
        kind = shape.type_name
        if kind == "structure":
            return f"<{tag}>{self._members_xml(shape, value)}</{tag}>"
        if kind == "list":
            if shape.serialization.get("flattened"):
                return "".join(self._xml(shape.member, item, tag) for item in value)
            item_tag = shape.member.serialization.get("name", "member")
            return f"<{tag}>{''.join(self._xml(shape.member, item, item_tag) for item in value)}</{tag}>"
        if kind == "map":
            key_tag = shape.key.serialization.get("name", "key")
            value_tag = shape.value.serialization.get("name", "value")
            entries = [
                self._xml(shape.key, key, key_tag) + self._xml(shape.value, item, value_tag)
                for key, item in value.items()
            ]
            if shape.serialization.get("flattened"):
                return "".join(f"<{tag}>{entry}</{tag}>" for entry in entries)
            return f"<{tag}>{''.join(f'<entry>{entry}</entry>' for entry in entries)}</{tag}>"
        return f"<{tag}>{escape(self._text(shape, value))}</{tag}>"

    def _text(self, shape: Shape, value) -> str:
        kind = shape.type_name
        if kind == "timestamp":
            return str(format_timestamp(value, shape.serialization.get("timestampFormat", self.timestamp_format)))
        if kind == "boolean":
            return format_bool(value)
        if kind in ("float", "double"):
            return str(format_float(value))
        if kind in ("integer", "long"):
            return str(int(value))
        if kind == "blob":
            return format_blob(value)
        return str(getattr(value, "value", value))


QUERY = QueryProtocol()
