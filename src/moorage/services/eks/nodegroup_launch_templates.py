"""Managed node groups from EC2 launch templates, and remoteAccess, as EKS checks them.

EKS's rules (CreateNodegroup and UpdateNodegroupVersion, in EKS's words): a template is named by id or by
name (not both); with one, diskSize and remoteAccess are refused, instanceTypes only when the template has
no InstanceType, an IamInstanceProfile in the template is refused (EKS passes the node role's own), and an
ImageId (a custom AMI) means amiType CUSTOM and no version or releaseVersion. What the template sets takes
effect on the nodes: its instance type, security groups, instance tags (TagSpecifications), root volume size
and user data (recorded as given: AL2023 NodeConfig or bootstrap.sh alike). The node group keeps one
summary per template version it has used (`_launchTemplateVersions`), so each instance shows what the
version it was launched from set, also during a rollout from one version to the next.
"""

from __future__ import annotations

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import SECURITY_GROUP
from ...store import SqliteStore
from ..ec2.key_pairs import key_pair_exists
from ..ec2.launch_templates import resolve_launch_template
from ..ec2.network import find_spec


def invalid(message: str, cluster: str, nodegroup: str, code: str = "InvalidParameterException") -> AwsError:
    return AwsError(code, message, extra_fields={"clusterName": cluster, "nodegroupName": nodegroup})


def resolve(store: SqliteStore, ctx: RequestContext, spec: dict, cluster: str, nodegroup: str) -> dict:
    """The launchTemplate {id|name, version} resolved: {"id", "name", "version", "data"} (data: the version's
    LaunchTemplateData). EC2's not-found errors become EKS's InvalidParameterException."""
    template_id, name = spec.get("id"), spec.get("name")
    if template_id and name:
        raise invalid("Either provide launch template ID or launch template name in the request.", cluster, nodegroup)
    if not template_id and not name:
        raise invalid("Either a launch template ID or a launch template name must be specified in the request.",
                      cluster, nodegroup)
    try:
        found = resolve_launch_template(store, ctx.account, ctx.region, template_id or name, spec.get("version"))
    except AwsError as error:
        if error.code == "InvalidLaunchTemplateId.VersionNotFound":
            message = f"Launch template version {spec.get('version')} does not exist for launch template {template_id or name}."
        else:
            message = f"Launch template {template_id or name} does not exist."
        raise invalid(message, cluster, nodegroup) from None
    return {"id": found["LaunchTemplateId"], "name": found["LaunchTemplateName"],
            "version": str(found["VersionNumber"]), "data": found["LaunchTemplateData"]}


def security_group_ids(data: dict) -> list[str]:
    groups = list(data.get("SecurityGroupIds") or [])
    for interface in data.get("NetworkInterfaces") or []:
        groups.extend(g for g in interface.get("Groups") or [] if g not in groups)
    return groups


def instance_tags(data: dict) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for spec in data.get("TagSpecifications") or []
            if spec.get("ResourceType") == "instance" for t in spec.get("Tags") or []}


def root_volume_size(data: dict) -> int | None:
    """The root volume's size (GiB): the /dev/xvda mapping's, else the first EBS mapping's with a size."""
    mappings = [m for m in data.get("BlockDeviceMappings") or [] if (m.get("Ebs") or {}).get("VolumeSize")]
    root = next((m for m in mappings if m.get("DeviceName") in ("/dev/xvda", "/dev/sda1")), mappings[0] if mappings else None)
    return int(root["Ebs"]["VolumeSize"]) if root else None


def summary(store: SqliteStore, ctx: RequestContext, resolved: dict, cluster: str, nodegroup: str) -> dict:
    """What one template version sets on the nodes, checked as EKS checks it."""
    data = resolved["data"]
    if data.get("IamInstanceProfile"):
        raise invalid("Launch template should not specify an instance profile. The node group's nodeRole is used "
                      "to create an instance profile for the nodes.", cluster, nodegroup)
    groups = []
    for group_id in security_group_ids(data):
        group = find_spec(store, ctx.account, ctx.region, SECURITY_GROUP, group_id)
        if group is None:
            raise invalid(f"The security group '{group_id}' does not exist", cluster, nodegroup)
        groups.append({"GroupId": group_id, "GroupName": group["GroupName"]})
    return {
        "instanceType": data.get("InstanceType"),
        "imageId": data.get("ImageId"),
        "securityGroups": groups,
        "instanceTags": instance_tags(data),
        "diskSize": root_volume_size(data),
        "userData": data.get("UserData"),
    }


def check_create(store: SqliteStore, ctx: RequestContext, params: dict, cluster: str, nodegroup: str) -> dict | None:
    """CreateNodegroup's launch-template rules; the resolved template with its summary, or None without one."""
    template = params.get("launchTemplate")
    if not template:
        return None
    resolved = resolve(store, ctx, template, cluster, nodegroup)
    if params.get("remoteAccess"):
        raise invalid("Remote access configuration cannot be specified with a launch template.", cluster, nodegroup)
    if params.get("diskSize") is not None:
        raise invalid("Disk size must be specified within the launch template.", cluster, nodegroup)
    facts = summary(store, ctx, resolved, cluster, nodegroup)
    if facts["instanceType"] and params.get("instanceTypes"):
        raise invalid("Cannot specify instance types in launch template and API Request", cluster, nodegroup,
                      code="InvalidRequestException")
    if facts["imageId"]:
        if params.get("version") or params.get("releaseVersion"):
            raise invalid("You cannot specify a kubernetes version to use when specifying an image id to use within "
                          "the launch template.", cluster, nodegroup)
        if params.get("amiType") not in (None, "CUSTOM"):
            raise invalid("You cannot specify an AMI Type other than CUSTOM, when specifying an image id in your "
                          "launch template.", cluster, nodegroup)
    elif params.get("amiType") == "CUSTOM":
        raise invalid("The launch template must specify an image id for the Custom ami type node group.", cluster, nodegroup)
    return {**resolved, "summary": facts}


def check_update(store: SqliteStore, ctx: RequestContext, record_spec: dict, params: dict, cluster: str,
                 nodegroup: str) -> dict:
    """UpdateNodegroupVersion's launch-template rules: the group was created from a template, the same one."""
    current = record_spec.get("launchTemplate")
    if not current:
        raise invalid("You cannot specify a launch template for a node group that was not created with a launch "
                      "template.", cluster, nodegroup)
    wanted = params["launchTemplate"]
    if (wanted.get("id") and wanted["id"] != current["id"]) or (wanted.get("name") and wanted["name"] != current["name"]):
        raise invalid(f"The launch template must be the one the node group was created with ({current['id']}).",
                      cluster, nodegroup)
    resolved = resolve(store, ctx, wanted, cluster, nodegroup)
    facts = summary(store, ctx, resolved, cluster, nodegroup)
    was_custom = record_spec.get("amiType") == "CUSTOM"
    if bool(facts["imageId"]) != was_custom:
        raise invalid("The launch template version must specify an image id if and only if the node group was "
                      "created with one (amiType CUSTOM).", cluster, nodegroup)
    if facts["imageId"] and (params.get("version") or params.get("releaseVersion")):
        raise invalid("You cannot specify a kubernetes version to use when specifying an image id to use within "
                      "the launch template.", cluster, nodegroup)
    if facts["instanceType"] and record_spec.get("instanceTypes") and not record_spec.get("_instanceTypesFromTemplate"):
        raise invalid("Cannot specify instance types in launch template and API Request", cluster, nodegroup,
                      code="InvalidRequestException")
    return {**resolved, "summary": facts}


def check_remote_access(store: SqliteStore, ctx: RequestContext, remote: dict | None, cluster: str, nodegroup: str) -> None:
    """remoteAccess: the key pair must exist in EC2, and so must every source security group."""
    if not remote:
        return
    key = remote.get("ec2SshKey")
    if key and not key_pair_exists(store, ctx.account, ctx.region, key):
        raise invalid(f"KeyPair {key} not found", cluster, nodegroup)
    for group_id in remote.get("sourceSecurityGroups") or []:
        if find_spec(store, ctx.account, ctx.region, SECURITY_GROUP, group_id) is None:
            raise invalid(f"The security group '{group_id}' does not exist", cluster, nodegroup)


def effective_instance_types(spec: dict) -> list[str]:
    """The instance types new nodes get: the current template version's, else the group's."""
    template = spec.get("launchTemplate")
    if template:
        facts = (spec.get("_launchTemplateVersions") or {}).get(template["version"]) or {}
        if facts.get("instanceType"):
            return [facts["instanceType"]]
    return spec["instanceTypes"]


def template_facts(spec: dict, version: str | None) -> dict:
    """What the template version an instance was launched from set ({} without a template)."""
    if not spec.get("launchTemplate"):
        return {}
    return (spec.get("_launchTemplateVersions") or {}).get(version or spec["launchTemplate"]["version"]) or {}
