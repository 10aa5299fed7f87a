"""The botocore service models Moorage speaks, loaded once per process."""

from __future__ import annotations

import functools

from botocore.loaders import Loader
from botocore.model import ServiceModel

# Service name -> wire protocol, for the services the gateway serves.
SUPPORTED_SERVICES: dict[str, str] = {
    "eks": "rest-json",
    "sts": "query",
    "iam": "query",
    "autoscaling": "query",
    "ec2": "ec2",
    "logs": "json",
}


@functools.cache
def _loader() -> Loader:
    return Loader()


@functools.cache
def get_service_model(name: str) -> ServiceModel:
    """The ServiceModel for `name` (a botocore service name such as 'eks'); KeyError if unsupported."""
    if name not in SUPPORTED_SERVICES:
        raise KeyError(f"Moorage does not serve the AWS service {name!r}")
    data = _loader().load_service_model(name, "service-2")
    return ServiceModel(data, service_name=name)


def all_service_models() -> list[ServiceModel]:
    return [get_service_model(name) for name in SUPPORTED_SERVICES]


def signing_name(service_model: ServiceModel) -> str:
    """The name a client puts in the SigV4 credential scope for this service."""
    return service_model.signing_name or service_model.endpoint_prefix


def wire_name(member_name: str) -> str:
    """How AWS names a member in validation messages: lower camel case ('RoleName' -> 'roleName')."""
    return member_name[:1].lower() + member_name[1:]
