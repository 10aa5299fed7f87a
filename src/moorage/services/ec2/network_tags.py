"""EC2 tags on network resources, key pairs, launch templates and instances: CreateTags, DeleteTags,
DescribeTags.
"""

from __future__ import annotations

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import INTERNET_GATEWAY, KEY_PAIR, LAUNCH_TEMPLATE, ROUTE_TABLE, SECURITY_GROUP, SUBNET, VPC
from .ebs_tags import change_ebs_tags, ebs_tag_descriptions, require_ebs, split_ebs
from .filters import filtered
from .launched_instances import change_instance_tags, instance_tag_owners, launched_instances
from .network import (
    ID_FIELDS,
)
from .network_ops import KIND_OF_PREFIX, NetworkStore, merge_tags, page
from .nodegroup_instances import instances as node_group_instances


class NetworkTagOperations(NetworkStore):
    # --- tags ---------------------------------------------------------------------------------------

    def _taggable(self, ctx: RequestContext, resources: list[str]) -> list[tuple[str, str]]:
        """(kind, id) of each resource; every one must exist before any is changed."""
        found = []
        for resource in resources:
            kind = KIND_OF_PREFIX.get(resource.split("-", 1)[0]) if "-" in resource else None
            if kind is None:
                raise AwsError("InvalidID", f"The ID '{resource}' is not valid")
            self._require(ctx, kind, resource)
            found.append((kind, resource))
        return found

    def CreateTags(self, ctx: RequestContext, params: dict) -> dict:
        tags = params.get("Tags") or []
        merge_tags([], tags)  # checks keys before anything is written
        instance_ids, others = _split_instances(params["Resources"])
        ebs, others = split_ebs(others)
        owners = instance_tag_owners(self.store, ctx, instance_ids)
        require_ebs(self.store, ctx, ebs)
        for kind, resource in self._taggable(ctx, others):
            self._change(ctx, kind, resource, lambda spec: spec.update(Tags=merge_tags(spec["Tags"], tags)))
        change_ebs_tags(self.store, ctx, ebs, lambda spec: spec.update(Tags=merge_tags(spec["Tags"], tags)))
        for instance, owner in owners.items():
            change_instance_tags(self.store, owner, instance, lambda current: current.update({t["Key"]: t.get("Value", "") for t in tags}))
        return {}

    def DeleteTags(self, ctx: RequestContext, params: dict) -> dict:
        wanted = params.get("Tags")

        def drop(spec: dict) -> None:
            if wanted is None:
                spec["Tags"] = []  # no tags named: all of them go
                return
            spec["Tags"] = [
                t for t in spec["Tags"]
                if not any(t["Key"] == w.get("Key") and ("Value" not in w or t["Value"] == w["Value"]) for w in wanted)
            ]

        instance_ids, others = _split_instances(params["Resources"])
        ebs, others = split_ebs(others)
        owners = instance_tag_owners(self.store, ctx, instance_ids)
        require_ebs(self.store, ctx, ebs)
        for kind, resource in self._taggable(ctx, others):
            self._change(ctx, kind, resource, drop)
        change_ebs_tags(self.store, ctx, ebs, drop)

        def drop_from(current: dict) -> None:
            for key in list(current):
                if wanted is None or any(key == w.get("Key") and ("Value" not in w or current[key] == w["Value"]) for w in wanted):
                    del current[key]

        for instance, owner in owners.items():
            change_instance_tags(self.store, owner, instance, drop_from)
        return {}

    def DescribeTags(self, ctx: RequestContext, params: dict) -> dict:
        descriptions = [
            {"Key": tag["Key"], "Value": tag["Value"], "ResourceId": spec[ID_FIELDS[kind]], "ResourceType": kind}
            for kind in (VPC, SUBNET, SECURITY_GROUP, INTERNET_GATEWAY, ROUTE_TABLE, KEY_PAIR, LAUNCH_TEMPLATE)
            for spec in self._all(ctx, kind)
            for tag in spec["Tags"]
        ] + [
            {"Key": tag["Key"], "Value": tag["Value"], "ResourceId": instance["InstanceId"], "ResourceType": "instance"}
            for instance in node_group_instances(self.store, ctx.account, ctx.region) + launched_instances(self.store, ctx.account, ctx.region)
            for tag in instance["Tags"]
        ] + ebs_tag_descriptions(self.store, ctx)
        descriptions = filtered("DescribeTags", descriptions, params.get("Filters"))
        descriptions.sort(key=lambda d: (d["ResourceId"], d["Key"]))
        return page(params, descriptions, "Tags")


def _split_instances(resources: list[str]) -> tuple[list[str], list[str]]:
    """Instance ids (tagged where their instance is recorded) and the network resources' ids."""
    instances = [r for r in resources if r.startswith("i-")]
    return instances, [r for r in resources if not r.startswith("i-")]
