"""AwsError and the protocol-level errors every service shares.

Business errors (NotFound, ResourceInUse, ...) belong to services/; this module only forms the
errors the protocol layer itself raises, in the words AWS uses for them.
"""

from __future__ import annotations

import uuid

from botocore.model import ServiceModel


class AwsError(Exception):
    """An error the client should see, in AWS's terms.

    `status` and `sender_fault` default to what the service model says about `code`
    (e.g. EKS NotFoundException is 404), else 400 / sender. `extra_fields` are extra members of
    the error shape, e.g. EKS's `clusterName`.
    """

    def __init__(
        self,
        code: str,
        message: str = "",
        status: int | None = None,
        sender_fault: bool | None = None,
        extra_fields: dict | None = None,
    ):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.sender_fault = sender_fault
        self.extra_fields = dict(extra_fields or {})
        # Set by the router when it knew the service but not the operation, so the error can
        # still be written in that service's protocol.
        self.service_model: ServiceModel | None = None

    def resolved_status(self, service_model: ServiceModel | None) -> int:
        if self.status is not None:
            return self.status
        shape = error_shape(service_model, self.code)
        if shape is not None:
            return int(shape.metadata.get("error", {}).get("httpStatusCode", 400))
        return 400

    def resolved_sender_fault(self, service_model: ServiceModel | None) -> bool:
        if self.sender_fault is not None:
            return self.sender_fault
        shape = error_shape(service_model, self.code)
        if shape is not None and "senderFault" in shape.metadata.get("error", {}):
            return bool(shape.metadata["error"]["senderFault"])
        return self.resolved_status(service_model) < 500


def error_shape(service_model: ServiceModel | None, code: str):
    """The model's shape for an error code, or None (many AWS errors are not modelled)."""
    return service_model.shape_for_error_code(code) if service_model is not None else None


def new_request_id() -> str:
    return str(uuid.uuid4())


# --- errors the protocol layer raises --------------------------------------------------------------


def validation_error_code(service_model: ServiceModel) -> str:
    """The code a service uses for a request that breaks the model's constraints.

    EKS and CloudWatch Logs answer InvalidParameterException (both model it); other json services
    say ValidationException and the query services ValidationError.
    """
    if error_shape(service_model, "InvalidParameterException") is not None:
        return "InvalidParameterException"
    if service_model.protocol in ("query", "ec2"):
        return "ValidationError"
    return "ValidationException"


def unknown_operation(service_model: ServiceModel | None, name: str | None, request_desc: str) -> AwsError:
    protocol = service_model.protocol if service_model is not None else None
    if protocol in ("query", "ec2") and name is None:
        # One of the query protocol's common errors.
        error = AwsError("MissingAction", "The request must contain the parameter Action", 400)
    elif protocol == "ec2":
        # EC2's own wording for an Action it does not know.
        error = AwsError("InvalidAction", f"The action {name} is not valid for this web service.", 400)
    elif protocol == "query":
        version = service_model.api_version
        error = AwsError("InvalidAction", f"Could not find operation {name} for version {version}", 400)
    elif protocol == "json":
        error = AwsError("UnknownOperationException", "", 400)
    else:
        error = AwsError("UnknownOperationException", f"No operation matches {request_desc}", 404)
    error.service_model = service_model
    return error


def serialization_error(message: str) -> AwsError:
    """Malformed JSON, or a JSON value of the wrong type (the Coral SerializationException)."""
    return AwsError("SerializationException", message, 400)


def invalid_parameter_value(wire_name: str, raw: str, expected: str) -> AwsError:
    """A query/ec2 parameter that cannot be read as its type (modelled on EC2's wording)."""
    return AwsError(
        "InvalidParameterValue",
        f"Value ({raw}) for parameter {wire_name} is invalid. Expected {expected}.",
        400,
    )


def malformed_query_string(message: str) -> AwsError:
    return AwsError("MalformedQueryString", message, 400)
