"""EKS add-on rules: what Create/Describe/List/Update/DeleteAddon, DescribeAddonVersions and
DescribeAddonConfiguration accept and store (spec only; controllers/addons.py installs the objects).

One record per (cluster, add-on), keyed "<cluster>/<addon>". The spec holds what the user asked for
(version, configurationValues, IAM wiring, resolveConflicts of the latest call); the reconciler writes
status (CREATING → ACTIVE / DEGRADED / CREATE_FAILED / UPDATE_FAILED, health issues). UpdateAddon
makes an Update record of type AddonUpdate (DescribeUpdate/ListUpdates --addon-name).
podIdentityAssociations become Pod Identity associations owned by the add-on (ownerArn): created here,
removed with the add-on unless DeleteAddon preserves it.
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import datetime, timezone

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import ADDON, POD_IDENTITY_ASSOCIATION, UPDATE
from ...store import AlreadyExists, Conflict, Key, Record, SqliteStore
from . import addon_configuration, names
from .addon_versions import AddonVersion, addon_info, catalog, default_version, find_version, version_order, versions_of
from .clusters import Clusters, fingerprint, now, paginate, record_with_arn, update_view, validate_tags
from .pod_identity import ROLE_ARN_RE, PodIdentityAssociations, association_key
from .version_updates import running_version

# Add-ons EKS moves at most one minor version per update.
ONE_MINOR_AT_A_TIME = {"vpc-cni": "VPC-CNI", "eks-pod-identity-agent": "EKS Pod Identity Agent"}
BUSY_STATES = ("CREATING", "UPDATING", "DELETING")


def addon_arn(partition: str, region: str, account: str, cluster: str, addon: str) -> str:
    return f"arn:{partition}:eks:{region}:{account}:addon/{cluster}/{addon}/{uuid.uuid4()}"


def addon_key(account: str, region: str, cluster: str, addon: str) -> Key:
    return Key(account, region, ADDON, f"{cluster}/{addon}")


def addons_of_cluster(store: SqliteStore, account: str, region: str, cluster: str) -> list[Record]:
    return [r for r in store.list(account, region, ADDON) if r.spec["clusterName"] == cluster]


def _fields(cluster: str, addon: str) -> dict:
    return {"clusterName": cluster, "addonName": addon}


def invalid(message: str, cluster: str, addon: str) -> AwsError:
    return AwsError("InvalidParameterException", message, extra_fields=_fields(cluster, addon))


def addon_not_found(cluster: str, addon: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"No addon: {addon} found in cluster: {cluster}", extra_fields=_fields(cluster, addon))


def not_supported(cluster: str, addon: str) -> AwsError:
    return invalid("Addon specified is not supported", cluster, addon)


def addon_state(record: Record) -> str:
    if record.deleting:
        return "DELETING"
    state = record.status.get("status", "CREATING")
    if state != "CREATING" and record.spec.get("_pendingUpdate") not in (None, record.status.get("appliedUpdate")):
        return "UPDATING"
    return state


def addon_view(record: Record) -> dict:
    spec = record.spec
    view = {k: v for k, v in spec.items() if not k.startswith("_")}
    view["status"] = addon_state(record)
    view["health"] = {"issues": record.status.get("healthIssues", [])}
    view["createdAt"] = datetime.fromtimestamp(spec["createdAt"], timezone.utc)
    view["modifiedAt"] = datetime.fromtimestamp(spec["modifiedAt"], timezone.utc)
    return view


class Addons:
    def __init__(self, store: SqliteStore, clusters: Clusters, pod_identity: PodIdentityAssociations):
        self.store = store
        self.clusters = clusters
        self.pod_identity = pod_identity
        clusters.tagged_kinds[ADDON] = record_with_arn(store, ADDON, "addonArn")

    def get(self, ctx: RequestContext, cluster: str, addon: str) -> Record:
        self.clusters.get(ctx, cluster)
        record = self.store.get(addon_key(ctx.account, ctx.region, cluster, addon))
        if record is None:
            raise addon_not_found(cluster, addon)
        return record

    # Checks shared by Create and Update

    def _version(self, name: str, wanted: str | None, minor: str, cluster: str) -> AddonVersion:
        if not versions_of(name):
            raise not_supported(cluster, name)
        if wanted is None:
            version = default_version(name, minor)
            if version is None:
                raise invalid(f"Addon {name} is not supported for cluster version {minor}", cluster, name)
            return version
        version = find_version(name, wanted)
        if version is None:
            raise invalid("Addon version specified is not supported", cluster, name)
        if not version.compatible_with(minor):
            raise invalid(f"Addon version specified is not supported for cluster version {minor}", cluster, name)
        return version

    @staticmethod
    def _check_configuration(version: AddonVersion, text: str | None, cluster: str) -> None:
        if text is not None:
            addon_configuration.validate(addon_configuration.parse(text, cluster), version.schema, cluster)

    @staticmethod
    def _check_role_arn(arn: str | None, cluster: str, addon: str) -> None:
        if arn and not ROLE_ARN_RE.match(arn):
            raise invalid(f"The serviceAccountRoleArn {arn} is not a valid IAM role ARN.", cluster, addon)

    @staticmethod
    def _check_pod_identity(version: AddonVersion, wanted: list[dict], cluster: str) -> None:
        if not wanted:
            return
        supported = {c["serviceAccount"] for c in version.pod_identity}
        if not supported:
            raise invalid(f"Addon {version.name} version {version.version} does not support Pod Identity associations.",
                          cluster, version.name)
        seen = set()
        for item in wanted:
            account = item["serviceAccount"]
            if account not in supported:
                raise invalid(f"The service account {account} is not used by addon {version.name}; supported service "
                              f"accounts: {', '.join(sorted(supported))}.", cluster, version.name)
            if account in seen:
                raise invalid(f"Duplicate service account {account} in podIdentityAssociations.", cluster, version.name)
            seen.add(account)

    def _associate(self, ctx: RequestContext, cluster: str, namespace: str, item: dict, owner_arn: str) -> str:
        """An add-on-owned Pod Identity association (the role checks are CreatePodIdentityAssociation's)."""
        created = self.pod_identity.create(ctx, {"clusterName": cluster, "namespace": namespace,
                                                 "serviceAccount": item["serviceAccount"], "roleArn": item["roleArn"]})
        key = association_key(self.clusters.key(ctx, cluster), namespace, item["serviceAccount"])
        while True:
            record = self.store.require(key)
            try:
                self.store.update_spec(record, {**record.spec, "ownerArn": owner_arn})
                return created["associationArn"]
            except Conflict:
                continue

    def _owned_associations(self, ctx: RequestContext, cluster: str, owner_arn: str) -> dict[str, Record]:
        return {r.spec["serviceAccount"]: r for r in self.store.list(ctx.account, ctx.region, POD_IDENTITY_ASSOCIATION)
                if r.spec["clusterName"] == cluster and r.spec.get("ownerArn") == owner_arn}

    # Operations

    def create(self, ctx: RequestContext, params: dict) -> dict:
        cluster_name, name = params["clusterName"], params["addonName"]
        cluster = self.clusters.get_not_deleting(ctx, cluster_name)
        key = addon_key(ctx.account, ctx.region, cluster_name, name)
        token = params.get("clientRequestToken")
        existing = self.store.get(key)
        if existing is not None:
            if token and existing.spec.get("_token") == token and existing.spec.get("_fingerprint") == fingerprint(params):
                return addon_view(existing)
            raise AwsError("ResourceInUseException", "Addon already exists.", extra_fields=_fields(cluster_name, name))
        version = self._version(name, params.get("addonVersion"), running_version(cluster), cluster_name)
        if version.not_installable:
            raise invalid(version.not_installable, cluster_name, name)
        namespace = (params.get("namespaceConfig") or {}).get("namespace")
        if namespace and namespace != version.default_namespace:
            raise invalid(f"Addon {name} does not support a custom namespace in Moorage: it installs into "
                          f"{version.default_namespace}.", cluster_name, name)
        self._check_configuration(version, params.get("configurationValues"), cluster_name)
        self._check_role_arn(params.get("serviceAccountRoleArn"), cluster_name, name)
        wanted_associations = params.get("podIdentityAssociations") or []
        self._check_pod_identity(version, wanted_associations, cluster_name)
        tags = validate_tags(params.get("tags"), "InvalidParameterException")
        created = now()
        arn = addon_arn(ctx.partition, ctx.region, ctx.account, cluster_name, name)
        spec = {
            "addonName": name,
            "clusterName": cluster_name,
            "addonVersion": version.version,
            "addonArn": arn,
            "createdAt": created,
            "modifiedAt": created,
            "tags": tags,
            "publisher": version.publisher,
            "owner": version.owner,
            "podIdentityAssociations": [],
            "_clusterId": cluster.spec["id"],
            "_resolveConflicts": params.get("resolveConflicts") or "NONE",
            "_token": token,
            "_fingerprint": fingerprint(params),
        }
        for member in ("serviceAccountRoleArn", "configurationValues"):
            if params.get(member) is not None:
                spec[member] = params[member]
        if namespace:
            spec["namespaceConfig"] = {"namespace": namespace}
        associations: list[str] = []
        try:
            for item in wanted_associations:
                associations.append(self._associate(ctx, cluster_name, version.default_namespace, item, arn))
            spec["podIdentityAssociations"] = associations
            record = self.store.create(key, spec, {"status": "CREATING"})
        except (AwsError, AlreadyExists) as error:
            for owned in self._owned_associations(ctx, cluster_name, arn).values():
                self.store.remove(owned)
            if isinstance(error, AlreadyExists):
                raise AwsError("ResourceInUseException", "Addon already exists.", extra_fields=_fields(cluster_name, name)) from None
            raise
        return addon_view(record)

    def describe(self, ctx: RequestContext, cluster: str, addon: str) -> dict:
        return addon_view(self.get(ctx, cluster, addon))

    def list(self, ctx: RequestContext, params: dict) -> dict:
        cluster = params["clusterName"]
        self.clusters.get(ctx, cluster)
        found = sorted(r.spec["addonName"] for r in addons_of_cluster(self.store, ctx.account, ctx.region, cluster))
        return paginate(found, params, "addons")

    def update(self, ctx: RequestContext, params: dict) -> dict:
        cluster_name, name = params["clusterName"], params["addonName"]
        cluster = self.clusters.get(ctx, cluster_name)
        record = self.get(ctx, cluster_name, name)
        token = params.get("clientRequestToken")
        updates = [u for u in self.store.list(ctx.account, ctx.region, UPDATE) if u.spec.get("addonArn") == record.spec["addonArn"]]
        if token:
            for update in updates:
                if update.spec.get("clientRequestToken") == token:
                    return {"update": update_view(update)}
        state = addon_state(record)
        if state in BUSY_STATES:
            raise AwsError("ResourceInUseException", f"Addon {name} is currently {state}; it can be updated once it is no longer {state}.",
                           extra_fields=_fields(cluster_name, name))
        current = find_version(name, record.spec["addonVersion"])
        version = current
        if params.get("addonVersion") and params["addonVersion"] != record.spec["addonVersion"]:
            version = self._version(name, params["addonVersion"], running_version(cluster), cluster_name)
            if name in ONE_MINOR_AT_A_TIME and current is not None:
                if abs(version_order(version.version)[1] - version_order(current.version)[1]) > 1 or \
                        version_order(version.version)[0] != version_order(current.version)[0]:
                    raise invalid(f"Updating {ONE_MINOR_AT_A_TIME[name]} can only go up or down 1 minor version at a time",
                                  cluster_name, name)
        assert version is not None
        text = params.get("configurationValues")
        self._check_configuration(version, text if text is not None else record.spec.get("configurationValues"), cluster_name)
        self._check_role_arn(params.get("serviceAccountRoleArn"), cluster_name, name)
        wanted_associations = params.get("podIdentityAssociations")
        self._check_pod_identity(version, wanted_associations or [], cluster_name)

        update_params: list[dict] = []
        spec = copy.deepcopy(record.spec)
        if params.get("addonVersion"):
            spec["addonVersion"] = version.version
            update_params.append({"type": "AddonVersion", "value": version.version})
        if params.get("serviceAccountRoleArn") is not None:
            if params["serviceAccountRoleArn"]:
                spec["serviceAccountRoleArn"] = params["serviceAccountRoleArn"]
            else:
                spec.pop("serviceAccountRoleArn", None)
            update_params.append({"type": "ServiceAccountRoleArn", "value": params["serviceAccountRoleArn"]})
        if params.get("resolveConflicts"):
            update_params.append({"type": "ResolveConflicts", "value": params["resolveConflicts"]})
        if text is not None:
            spec["configurationValues"] = text
            update_params.append({"type": "ConfigurationValues", "value": text})
        if wanted_associations is not None:
            spec["podIdentityAssociations"] = self._replace_associations(ctx, record, version, wanted_associations)
            update_params.append({"type": "PodIdentityAssociations", "value": json.dumps(spec["podIdentityAssociations"])})
        update_id = names.new_update_id()
        spec.update({"modifiedAt": now(), "_pendingUpdate": update_id, "_resolveConflicts": params.get("resolveConflicts") or "NONE"})
        update = self.store.create(Key(ctx.account, ctx.region, UPDATE, update_id), {
            "id": update_id, "clusterName": cluster_name, "addonName": name, "addonArn": record.spec["addonArn"],
            "type": "AddonUpdate", "params": update_params, "createdAt": now(), "clientRequestToken": token,
        }, {"status": "InProgress"})
        try:
            self.store.update_spec(record, spec)
        except Conflict:
            self.store.update_status(update, {"status": "Failed", "errors": [
                {"errorCode": "Unknown", "errorMessage": "The add-on changed during the update; retry.", "resourceIds": [name]}]})
            raise AwsError("ResourceInUseException", f"Addon {name} changed while the update was recorded; retry.",
                           extra_fields=_fields(cluster_name, name)) from None
        return {"update": update_view(update)}

    def _replace_associations(self, ctx: RequestContext, record: Record, version: AddonVersion, wanted: list[dict]) -> list[str]:
        """Make the add-on's associations exactly `wanted`: new ones created, changed roles updated, the rest removed."""
        cluster, owner = record.spec["clusterName"], record.spec["addonArn"]
        owned = self._owned_associations(ctx, cluster, owner)
        for account, association in owned.items():
            if account not in {w["serviceAccount"] for w in wanted}:
                self.store.remove(association)
        arns = []
        for item in wanted:
            association = owned.get(item["serviceAccount"])
            if association is None:
                arns.append(self._associate(ctx, cluster, version.default_namespace, item, owner))
                continue
            if association.spec["roleArn"] != item["roleArn"]:
                self.pod_identity.update(ctx, {"clusterName": cluster, "associationId": association.spec["associationId"],
                                               "roleArn": item["roleArn"]})
            arns.append(association.spec["associationArn"])
        return arns

    def delete(self, ctx: RequestContext, cluster: str, addon: str, preserve: bool) -> dict:
        while True:
            record = self.get(ctx, cluster, addon)
            if record.deleting:
                return addon_view(record)
            try:
                if bool(record.spec.get("_preserve")) != preserve:
                    record = self.store.update_spec(record, {**record.spec, "_preserve": preserve})
                return addon_view(self.store.mark_deleting(record))
            except Conflict:
                continue

    # The catalogue

    def describe_versions(self, ctx: RequestContext, params: dict) -> dict:
        minor = params.get("kubernetesVersion")
        infos = {}
        for name, versions in catalog().items():
            if params.get("addonName") not in (None, name):
                continue
            newest = versions[0]
            if (params.get("types") and newest.type not in params["types"]) or \
                    (params.get("publishers") and newest.publisher not in params["publishers"]) or \
                    (params.get("owners") and newest.owner not in params["owners"]):
                continue
            matching = [v for v in versions if minor is None or v.compatible_with(minor)]
            if matching:
                infos[name] = addon_info(name, matching, minor)
        page = paginate(sorted(infos), params, "addons")
        page["addons"] = [infos[name] for name in page["addons"]]
        return page

    def describe_configuration(self, ctx: RequestContext, params: dict) -> dict:
        name, wanted = params["addonName"], params["addonVersion"]
        if not versions_of(name):
            raise AwsError("InvalidParameterException", "Addon specified is not supported", extra_fields={"addonName": name})
        version = find_version(name, wanted)
        if version is None:
            raise AwsError("InvalidParameterException", "Addon version specified is not supported", extra_fields={"addonName": name})
        return {
            "addonName": name,
            "addonVersion": version.version,
            "configurationSchema": version.schema_text,
            "podIdentityConfiguration": [dict(c) for c in version.pod_identity],
        }
