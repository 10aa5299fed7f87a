"""Node-group versions: the EKS AMI release versions Moorage publishes, and UpdateNodegroupVersion's rules.

Release versions are AL2023's form, `<Kubernetes patch>-<YYYYMMDD>` (e.g. 1.36.3-20261101), one per AMI
release date below; the newest is what a node group gets when none is named. The handler records the
target and an InProgress VersionUpdate; the node-group reconciler rolls the nodes
(controllers/nodegroup_rollouts.py): setup, scale up, upgrade (cordon, drain, terminate), scale down.
"""

from __future__ import annotations

import copy

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import UPDATE
from ...store import Conflict, Key, Record
from . import names
from .clusters import now, update_view
from .nodegroup_launch_templates import check_update as check_launch_template_update
from .version_updates import minor_number, running_version
from .versions import patch_version, supported_minors

# EKS-optimized AMI release dates Moorage publishes for every Kubernetes minor it runs, oldest first.
AMI_RELEASE_DATES = ("20261015", "20261101")


def release_versions(minor: str) -> list[str]:
    return [f"{patch_version(minor)}-{date}" for date in AMI_RELEASE_DATES]


def latest_release_version(minor: str) -> str:
    return release_versions(minor)[-1]


def invalid(message: str, cluster: str, nodegroup: str) -> AwsError:
    return AwsError("InvalidParameterException", message, extra_fields={"clusterName": cluster, "nodegroupName": nodegroup})


def check_release_version(release: str, minor: str, cluster: str, nodegroup: str) -> None:
    if release not in release_versions(minor):
        raise invalid(f"Requested release version {release} is not valid for kubernetes version {minor}.", cluster, nodegroup)


def check_nodegroup_version(version: str, cluster_version: str, cluster: str, nodegroup: str) -> None:
    """A node group may run its cluster's minor or an older one Moorage can run, never a newer one."""
    if version not in supported_minors() or minor_number(version) > minor_number(cluster_version):
        raise invalid(f"Requested Nodegroup version {version} is not compatible with cluster version {cluster_version}",
                      cluster, nodegroup)


def nodegroup_running(record: Record) -> tuple[str, str]:
    """(version, releaseVersion) the group's nodes run: the spec's until a version update has been applied."""
    before = record.spec.get("_versionBefore") or {}
    return (record.status.get("version") or before.get("version") or record.spec["version"],
            record.status.get("releaseVersion") or before.get("releaseVersion") or record.spec["releaseVersion"])


class NodegroupVersionUpdates:
    def __init__(self, nodegroups):
        self.nodegroups = nodegroups
        self.store = nodegroups.store

    def update_version(self, ctx: RequestContext, params: dict) -> dict:
        cluster_name, name = params["clusterName"], params["nodegroupName"]
        record = self.nodegroups.get(ctx, cluster_name, name)
        cluster = self.nodegroups.clusters.get(ctx, cluster_name)
        token = params.get("clientRequestToken")
        updates = [u for u in self.store.list(ctx.account, ctx.region, UPDATE)
                   if u.spec.get("nodegroupArn") == record.spec["nodegroupArn"]]
        if token:
            for update in updates:
                if update.spec.get("clientRequestToken") == token:
                    return {"update": update_view(update)}
        if record.deleting or record.status.get("status") != "ACTIVE":
            raise AwsError("ResourceInUseException",
                           f"Nodegroup {name} is not in ACTIVE state; it can be updated only when ACTIVE.",
                           extra_fields={"clusterName": cluster_name, "nodegroupName": name})
        if any(u.status.get("status", "InProgress") == "InProgress" for u in updates):
            raise AwsError("ResourceInUseException", f"Nodegroup {name} already has an update in progress",
                           extra_fields={"clusterName": cluster_name, "nodegroupName": name})
        template = None
        if record.spec.get("amiType") == "CUSTOM" and not params.get("launchTemplate"):
            raise invalid("Launch template details can't be null for Custom ami type node group", cluster_name, name)
        if params.get("launchTemplate"):
            template = check_launch_template_update(self.store, ctx, record.spec, params, cluster_name, name)
            wanted_type = template["summary"]["instanceType"]
            if wanted_type and wanted_type not in self.nodegroups.instance_types:
                raise invalid(f"Instance type {wanted_type} is not supported", cluster_name, name)
        current_version, current_release = nodegroup_running(record)
        cluster_version = running_version(cluster)
        if template is not None and template["summary"]["imageId"]:
            version, release = cluster_version, template["summary"]["imageId"]  # a custom AMI: its own release
        elif template is not None and not params.get("version") and not params.get("releaseVersion"):
            version, release = current_version, current_release  # only the template version moves
        else:
            version = params.get("version") or (
                minor_of_release(params["releaseVersion"]) if params.get("releaseVersion") else cluster_version)
            check_nodegroup_version(version, cluster_version, cluster_name, name)
            if minor_number(version) < minor_number(current_version):
                raise invalid(f"Requested Nodegroup version {version} is older than the node group's version "
                              f"{current_version}; node groups cannot be downgraded.", cluster_name, name)
            release = params.get("releaseVersion") or latest_release_version(version)
            check_release_version(release, version, cluster_name, name)
        current_template = (record.spec.get("launchTemplate") or {}).get("version")
        if (version, release) == (current_version, current_release) and (
                template is None or template["version"] == current_template):
            raise invalid(f"Nodegroup {name} is already on version {version} and release version {release}"
                          + (f" with launch template version {current_template}." if template else "."),
                          cluster_name, name)
        update_params = [{"type": "Version", "value": version}, {"type": "ReleaseVersion", "value": release}]
        if template is not None:
            update_params += [{"type": "LaunchTemplateName", "value": template["name"]},
                              {"type": "LaunchTemplateVersion", "value": template["version"]}]
        update_id = names.new_update_id()
        update = self.store.create(
            Key(ctx.account, ctx.region, UPDATE, update_id),
            {
                "id": update_id,
                "clusterName": cluster_name,
                "nodegroupName": name,
                "nodegroupArn": record.spec["nodegroupArn"],
                "type": "VersionUpdate",
                "params": update_params,
                "createdAt": now(),
                "clientRequestToken": token,
                "force": bool(params.get("force")),
                "previous": {"version": current_version, "releaseVersion": current_release,
                             **({"launchTemplateVersion": current_template} if current_template else {})},
            },
            {"status": "InProgress"},
        )
        spec = copy.deepcopy(record.spec)
        spec.update(version=version, releaseVersion=release, _pendingUpdate=update_id, modifiedAt=now(),
                    _versionBefore={"version": current_version, "releaseVersion": current_release})
        if template is not None:
            spec["launchTemplate"] = {**spec["launchTemplate"], "version": template["version"]}
            spec["_launchTemplateVersions"] = {**(spec.get("_launchTemplateVersions") or {}),
                                               template["version"]: template["summary"]}
            if spec.get("_instanceTypesFromTemplate") and template["summary"]["instanceType"]:
                spec["instanceTypes"] = [template["summary"]["instanceType"]]
        try:
            self.store.update_spec(record, spec)
        except Conflict:
            self.store.update_status(update, {"status": "Failed", "errors": [
                {"errorCode": "Unknown", "errorMessage": "The node group changed during the update; retry.",
                 "resourceIds": [name]}]})
            raise AwsError("ResourceInUseException", f"Nodegroup {name} changed while the update was recorded; retry.",
                           extra_fields={"clusterName": cluster_name, "nodegroupName": name}) from None
        return {"update": update_view(update)}


def minor_of_release(release: str) -> str:
    patch = release.split("-", 1)[0]
    parts = patch.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else patch
