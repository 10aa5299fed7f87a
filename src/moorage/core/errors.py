"""AwsError: an error the client sees, in AWS's terms. Every layer may raise it; the gateway writes it
in the protocol of the service that was called."""

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
