"""The json protocol (CloudWatch Logs): X-Amz-Target names the operation, the body is JSON."""

from __future__ import annotations

import json

from botocore.model import OperationModel, ServiceModel

from ...core.errors import AwsError
from .jsonshape import error_document, load_json_body, read_json, write_json
from .request import AwsRequest


def _content_type(service_model: ServiceModel | None) -> str:
    version = (service_model.metadata.get("jsonVersion") if service_model is not None else None) or "1.1"
    return f"application/x-amz-json-{version}"


def parse_request(operation_model: OperationModel, request: AwsRequest) -> dict:
    shape = operation_model.input_shape
    document = load_json_body(request.body)
    return read_json(shape, document) if shape is not None else {}


def serialize_response(operation_model: OperationModel, result: dict, request_id: str):
    shape = operation_model.output_shape
    document = write_json(shape, result or {}) if shape is not None else {}
    headers = {"Content-Type": _content_type(operation_model.service_model), "x-amzn-RequestId": request_id}
    return 200, headers, json.dumps(document).encode("utf-8")


def serialize_error(service_model: ServiceModel | None, error: AwsError, request_id: str):
    document = {"__type": error.code, **error_document(service_model, error)}
    headers = {
        "Content-Type": _content_type(service_model),
        "x-amzn-RequestId": request_id,
        "x-amzn-ErrorType": error.code,
    }
    return error.resolved_status(service_model), headers, json.dumps(document).encode("utf-8")
