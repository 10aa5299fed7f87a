"""The ec2 protocol: the query protocol with EC2's own names, list encoding and envelopes."""

from __future__ import annotations

from xml.sax.saxutils import escape

from botocore.model import OperationModel, ServiceModel, Shape

from ...core.errors import AwsError
from .query import QueryProtocol


class Ec2Protocol(QueryProtocol):
    protocol = "ec2"
    # EC2 has no spelling for an empty list, so a bare 'Name=' is not one.
    empty_list_as_blank = False
    timestamp_format = "iso8601-millis"  # EC2 writes '2024-01-02T03:04:05.000Z'

    def input_name(self, member: Shape, member_name: str) -> str:
        # EC2 input names: queryName, else the locationName with its first letter capitalised.
        if "queryName" in member.serialization:
            return member.serialization["queryName"]
        name = member.serialization.get("name")
        return name[:1].upper() + name[1:] if name else member_name

    def _list_prefix(self, shape: Shape, prefix: str) -> str:
        # Lists are always 'Name.N', never 'Name.member.N'.
        return prefix

    def namespace(self, service_model: ServiceModel) -> str:
        namespace = service_model.metadata.get("xmlNamespace") or (
            f"http://ec2.amazonaws.com/doc/{service_model.api_version}"
        )
        # Real EC2 responses carry the trailing slash the botocore model leaves off.
        return namespace if namespace.endswith("/") else namespace + "/"

    def serialize_response(self, operation_model: OperationModel, result: dict, request_id: str):
        name = operation_model.name
        shape = operation_model.output_shape
        namespace = escape(self.namespace(operation_model.service_model), {'"': "&quot;"})
        members = self._members_xml(shape, result or {}) if shape is not None else ""
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<{name}Response xmlns="{namespace}">'
            f"<requestId>{escape(request_id)}</requestId>{members}</{name}Response>"
        )
        return 200, self._headers(request_id), body.encode("utf-8")

    def serialize_error(self, service_model: ServiceModel | None, error: AwsError, request_id: str):
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message>"
            f"{self._extra_fields_xml(service_model, error)}</Error></Errors>"
            f"<RequestID>{escape(request_id)}</RequestID></Response>"
        )
        return error.resolved_status(service_model), self._headers(request_id), body.encode("utf-8")


EC2 = Ec2Protocol()
