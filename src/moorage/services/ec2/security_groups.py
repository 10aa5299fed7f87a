"""EC2 security groups and their rules: Create/Delete/DescribeSecurityGroups,
Authorize/RevokeSecurityGroupIngress/Egress.
"""

from __future__ import annotations

import ipaddress

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import SECURITY_GROUP, VPC
from .filters import filtered
from .network import (
    default_vpc,
    ip_permissions,
    new_resource_id,
    rule_view,
    security_group_spec,
    security_group_view,
)
from .network_ops import (
    MAX_RULES_PER_DIRECTION,
    SECURITY_GROUP_USERS,
    NetworkStore,
    not_found,
    page,
    select,
    tags_to_create,
)
from .security_group_rules import (
    cidr_source,
    duplicate_rule,
    prefix_list_source,
    revoked_view,
    rule_identity,
    rule_ports,
    rule_protocol,
)


class SecurityGroupOperations(NetworkStore):
    # --- security groups ----------------------------------------------------------------------------

    def _group(self, ctx: RequestContext, params: dict, allow_name: bool = True) -> dict:
        """The group a request names by GroupId, or by GroupName in the default VPC."""
        if params.get("GroupId"):
            return self._require(ctx, SECURITY_GROUP, params["GroupId"])
        name = params.get("GroupName")
        if not name or not allow_name:
            raise AwsError("MissingParameter", "The request must contain the parameter groupId")
        default_vpc_id = default_vpc(ctx.account, ctx.region)["VpcId"]
        group = next((g for g in self._all(ctx, SECURITY_GROUP) if g["GroupName"] == name and g["VpcId"] == default_vpc_id), None)
        if group is None:
            raise AwsError("InvalidGroup.NotFound", f"The security group '{name}' does not exist in default VPC '{default_vpc_id}'")
        return group

    def CreateSecurityGroup(self, ctx: RequestContext, params: dict) -> dict:
        name, description = params["GroupName"], params["Description"]
        vpc_id = params.get("VpcId") or default_vpc(ctx.account, ctx.region)["VpcId"]
        self._require(ctx, VPC, vpc_id)
        if name == "default":
            raise AwsError(
                "InvalidParameterValue", "Invalid value 'default' for groupName. Cannot use reserved security group name: default"
            )
        if name.startswith("sg-"):
            raise AwsError("InvalidParameterValue", f"Invalid value '{name}' for groupName. Group names may not be in the format sg-*.")
        duplicate = AwsError("InvalidGroup.Duplicate", f"The security group '{name}' already exists for VPC '{vpc_id}'")
        same_name = lambda g: g["GroupName"] == name and g["VpcId"] == vpc_id  # noqa: E731
        if any(same_name(g) for g in self._all(ctx, SECURITY_GROUP)):
            raise duplicate
        tags = tags_to_create(params, SECURITY_GROUP)
        group_id = new_resource_id("sg")
        group = security_group_spec(ctx.account, ctx.region, group_id, name, description, vpc_id, tags)
        self._create_in_vpc(ctx, SECURITY_GROUP, group, group_id, vpc_id, same_name, duplicate)
        return {"GroupId": group_id, "Tags": tags, "SecurityGroupArn": group["SecurityGroupArn"]}

    def DeleteSecurityGroup(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group(ctx, params)
        group_id = group["GroupId"]
        if group["GroupName"] == "default":
            raise AwsError("CannotDelete", f'the specified group: "{group_id}" name: "default" cannot be deleted by a user')
        referenced = any(
            r.get("ReferencedGroupId") == group_id
            for other in self._all(ctx, SECURITY_GROUP) if other["GroupId"] != group_id
            for r in other["Rules"]
        )
        in_use = any(
            group_id in groups_of(record)
            for kind, groups_of in SECURITY_GROUP_USERS.items()
            for record in self.store.list(ctx.account, ctx.region, kind)
        )
        if referenced or in_use:
            raise AwsError("DependencyViolation", f"resource {group_id} has a dependent object")
        self._delete(ctx, SECURITY_GROUP, group_id)
        return {"Return": True, "GroupId": group_id}

    def DescribeSecurityGroups(self, ctx: RequestContext, params: dict) -> dict:
        groups = [security_group_view(g) for g in self._all(ctx, SECURITY_GROUP)]
        groups = select(groups, params.get("GroupIds"), "GroupId", SECURITY_GROUP)
        for name in params.get("GroupNames") or []:
            self._group(ctx, {"GroupName": name})
        if params.get("GroupNames"):
            default_vpc_id = default_vpc(ctx.account, ctx.region)["VpcId"]
            groups = [g for g in groups if g["GroupName"] in params["GroupNames"] and g["VpcId"] == default_vpc_id]

        groups = filtered("DescribeSecurityGroups", groups, params.get("Filters"))
        return page(params, groups, "SecurityGroups")

    def _requested_rules(self, ctx: RequestContext, params: dict, group: dict, is_egress: bool) -> list[dict]:
        """The rules a request names, one per source, in the form the group stores them.

        Every item is checked before anything is written, so odd input is EC2's 400, never a 500."""
        permissions = list(params.get("IpPermissions") or [])
        legacy_members = ("IpProtocol", "CidrIp", "SourceSecurityGroupName", "SourceSecurityGroupOwnerId")
        if not permissions and any(params.get(m) for m in legacy_members):
            legacy: dict = {"IpProtocol": params.get("IpProtocol", "-1")}
            for member in ("FromPort", "ToPort"):
                if member in params:
                    legacy[member] = params[member]
            if params.get("CidrIp"):
                legacy["IpRanges"] = [{"CidrIp": params["CidrIp"]}]
            if params.get("SourceSecurityGroupName") or params.get("SourceSecurityGroupOwnerId"):
                legacy["UserIdGroupPairs"] = [{"GroupName": params.get("SourceSecurityGroupName")}]
            permissions = [legacy]
        groups = None
        rules = []
        for permission in permissions:
            protocol = rule_protocol(permission.get("IpProtocol"))
            base: dict = {"IsEgress": is_egress, "IpProtocol": protocol, **rule_ports(permission, protocol)}
            sources: list[tuple[dict, dict]] = []  # (request item, the source it names)
            for item in permission.get("IpRanges") or []:
                sources.append((item, cidr_source(item, "CidrIp", "CidrIpv4", ipaddress.IPv4Network)))
            for item in permission.get("Ipv6Ranges") or []:
                sources.append((item, cidr_source(item, "CidrIpv6", "CidrIpv6", ipaddress.IPv6Network)))
            for item in permission.get("PrefixListIds") or []:
                sources.append((item, prefix_list_source(item)))
            for item in permission.get("UserIdGroupPairs") or []:
                if not item.get("GroupId") and not item.get("GroupName"):
                    raise AwsError("MissingParameter", "Source group ID missing.")
                if groups is None:
                    groups = self._all(ctx, SECURITY_GROUP)
                if item.get("GroupId"):
                    if not any(g["GroupId"] == item["GroupId"] for g in groups):
                        raise not_found(SECURITY_GROUP, item["GroupId"])
                    referenced = item["GroupId"]
                else:
                    match = next((g for g in groups if g["GroupName"] == item["GroupName"] and g["VpcId"] == group["VpcId"]), None)
                    if match is None:
                        raise not_found(SECURITY_GROUP, item["GroupName"])
                    referenced = match["GroupId"]
                sources.append((item, {"ReferencedGroupId": referenced}))
            rules.extend(
                {**base, **source, **({"Description": item["Description"]} if "Description" in item else {})}
                for item, source in sources
            )
        return rules

    def _authorize(self, ctx: RequestContext, params: dict, is_egress: bool) -> dict:
        group = self._group(ctx, params, allow_name=not is_egress)
        requested = self._requested_rules(ctx, params, group, is_egress)
        if len({rule_identity(r) for r in requested}) < len(requested):
            raise AwsError("InvalidParameterValue", "The same permission must not appear multiple times")

        def change(spec: dict) -> list[dict]:
            known = {rule_identity(r) for r in spec["Rules"]}
            for rule in requested:
                if rule_identity(rule) in known:
                    raise duplicate_rule(rule)
            added = [{"SecurityGroupRuleId": new_resource_id("sgr"), **rule} for rule in requested]
            if sum(1 for r in spec["Rules"] if r["IsEgress"] == is_egress) + len(added) > MAX_RULES_PER_DIRECTION:
                raise AwsError("RulesPerSecurityGroupLimitExceeded", "The maximum number of rules per security group has been reached.")
            spec["Rules"].extend(added)
            return [rule_view(r, spec) for r in added]

        return {"Return": True, "SecurityGroupRules": self._change(ctx, SECURITY_GROUP, group["GroupId"], change)}

    def _revoke(self, ctx: RequestContext, params: dict, is_egress: bool) -> dict:
        group = self._group(ctx, params, allow_name=not is_egress)
        rule_ids = params.get("SecurityGroupRuleIds") or []
        requested = [] if rule_ids else self._requested_rules(ctx, params, group, is_egress)
        lenient = group["VpcId"] == default_vpc(ctx.account, ctx.region)["VpcId"]  # EC2 reports unknown rules instead of failing there

        def change(spec: dict) -> tuple[list[dict], list[dict]]:
            kept, revoked, unknown = list(spec["Rules"]), [], []
            for rule_id in rule_ids:
                match = next((r for r in kept if r["SecurityGroupRuleId"] == rule_id and r["IsEgress"] == is_egress), None)
                if match is None:
                    raise AwsError("InvalidSecurityGroupRuleId.NotFound", f"The security group rule ID '{rule_id}' does not exist")
                kept.remove(match)
                revoked.append(match)
            for rule in requested:
                match = next((r for r in kept if rule_identity(r) == rule_identity(rule)), None)
                if match is None:
                    if not lenient:
                        raise AwsError("InvalidPermission.NotFound", "The specified rule does not exist in this security group.")
                    unknown.append(rule)
                    continue
                kept.remove(match)
                revoked.append(match)
            spec["Rules"] = kept
            return revoked, unknown

        revoked, unknown = self._change(ctx, SECURITY_GROUP, group["GroupId"], change)
        result: dict = {"Return": True, "RevokedSecurityGroupRules": [revoked_view(r, group["GroupId"]) for r in revoked]}
        if unknown:
            result["UnknownIpPermissions"] = ip_permissions(unknown, ctx.account)
        return result

    def AuthorizeSecurityGroupIngress(self, ctx: RequestContext, params: dict) -> dict:
        return self._authorize(ctx, params, is_egress=False)

    def AuthorizeSecurityGroupEgress(self, ctx: RequestContext, params: dict) -> dict:
        return self._authorize(ctx, params, is_egress=True)

    def RevokeSecurityGroupIngress(self, ctx: RequestContext, params: dict) -> dict:
        return self._revoke(ctx, params, is_egress=False)

    def RevokeSecurityGroupEgress(self, ctx: RequestContext, params: dict) -> dict:
        return self._revoke(ctx, params, is_egress=True)
