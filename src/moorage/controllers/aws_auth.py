"""Adding a node or Fargate role to a cluster's aws-auth ConfigMap, as EKS does for managed node
groups and Fargate profiles in the CONFIG_MAP authentication modes."""

from __future__ import annotations

from ..infra.kube import KubeClient, KubeError, object_path
from ..services.eks.aws_auth import AWS_AUTH_PATH, with_role_mapping


async def ensure_role_mapping(kube: KubeClient, role_arn: str, entry_type: str = "EC2_LINUX") -> bool:
    """Add the role to mapRoles, keeping everything else in aws-auth; creates the ConfigMap if absent.
    Returns True if aws-auth changed. Safe to repeat."""
    for _ in range(5):
        configmap = await kube.get_or_none(AWS_AUTH_PATH)
        data = with_role_mapping((configmap or {}).get("data"), role_arn, entry_type)
        if data is None:
            return False
        try:
            if configmap is None:
                body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "aws-auth", "namespace": "kube-system"}, "data": data}
                await kube.create(object_path("v1", "configmaps", namespace="kube-system"), body)
            else:
                # resourceVersion makes this a compare-and-set against concurrent edits by users.
                patch = {"metadata": {"resourceVersion": configmap["metadata"]["resourceVersion"]}, "data": {"mapRoles": data["mapRoles"]}}
                await kube.merge_patch(AWS_AUTH_PATH, patch)
            return True
        except KubeError as error:
            if error.status != 409:
                raise
    raise KubeError(409, "aws-auth kept changing while a node role was being added")
