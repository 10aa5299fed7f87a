"""An add-on version's Kubernetes objects for one cluster: the catalogue's templates filled in.

Templates are plain YAML values with ``{{ path }}`` placeholders (``{{ config.replicaCount }}``,
``{{ registry }}/eks/coredns:v1.14.3-eksbuild.3``). A string that is only a placeholder takes the
value's own type (a number, a list, a mapping); inside a longer string it is text. Filters: ``| env``
(a mapping becomes a container's env list) and ``| kv`` (a mapping becomes "k1=v1,k2=v2"). What a template may read: region, registry (EKS's
image registry for the region), namespace, cluster.{name, endpoint, serviceCidr, dnsIp} and config
(the configurationValues merged over the version's defaults).
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

from .addon_configuration import merged
from .addon_versions import AddonVersion

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*(?:\|\s*([a-z]+)\s*)?\}\}")
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
# EKS's add-on image registry: account 602401143452 except in the regions that have their own.
REGISTRY_ACCOUNTS = {"af-south-1": "877085696533", "eu-south-1": "590381155156", "cn-north-1": "918309763551"}
DEFAULT_REGISTRY_ACCOUNT = "602401143452"


def registry(region: str) -> str:
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{REGISTRY_ACCOUNTS.get(region, DEFAULT_REGISTRY_ACCOUNT)}.dkr.ecr.{region}.{domain}"


def dns_ip(service_cidr: str) -> str:
    """The kube-dns Service address EKS uses: the tenth address of the service CIDR (10.100.0.10)."""
    return str(ipaddress.ip_network(service_cidr)[10])


def _lookup(context: dict, path: str) -> Any:
    value: Any = context
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(f"template placeholder {path!r}: {part!r} is not defined")
        value = value[part]
    return value


def _filtered(value: Any, name: str | None) -> Any:
    if name is None:
        return value
    if name == "env":
        return [{"name": str(k), "value": str(v)} for k, v in (value or {}).items()]
    if name == "kv":
        return ",".join(f"{k}={v}" for k, v in (value or {}).items())
    raise KeyError(f"unknown template filter {name!r}")


def fill(template: Any, context: dict) -> Any:
    if isinstance(template, dict):
        return {fill(k, context): fill(v, context) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(item, context) for item in template]
    if not isinstance(template, str) or "{{" not in template:
        return template
    whole = PLACEHOLDER.fullmatch(template.strip())
    if whole:
        return _filtered(_lookup(context, whole.group(1)), whole.group(2))

    def text(match: re.Match) -> str:
        value = _filtered(_lookup(context, match.group(1)), match.group(2))
        return value if isinstance(value, str) else json.dumps(value)

    return PLACEHOLDER.sub(text, template)


def render(version: AddonVersion, *, region: str, cluster: dict, values: dict | None, namespace: str | None = None,
           service_account_role_arn: str | None = None) -> list[dict]:
    """The objects to apply. cluster: the cluster's record spec and endpoint ({"name", "endpoint",
    "serviceCidr"}). values: the parsed configurationValues (None or {}: the defaults)."""
    context = {
        "region": region,
        "registry": registry(region),
        "namespace": namespace or version.default_namespace,
        "cluster": {**cluster, "dnsIp": dns_ip(cluster["serviceCidr"])},
        "config": merged(version.defaults, values),
    }
    objects = [fill(template, context) for template in version.objects]
    if service_account_role_arn and version.irsa_service_account:
        for obj in objects:
            if obj["kind"] == "ServiceAccount" and obj["metadata"]["name"] == version.irsa_service_account:
                obj["metadata"].setdefault("annotations", {})[IRSA_ANNOTATION] = service_account_role_arn
    return objects


def object_ref(obj: dict) -> dict:
    """What identifies an applied object, to find it again (readiness) or delete it."""
    metadata = obj["metadata"]
    ref = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": metadata["name"]}
    if metadata.get("namespace"):
        ref["namespace"] = metadata["namespace"]
    return ref
