"""The aws-auth ConfigMap (kube-system/aws-auth): reading its mappings, and adding node roles to it.

Read by the token webhook in the CONFIG_MAP modes through the admin identity Moorage holds for each
cluster, and cached for a couple of seconds: the webhook waits at most about a second for a refresh
and otherwise answers from the last copy it has.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from ...infra.kube import KubeClient, KubeCredentials, KubeError, object_path
from ...store import Record

log = logging.getLogger(__name__)

AWS_AUTH_PATH = object_path("v1", "configmaps", "aws-auth", "kube-system")
FRESH_SECONDS = 2.0
REFRESH_WAIT_SECONDS = 1.0
FIRST_READ_SECONDS = 3.0
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


class AwsAuthCache:
    """aws-auth per cluster (by cluster id), read through the cluster's admin credentials."""

    def __init__(self, credentials_for: Callable[[Record], KubeCredentials | None]):
        self.credentials_for = credentials_for
        self._cached: dict[str, tuple[float, AwsAuth]] = {}
        self._reading: dict[str, asyncio.Task] = {}

    async def get(self, cluster: Record) -> AwsAuth | None:
        cluster_id = cluster.spec["id"]
        cached = self._cached.get(cluster_id)
        if cached and time.monotonic() - cached[0] < FRESH_SECONDS:
            return cached[1]
        task = self._reading.get(cluster_id)
        if task is None or task.done():
            task = asyncio.ensure_future(self._read(cluster))
            self._reading[cluster_id] = task
        try:
            return await asyncio.wait_for(asyncio.shield(task), REFRESH_WAIT_SECONDS if cached else FIRST_READ_SECONDS)
        except (asyncio.TimeoutError, KubeError, OSError) as error:  # OSError: e.g. the cluster's files are gone
            log.info("aws-auth of cluster %s not read (%s); using the last copy", cluster.key.name, error or "timeout")
            return cached[1] if cached else None

    async def _read(self, cluster: Record) -> AwsAuth:
        credentials = self.credentials_for(cluster)
        if credentials is None:
            raise KubeError(0, "the cluster has no endpoint yet")
        async with KubeClient(credentials, timeout=FIRST_READ_SECONDS) as kube:
            configmap = await kube.get_or_none(AWS_AUTH_PATH)
        parsed = parse_aws_auth((configmap or {}).get("data"))
        self._cached[cluster.spec["id"]] = (time.monotonic(), parsed)
        return parsed


def credentials_from_paths(pki_dir: Path, endpoint: str | None) -> KubeCredentials | None:
    if not endpoint:
        return None
    return KubeCredentials(endpoint, pki_dir / "ca.crt", pki_dir / "admin.crt", pki_dir / "admin.key")


async def ensure_role_mapping(kube: KubeClient, role_arn: str, entry_type: str = "EC2_LINUX") -> bool:
    """Add a node or Fargate role to aws-auth's mapRoles as EKS does, keeping everything else in it;
    creates the ConfigMap if absent. Returns True if aws-auth changed. Safe to repeat."""
    username, groups = NODE_ROLE_MAPPINGS[entry_type]
    for _ in range(5):
        configmap = await kube.get_or_none(AWS_AUTH_PATH)
        data = dict((configmap or {}).get("data") or {})
        roles = _entries(data.get("mapRoles"), "rolearn")
        if any(r["rolearn"] == role_arn for r in roles):
            return False
        roles.append({"rolearn": role_arn, "username": username, "groups": groups})
        data["mapRoles"] = yaml.safe_dump(roles, default_flow_style=False, sort_keys=False)
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
