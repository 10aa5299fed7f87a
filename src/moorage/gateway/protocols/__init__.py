"""The AWS wire protocols, driven by botocore's service models.

    service, operation = route(request)          # which API call is this?
    params = parse(operation, request)           # typed input, keyed by member name
    validate(operation, params)                  # the model's constraints, AWS's messages
    status, headers, body = serialize_response(operation, result, request_id)
    status, headers, body = serialize_error(service, AwsError(...), request_id)

Everything here is generic: no operation is read by hand.
"""

from .api import decode_request, parse, serialize_error, serialize_response
from .errors import AwsError, new_request_id, validation_error_code
from .models import SUPPORTED_SERVICES, get_service_model
from .request import AwsRequest, Headers
from .router import route
from .validate import validate

__all__ = [
    "SUPPORTED_SERVICES",
    "AwsError",
    "AwsRequest",
    "Headers",
    "decode_request",
    "get_service_model",
    "new_request_id",
    "parse",
    "route",
    "serialize_error",
    "serialize_response",
    "validate",
    "validation_error_code",
]
