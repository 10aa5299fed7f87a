"""EKS operations, by name, as the gateway dispatches them."""

from __future__ import annotations

from ...core.context import RequestContext
from ...store import SqliteStore
from ..base import Service
from ..ec2.instance_types import CATALOG
from .access import AccessEntries, authentication_mode, bootstrap_creator_access
from .addons import Addons
from .clusters import Clusters, paginate
from .fargate import FargateProfiles
from .identity_providers import IdentityProviderConfigs
from .insights import Insights
from .nodegroup_versions import NodegroupVersionUpdates
from .nodegroups import Nodegroups
from .pod_identity import POD_IDENTITY_SERVICE, PodIdentityAssociations
from .version_updates import ClusterVersionUpdates
from .versions import check_upgrade_policy, select_cluster_versions


class EksService(Service):
    name = "eks"

    def __init__(self, store: SqliteStore, base_url: str):
        self.clusters = Clusters(store, base_url)
        self.nodegroups = Nodegroups(store, self.clusters, CATALOG)
        self.access = AccessEntries(store, self.clusters)
        self.fargate_profiles = FargateProfiles(store, self.clusters)
        self.pod_identity = PodIdentityAssociations(store, self.clusters)
        self.version_updates = ClusterVersionUpdates(self.clusters)
        self.nodegroup_versions = NodegroupVersionUpdates(self.nodegroups)
        self.insights = Insights(store, self.clusters)
        self.addons = Addons(store, self.clusters, self.pod_identity)
        self.identity_providers = IdentityProviderConfigs(store, self.clusters)

    def CreateCluster(self, ctx: RequestContext, params: dict) -> dict:
        ctx.require_pass_role(params["roleArn"])
        cluster = self.clusters.create(ctx, params)
        bootstrap_creator_access(self.clusters.store, self.clusters.get(ctx, params["name"]))
        return {"cluster": cluster}

    def DescribeCluster(self, ctx: RequestContext, params: dict) -> dict:
        return {"cluster": self.clusters.describe(ctx, params["name"])}

    def ListClusters(self, ctx: RequestContext, params: dict) -> dict:
        return self.clusters.list(ctx, params)

    def DeleteCluster(self, ctx: RequestContext, params: dict) -> dict:
        return {"cluster": self.clusters.delete(ctx, params["name"])}

    def UpdateClusterConfig(self, ctx: RequestContext, params: dict) -> dict:
        cluster = self.clusters.get(ctx, params["name"])
        before = authentication_mode(cluster)
        if params.get("upgradePolicy"):
            check_upgrade_policy(params["name"], cluster.spec["version"], params["upgradePolicy"])
        update = self.clusters.update_config(ctx, params)
        if before == "CONFIG_MAP" and params.get("accessConfig"):  # first entry into an API mode, as on EKS
            bootstrap_creator_access(self.clusters.store, self.clusters.get(ctx, params["name"]))
        return update

    def UpdateClusterVersion(self, ctx: RequestContext, params: dict) -> dict:
        return self.version_updates.update_version(ctx, params)

    def UpdateNodegroupVersion(self, ctx: RequestContext, params: dict) -> dict:
        return self.nodegroup_versions.update_version(ctx, params)

    def DescribeUpdate(self, ctx: RequestContext, params: dict) -> dict:
        return self.clusters.describe_update(ctx, params)

    def ListUpdates(self, ctx: RequestContext, params: dict) -> dict:
        return self.clusters.list_updates(ctx, params)

    def CancelUpdate(self, ctx: RequestContext, params: dict) -> dict:
        return self.clusters.cancel_update(ctx, params)

    def TagResource(self, ctx: RequestContext, params: dict) -> dict:
        return self.clusters.tag(ctx, params["resourceArn"], params["tags"])

    def UntagResource(self, ctx: RequestContext, params: dict) -> dict:
        return self.clusters.untag(ctx, params["resourceArn"], params["tagKeys"])

    def ListTagsForResource(self, ctx: RequestContext, params: dict) -> dict:
        return self.clusters.list_tags(ctx, params["resourceArn"])

    def DescribeClusterVersions(self, ctx: RequestContext, params: dict) -> dict:
        versions = select_cluster_versions(params)
        by_name = {v["clusterVersion"]: v for v in versions}
        page = paginate(list(by_name), params, "clusterVersions")
        page["clusterVersions"] = [by_name[n] for n in page["clusterVersions"]]
        return page

    def CreateNodegroup(self, ctx: RequestContext, params: dict) -> dict:
        ctx.require_pass_role(params["nodeRole"])
        return {"nodegroup": self.nodegroups.create(ctx, params)}

    def DescribeNodegroup(self, ctx: RequestContext, params: dict) -> dict:
        return {"nodegroup": self.nodegroups.describe(ctx, params["clusterName"], params["nodegroupName"])}

    def ListNodegroups(self, ctx: RequestContext, params: dict) -> dict:
        return self.nodegroups.list(ctx, params)

    def DeleteNodegroup(self, ctx: RequestContext, params: dict) -> dict:
        return {"nodegroup": self.nodegroups.delete(ctx, params["clusterName"], params["nodegroupName"])}

    def UpdateNodegroupConfig(self, ctx: RequestContext, params: dict) -> dict:
        return self.nodegroups.update_config(ctx, params)

    def CreateFargateProfile(self, ctx: RequestContext, params: dict) -> dict:
        ctx.require_pass_role(params["podExecutionRoleArn"])
        return {"fargateProfile": self.fargate_profiles.create(ctx, params)}

    def DescribeFargateProfile(self, ctx: RequestContext, params: dict) -> dict:
        return {"fargateProfile": self.fargate_profiles.describe(ctx, params["clusterName"], params["fargateProfileName"])}

    def ListFargateProfiles(self, ctx: RequestContext, params: dict) -> dict:
        return self.fargate_profiles.list(ctx, params)

    def DeleteFargateProfile(self, ctx: RequestContext, params: dict) -> dict:
        return {"fargateProfile": self.fargate_profiles.delete(ctx, params["clusterName"], params["fargateProfileName"])}

    # Access entries and access policies

    def CreateAccessEntry(self, ctx: RequestContext, params: dict) -> dict:
        return {"accessEntry": self.access.create(ctx, params)}

    def DescribeAccessEntry(self, ctx: RequestContext, params: dict) -> dict:
        return {"accessEntry": self.access.describe(ctx, params)}

    def ListAccessEntries(self, ctx: RequestContext, params: dict) -> dict:
        return self.access.list(ctx, params)

    def UpdateAccessEntry(self, ctx: RequestContext, params: dict) -> dict:
        return {"accessEntry": self.access.update(ctx, params)}

    def DeleteAccessEntry(self, ctx: RequestContext, params: dict) -> dict:
        return self.access.delete(ctx, params)

    def ListAccessPolicies(self, ctx: RequestContext, params: dict) -> dict:
        return self.access.list_policies(ctx, params)

    def AssociateAccessPolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self.access.associate(ctx, params)

    def DisassociateAccessPolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self.access.disassociate(ctx, params)

    def ListAssociatedAccessPolicies(self, ctx: RequestContext, params: dict) -> dict:
        return self.access.list_associated(ctx, params)

    # Pod Identity associations

    def CreatePodIdentityAssociation(self, ctx: RequestContext, params: dict) -> dict:
        ctx.require_pass_role(params["roleArn"], POD_IDENTITY_SERVICE)
        return {"association": self.pod_identity.create(ctx, params)}

    def DescribePodIdentityAssociation(self, ctx: RequestContext, params: dict) -> dict:
        return {"association": self.pod_identity.describe(ctx, params)}

    def ListPodIdentityAssociations(self, ctx: RequestContext, params: dict) -> dict:
        return self.pod_identity.list(ctx, params)

    def UpdatePodIdentityAssociation(self, ctx: RequestContext, params: dict) -> dict:
        if params.get("roleArn"):
            ctx.require_pass_role(params["roleArn"], POD_IDENTITY_SERVICE)
        return {"association": self.pod_identity.update(ctx, params)}

    def DeletePodIdentityAssociation(self, ctx: RequestContext, params: dict) -> dict:
        return {"association": self.pod_identity.delete(ctx, params)}

    # Upgrade insights

    def ListInsights(self, ctx: RequestContext, params: dict) -> dict:
        return self.insights.list(ctx, params)

    def DescribeInsight(self, ctx: RequestContext, params: dict) -> dict:
        return self.insights.describe(ctx, params)

    def StartInsightsRefresh(self, ctx: RequestContext, params: dict) -> dict:
        return self.insights.start_refresh(ctx, params)

    def DescribeInsightsRefresh(self, ctx: RequestContext, params: dict) -> dict:
        return self.insights.describe_refresh(ctx, params)
    # Add-ons

    def CreateAddon(self, ctx: RequestContext, params: dict) -> dict:
        self._pass_addon_roles(ctx, params)
        return {"addon": self.addons.create(ctx, params)}

    def DescribeAddon(self, ctx: RequestContext, params: dict) -> dict:
        return {"addon": self.addons.describe(ctx, params["clusterName"], params["addonName"])}

    def ListAddons(self, ctx: RequestContext, params: dict) -> dict:
        return self.addons.list(ctx, params)

    def UpdateAddon(self, ctx: RequestContext, params: dict) -> dict:
        self._pass_addon_roles(ctx, params)
        return self.addons.update(ctx, params)

    def DeleteAddon(self, ctx: RequestContext, params: dict) -> dict:
        return {"addon": self.addons.delete(ctx, params["clusterName"], params["addonName"], bool(params.get("preserve")))}

    def DescribeAddonVersions(self, ctx: RequestContext, params: dict) -> dict:
        return self.addons.describe_versions(ctx, params)

    def DescribeAddonConfiguration(self, ctx: RequestContext, params: dict) -> dict:
        return self.addons.describe_configuration(ctx, params)

    @staticmethod
    def _pass_addon_roles(ctx: RequestContext, params: dict) -> None:
        if params.get("serviceAccountRoleArn"):
            ctx.require_pass_role(params["serviceAccountRoleArn"])
        for association in params.get("podIdentityAssociations") or []:
            ctx.require_pass_role(association["roleArn"], POD_IDENTITY_SERVICE)

    # OIDC identity provider configs

    def AssociateIdentityProviderConfig(self, ctx: RequestContext, params: dict) -> dict:
        return self.identity_providers.associate(ctx, params)

    def DescribeIdentityProviderConfig(self, ctx: RequestContext, params: dict) -> dict:
        return self.identity_providers.describe(ctx, params)

    def ListIdentityProviderConfigs(self, ctx: RequestContext, params: dict) -> dict:
        return self.identity_providers.list(ctx, params)

    def DisassociateIdentityProviderConfig(self, ctx: RequestContext, params: dict) -> dict:
        return self.identity_providers.disassociate(ctx, params)
