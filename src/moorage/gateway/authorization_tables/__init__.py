"""Authorization as data: one table per service Moorage serves, written from AWS's Service
Authorization Reference (SAR), saying for every operation what IAM authorizes.

Each service module holds three dict literals:

RESOURCE_TYPES  SAR resource type → {"arn": ARN template, "finder": how the stored resource is read
                (gateway/authorization_resources.py), "defaults": identifiers when neither the
                request nor the record gives them, "keys": condition keys the resource supplies}.
                ARN templates use ${Partition}, ${Region}, ${Account} and the type's identifiers;
                an identifier nobody gives becomes "*" (a resource about to be created).
SERVICE_KEYS    condition keys every operation of the service supplies (ec2:Region).
OPERATIONS      operation (as botocore names it) → row:
    action      the IAM action; "<prefix>:<Operation>" when left out
    resources   the resources the action is authorized on, each separately (none: "*"):
                  {"type": T, "ids": {identifier: source}}  a resource of type T
                  {"arn": source}                           an ARN the request names (type from its form)
                  {"id": source, "types": {prefix: T}}      EC2 ids, typed by their prefix
                with "optional": skip when the request names none, "or_caller": the calling user when
                the request names none, "keys": condition keys of that resource only, "finder": another finder
    keys        condition keys the operation supplies for every resource
    public      every principal may call it (sts:GetCallerIdentity)
    by_service  the service authorizes it itself through Authorizer.decide (sts:AssumeRole: trust policy)

A source is a path into the request's parameters: "a.b" (nested), "a[]" (every element), "a{}" (a
tag set's keys), alternatives "x|y", a literal "=text" (itself a template), "x~host" (a URL's host and
path). Keys ending in "/" name a tag family: "aws:ResourceTag/" supplies aws:ResourceTag/<key> for
every tag of the source. In RESOURCE_TYPES keys, a source names a field of the finder's view; in
rows, "@field" names a field of the first resource's view, "$region" the request's region.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from . import autoscaling, ec2, eks, iam, logs, sts


@dataclass(frozen=True)
class ServiceTable:
    prefix: str
    resource_types: dict
    operations: dict
    service_keys: dict


def _table(prefix: str, module: ModuleType) -> ServiceTable:
    return ServiceTable(prefix, module.RESOURCE_TYPES, module.OPERATIONS, module.SERVICE_KEYS)


# By the signing name the gateway routes with (gateway/protocols/models.py: signing_name).
TABLES: dict[str, ServiceTable] = {
    "eks": _table("eks", eks),
    "ec2": _table("ec2", ec2),
    "autoscaling": _table("autoscaling", autoscaling),
    "iam": _table("iam", iam),
    "sts": _table("sts", sts),
    "logs": _table("logs", logs),
}
