"""The cluster reconciler: from a cluster record to a running, reachable control plane (and back).

Phases, each idempotent: shared etcd → API port → PKI → etcd user → processes → /readyz →
status ACTIVE. Deletion: processes stopped → etcd keys, user and role removed → files removed →
record removed. After any crash the next pass picks up where the last one stopped.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from pathlib import Path
from typing import Protocol

from ..core.kinds import (
    ACCESS_ENTRY,
    CLUSTER,
    IDENTITY_PROVIDER_CONFIG,
    POD_IDENTITY_ASSOCIATION,
    SECURITY_GROUP,
    UPDATE,
)
from ..infra import controlplane
from ..infra.etcd import SharedEtcd, cluster_user, free_port
from ..infra.kube import KubeCredentials
from ..infra.nodes.backend import ClusterContext
from ..infra.pki import ensure_cluster_pki, ensure_etcd_client, first_service_ip
from ..infra.supervisor import Supervisor
from ..infra.toolchain import locate
from ..services.ec2.network import cluster_security_group_spec, interface_address
from ..services.eks.versions import patch_version
from ..store import AlreadyExists, Conflict, Key, Record, SqliteStore
from .cluster_upgrades import DEFAULT_APISERVER_NAME, ControlPlaneUpgrades, pending_version_update, running_minor
from .fargate_webhook import FargateWebhookConfigurations
from .runtime import Watch

log = logging.getLogger(__name__)

READY_POLL_SECONDS = 0.1
START_TIMEOUT_SECONDS = 180.0
HEALTH_RECHECK_SECONDS = 15.0


class ReviewWebhooks(Protocol):
    """Moorage's token-review and authorization webhooks as kube-apiserver reaches them (mutual TLS:
    gateway/webhook_listener.py's WebhookServer)."""

    def review_urls(self, cluster_id: str) -> tuple[str, str]: ...

    def review_client(self, cluster_pki_dir: Path, cluster_id: str) -> controlplane.WebhookClient: ...


class ClusterReconciler:
    name, kind = "clusters", CLUSTER

    def __init__(self, store: SqliteStore, supervisor: Supervisor, etcd: SharedEtcd, data_dir: Path, base_url: str,
                 admission: FargateWebhookConfigurations | None = None, *, reviews: ReviewWebhooks):
        self.store = store
        self.admission = admission  # EKS's Fargate webhook configuration, applied in each cluster
        self.reviews = reviews
        self.supervisor = supervisor
        self.etcd = etcd
        self.data_dir = data_dir
        self.base_url = base_url
        self.upgrades = ControlPlaneUpgrades(store, supervisor)
        self._ssl: dict[str, object] = {}

    def paths(self, record: Record) -> controlplane.ClusterPaths:
        key = record.key
        return controlplane.ClusterPaths.of(self.data_dir, key.account, key.region, key.name, record.spec["id"])

    def process_prefix(self, record: Record) -> str:
        key = record.key
        return f"{key.account}/{key.region}/{key.name}-{record.spec['id']}"

    def process_names(self, record: Record) -> list[str]:
        apiserver = record.status.get("apiserverName", DEFAULT_APISERVER_NAME)
        return [f"{self.process_prefix(record)}/{c}" for c in (apiserver, *controlplane.COMPONENTS[1:])]

    def all_process_names(self, record: Record) -> list[str]:
        """The control plane's and the node backend's (kwok) processes, node backend first; during or after a
        version update also the other kube-apiserver."""
        prefix = self.process_prefix(record)
        others = [(record.status.get("upgrade") or {}).get("apiserverName"), record.status.get("retiredApiserver"),
                  DEFAULT_APISERVER_NAME]
        extra = [n if n.startswith(prefix) else f"{prefix}/{n}" for n in others if n]
        names = [f"{prefix}/kwok", *self.process_names(record)]
        return names + [n for n in dict.fromkeys(extra) if n not in names]

    def node_context(self, record: Record) -> ClusterContext:
        """How node backends reach this cluster and where they keep their files and processes."""
        return ClusterContext.from_paths(self.paths(record), record.status["endpoint"], self.process_prefix(record))

    def watches(self) -> list[Watch]:
        return []  # its processes' changes reach it through the supervisor (see composition.py)

    async def reconcile(self, key: Key) -> float | None:
        record = self.store.get(key)
        if record is None:
            return None
        if record.deleting:
            await self._delete(record)
            return None
        return await self._ensure(record)


    async def _ensure(self, record: Record) -> float | None:
        spec, status = record.spec, record.status
        started = status.get("provisioningStartedAt") or time.time()
        self._ensure_cluster_security_group(record)
        update = pending_version_update(self.store, record)
        running = running_minor(record, update)
        try:
            self._binaries(running)
            if update is not None:
                self._binaries(spec["version"])
        except FileNotFoundError as error:
            if update is not None and status.get("status") == "ACTIVE":
                self.store.merge_status(update, status="Failed", errors=[
                    {"errorCode": "Unknown", "errorMessage": str(error), "resourceIds": [record.key.name]}])
                return 0.0
            self._fail(record, "Other", str(error))
            return None
        admin = await self.etcd.ensure()
        port = status.get("port")
        if not port:
            port = free_port()
            record = self.store.merge_status(record, port=port, provisioningStartedAt=started)
        paths = self.paths(record)
        if record.status.get("retiredApiserver"):  # a crash came between a version hand-over and its clean-up
            await self.upgrades.finish_retirement(record, paths.state)
            record = self.store.require(record.key)
        server_url = f"https://127.0.0.1:{port}"
        pki = await asyncio.to_thread(
            ensure_cluster_pki,
            paths.pki,
            server_url=server_url,
            service_ip=first_service_ip(spec["kubernetesNetworkConfig"]["serviceIpv4Cidr"]),
            extra_sans_dns=[f"{spec['id']}.moorage.local"],
        )
        etcd_client = await asyncio.to_thread(ensure_etcd_client, self.etcd.pki, paths.pki, cluster_user(spec["id"]))
        webhook_client = await asyncio.to_thread(self.reviews.review_client, paths.pki, spec["id"])
        authenticate_url, authorize_url = self.reviews.review_urls(spec["id"])
        if not status.get("etcdUser"):
            await admin.ensure_cluster_user(spec["id"])
            record = self.store.merge_status(record, etcdUser=True)
        settings = self._settings(record, port, authenticate_url, authorize_url, webhook_client)

        async def specs_for(minor: str, apiserver_name: str):
            return await asyncio.to_thread(
                controlplane.process_specs, self._binaries(minor), paths, pki, self.etcd.pki, etcd_client,
                self.etcd.endpoint, settings, apiserver_name)

        apiserver_name = record.status.get("apiserverName", DEFAULT_APISERVER_NAME)
        specs = await specs_for(running, apiserver_name)
        for process in specs:
            await self.supervisor.ensure(process)
        context = self._ssl.get(spec["id"]) or controlplane.admin_ssl_context(pki)
        self._ssl[spec["id"]] = context
        upgrading = update is not None and running != spec["version"] and status.get("status") == "ACTIVE"
        if upgrading:  # two kube-apiservers share the port: ask the one that serves until the hand-over
            ready, detail = await controlplane.version_readyz(port, context, f"v{patch_version(running)}")
        else:
            ready, detail = await controlplane.readyz(port, context)
        if not ready:
            if status.get("status") == "CREATING" and time.time() - started > START_TIMEOUT_SECONDS:
                self._fail(record, "ClusterUnreachable", f"kube-apiserver did not become ready: {self._tail(specs[0])or detail}")
                return None
            issues = self._process_issues(record) or [
                {"code": "ClusterUnreachable", "message": f"kube-apiserver is not ready yet: {detail[:300]}", "resourceIds": [record.key.name]}
            ]
            if status.get("status") != "CREATING":
                self.store.merge_status(record, healthIssues=issues)
            return READY_POLL_SECONDS if status.get("status") == "CREATING" else 1.0
        if self.admission is not None:  # EKS's Fargate mutating webhook, before anyone can create a pod
            await self.admission.ensure_configured(
                spec["id"], KubeCredentials(server_url, pki.ca.cert, pki.admin.cert, pki.admin.key)
            )
        if upgrading:
            return await self.upgrades.advance(record, update, port, context, specs_for, self.process_prefix(record),
                                               paths.state)
        record = self.store.merge_status(
            record,
            status="ACTIVE",
            endpoint=server_url,
            caData=pki.certificate_authority_data,
            healthIssues=self._process_issues(record),
            appliedUpdate=spec.get("_pendingUpdate"),
            observedGeneration=record.generation,
            provisioningStartedAt=None,
            version=running,
            platformVersion=status.get("platformVersion") or spec["platformVersion"],
            apiserverName=apiserver_name,
            upgrade=None,
        )
        complete_update(self.store, record)
        return HEALTH_RECHECK_SECONDS

    @staticmethod
    def _binaries(minor: str) -> dict:
        return {c: locate(c, patch_version(minor)) for c in controlplane.COMPONENTS}

    def _settings(self, record: Record, port: int, authenticate_url: str, authorize_url: str,
                  webhook_client) -> controlplane.ControlPlaneSettings:
        spec = record.spec
        network = spec["kubernetesNetworkConfig"]
        api_config = spec.get("kubeApiServerConfig") or {}
        node_ports = api_config.get("serviceNodePortRange")
        kcm_config = spec.get("kubeControllerManagerConfig") or {}
        return controlplane.ControlPlaneSettings(
            cluster_id=spec["id"],
            process_prefix=self.process_prefix(record),
            port=port,
            advertise_address=interface_address(
                self.store, record.key.account, record.key.region, spec["resourcesVpcConfig"]["subnetIds"][0], spec["id"]
            )
            or "10.0.0.10",
            service_cidr=network["serviceIpv4Cidr"],
            issuer=spec["identity"]["oidc"]["issuer"],
            webhook_url=authenticate_url,
            authorization_webhook_url=authorize_url,
            webhook_client=webhook_client,
            event_ttl=api_config.get("eventTtl"),
            node_port_range=(node_ports["minPort"], node_ports["maxPort"]) if node_ports else None,
            terminated_pod_gc_threshold=(kcm_config.get("podGcControllerConfig") or {}).get("terminatedPodGcThreshold"),
            hpa_sync_period=(kcm_config.get("horizontalPodAutoscalerControllerConfig") or {}).get("horizontalPodAutoscalerSyncPeriod"),
            scoring_strategy=((spec.get("kubeSchedulerConfig") or {}).get("nodeResourcesFit") or {}).get("scoringStrategy"),
        )

    def mark_stopped(self) -> None:
        """After a clean stop of every control plane: say so in each cluster's health until the next up."""
        for key in cluster_keys(self.store):
            record = self.store.get(key)
            if record is None or record.deleting or record.status.get("status") != "ACTIVE":
                continue
            self.store.merge_status(
                record,
                healthIssues=[
                    {
                        "code": "ClusterUnreachable",
                        "message": "The control plane is stopped because Moorage stopped; `moorage up` starts it again.",
                        "resourceIds": [key.name],
                    }
                ],
            )

    def _tail(self, process) -> str:
        try:
            text = process.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-3:])[-500:]

    def _process_issues(self, record: Record) -> list[dict]:
        issues = []
        for name in self.process_names(record):
            try:
                process = self.supervisor.status(name)
            except KeyError:
                continue
            if process.state != "running":
                component = name.rsplit("/", 1)[-1]
                reason = process.last_exit.describe() if process.last_exit else process.state
                issues.append(
                    {
                        "code": "ClusterUnreachable" if component.startswith("kube-apiserver") else "Other",
                        "message": f"{component} is {process.state} ({reason}); restarted {process.restarts} times. "
                        f"Last output: {(process.last_error_tail or '')[-300:]}",
                        "resourceIds": [record.key.name],
                    }
                )
        return issues

    def _fail(self, record: Record, code: str, message: str) -> None:
        log.error("cluster %s failed: %s", record.key, message)
        self.store.merge_status(
            record, status="FAILED", healthIssues=[{"code": code, "message": message, "resourceIds": [record.key.name]}]
        )

    def _ensure_cluster_security_group(self, record: Record) -> None:
        """EKS's cluster security group, in EC2 as DescribeSecurityGroups and Terraform expect it."""
        vpc = record.spec["resourcesVpcConfig"]
        key = Key(record.key.account, record.key.region, SECURITY_GROUP, vpc["clusterSecurityGroupId"])
        if self.store.get(key) is None:
            try:
                self.store.create(key, cluster_security_group_spec(
                    key.account, key.region, key.name, record.key.name, vpc["vpcId"]))
            except AlreadyExists:
                pass

    async def _delete(self, record: Record) -> None:
        for name in self.all_process_names(record):
            await self.supervisor.stop(name)
            await self.supervisor.kill_recorded(name, self.paths(record).state)
        if record.status.get("etcdUser") or record.status.get("port"):
            # Only a cluster that got as far as etcd has keys, a user and a role there to remove.
            admin = await self.etcd.ensure()
            await admin.remove_cluster(record.spec["id"])
        await asyncio.to_thread(shutil.rmtree, self.paths(record).root, True)
        self._ssl.pop(record.spec["id"], None)
        # The cluster's updates, access entries, Pod Identity associations and identity provider configs go with it.
        for kind in (UPDATE, ACCESS_ENTRY, POD_IDENTITY_ASSOCIATION, IDENTITY_PROVIDER_CONFIG):
            for owned in self.store.list(record.key.account, record.key.region, kind):
                if owned.spec.get("clusterName") == record.key.name:
                    try:
                        self.store.remove(owned)
                    except Conflict:
                        pass
        group = self.store.get(Key(record.key.account, record.key.region, SECURITY_GROUP,
                                   record.spec["resourcesVpcConfig"]["clusterSecurityGroupId"]))
        if group is not None:
            self.store.remove(group)
        fresh = self.store.get(record.key)
        if fresh is not None and fresh.spec.get("id") == record.spec["id"]:
            self.store.remove(fresh)


def complete_update(store: SqliteStore, record: Record) -> None:
    """Mark the record's pending Update (cluster or node group) Successful once its change is applied."""
    update_id = record.spec.get("_pendingUpdate")
    if not update_id:
        return
    update = store.get(Key(record.key.account, record.key.region, UPDATE, update_id))
    if update is not None and update.status.get("status") == "InProgress":
        store.merge_status(update, status="Successful")


def cluster_keys(store: SqliteStore) -> list[Key]:
    return list(store.all_keys(CLUSTER))
