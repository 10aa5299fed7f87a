"""Every EKS-visible string formed in one place: ARNs, ids, issuer URLs, error messages."""

from __future__ import annotations

import re
import uuid

from ...core.errors import AwsError

ARN_RE = re.compile(r"^arn:(aws|aws-us-gov|aws-cn):eks:([a-z0-9-]+):(\d{12}):([a-z-]+)/(.+)$")


def cluster_arn(partition: str, region: str, account: str, name: str) -> str:
    return f"arn:{partition}:eks:{region}:{account}:cluster/{name}"


def new_cluster_id() -> str:
    """EKS's cluster ids are UUIDs; the OIDC issuer uses a 32-character upper-case hex id."""
    return str(uuid.uuid4())


def new_update_id() -> str:
    return str(uuid.uuid4())


def cluster_security_group_id(cluster_id: str) -> str:
    return "sg-" + cluster_id.replace("-", "")[:17]


def oidc_issuer(base_url: str, cluster_id: str) -> str:
    return f"{base_url}/_moorage/oidc/id/{cluster_id.replace('-', '').upper()}"


def cluster_not_found(name: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"No cluster found for name: {name}.", extra_fields={"clusterName": name})


def update_not_found(update_id: str, name: str) -> AwsError:
    return AwsError(
        "ResourceNotFoundException",
        f"No update found for ID: {update_id}.",
        extra_fields={"clusterName": name},
    )


def invalid_parameter(message: str, cluster: str | None = None) -> AwsError:
    fields = {"clusterName": cluster} if cluster else {}
    return AwsError("InvalidParameterException", message, extra_fields=fields)


def invalid_request(message: str, cluster: str | None = None) -> AwsError:
    fields = {"clusterName": cluster} if cluster else {}
    return AwsError("InvalidRequestException", message, extra_fields=fields)


def resource_in_use(message: str, cluster: str | None = None) -> AwsError:
    fields = {"clusterName": cluster} if cluster else {}
    return AwsError("ResourceInUseException", message, extra_fields=fields)
