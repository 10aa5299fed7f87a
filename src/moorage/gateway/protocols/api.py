"""One entry point per step, each dispatching on the service's protocol."""

from __future__ import annotations

from botocore.model import OperationModel, ServiceModel

from ...core.errors import AwsError
from . import json_rpc, restjson
from .ec2 import EC2
from .query import QUERY
from .request import AwsRequest
from .router import route
from .validate import validate

_PARSERS = {
    "rest-json": restjson.parse_request,
    "json": json_rpc.parse_request,
    "query": QUERY.parse_request,
    "ec2": EC2.parse_request,
}
_RESPONSE_WRITERS = {
    "rest-json": restjson.serialize_response,
    "json": json_rpc.serialize_response,
    "query": QUERY.serialize_response,
    "ec2": EC2.serialize_response,
}
_ERROR_WRITERS = {
    "rest-json": restjson.serialize_error,
    "json": json_rpc.serialize_error,
    "query": QUERY.serialize_error,
    "ec2": EC2.serialize_error,
}


def parse(operation_model: OperationModel, request: AwsRequest) -> dict:
    """The operation's input as a dict keyed by member name, values typed per shape.

    Raises AwsError (4xx) for malformed input; never validates constraints (see validate()).
    """
    return _PARSERS[operation_model.service_model.protocol](operation_model, request)


def decode_request(request: AwsRequest) -> tuple[ServiceModel, OperationModel, dict]:
    """route() + parse() + validate(): everything the gateway needs before calling a service."""
    service_model, operation_model = route(request)
    try:
        params = parse(operation_model, request)
        validate(operation_model, params)
    except AwsError as error:
        error.service_model = service_model
        raise
    return service_model, operation_model, params


def serialize_response(operation_model: OperationModel, result: dict | None, request_id: str):
    """(status, headers, body) for a successful call; `result` is keyed by output member names."""
    return _RESPONSE_WRITERS[operation_model.service_model.protocol](operation_model, result or {}, request_id)


def serialize_error(service_model: ServiceModel | None, error: AwsError, request_id: str):
    """(status, headers, body) for an error in the service's protocol.

    With no service model (nothing could be routed) the error is written as rest-json, the form
    AWS's generic front ends use.
    """
    service_model = service_model or error.service_model
    protocol = service_model.protocol if service_model is not None else "rest-json"
    return _ERROR_WRITERS[protocol](service_model, error, request_id)
