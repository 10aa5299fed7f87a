"""The aws-auth ConfigMap (kube-system/aws-auth) as data: its mappings, and the mapRoles entry EKS
writes for a node or Fargate role. No I/O here: the token webhook reads it through
infra/configmap_cache.py, and controllers/aws_auth.py writes node roles into it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

import yaml

from ...infra.kube import object_path
from ...store import Record

log = logging.getLogger(__name__)

AWS_AUTH_PATH = object_path("v1", "configmaps", "aws-auth", "kube-system")
# What EKS writes for a managed node group's and a Fargate profile's role.
NODE_ROLE_MAPPINGS = {
    "EC2_LINUX": ("system:node:{{EC2PrivateDNSName}}", ["system:bootstrappers", "system:nodes"]),
    "EC2_WINDOWS": ("system:node:{{EC2PrivateDNSName}}", ["system:bootstrappers", "system:nodes", "eks:kube-proxy-windows"]),
    "FARGATE_LINUX": ("system:node:{{SessionName}}", ["system:bootstrappers", "system:nodes", "system:node-proxier"]),
}


@dataclass(frozen=True)
class Mapping:
    arn: str
    username: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class AwsAuth:
    roles: dict[str, Mapping] = field(default_factory=dict)
    users: dict[str, Mapping] = field(default_factory=dict)


class AwsAuthSource(Protocol):
    """Where the token webhook gets a cluster's aws-auth (infra/configmap_cache.py in `moorage up`)."""

    async def get(self, cluster: Record) -> AwsAuth | None: ...


def _entries(text: str | None, arn_key: str) -> list[dict]:
    if not text:
        return []
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as error:
        log.warning("aws-auth %s is not valid YAML: %s", arn_key, error)
        return []
    return [e for e in loaded if isinstance(e, dict) and isinstance(e.get(arn_key), str)] if isinstance(loaded, list) else []


def parse_aws_auth(data: dict | None) -> AwsAuth:
    """mapRoles (rolearn) and mapUsers (userarn), each with username and groups; later duplicates win."""
    data = data or {}
    result = AwsAuth()
    for source, arn_key, target in (("mapRoles", "rolearn", result.roles), ("mapUsers", "userarn", result.users)):
        for entry in _entries(data.get(source), arn_key):
            groups = entry.get("groups") or []
            target[entry[arn_key]] = Mapping(
                entry[arn_key], str(entry.get("username") or ""), tuple(str(g) for g in groups if isinstance(g, str))
            )
    return result


def with_role_mapping(data: dict | None, role_arn: str, entry_type: str = "EC2_LINUX") -> dict | None:
    """aws-auth's data with a node or Fargate role added to mapRoles as EKS writes it (everything
    else kept), or None when the role is mapped already."""
    username, groups = NODE_ROLE_MAPPINGS[entry_type]
    data = dict(data or {})
    roles = _entries(data.get("mapRoles"), "rolearn")
    if any(r["rolearn"] == role_arn for r in roles):
        return None
    roles.append({"rolearn": role_arn, "username": username, "groups": groups})
    data["mapRoles"] = yaml.safe_dump(roles, default_flow_style=False, sort_keys=False)
    return data
