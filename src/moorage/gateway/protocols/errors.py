"""The errors the protocol layer itself raises, in the words AWS uses for them.

AwsError lives in core/errors.py (every layer raises it); business errors (NotFound,
ResourceInUse, ...) belong to services/.
"""

from __future__ import annotations

from botocore.model import ServiceModel

from ...core.errors import AwsError, error_shape, new_request_id  # noqa: F401  (the gateway's vocabulary)

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
