"""The composition root of `moorage up`.

Process model: the main process runs the reconcilers and supervises control planes, and serves
requests; API workers (`moorage up --api-workers N`) serve requests too, on the same port
(SO_REUSEPORT), sharing the SQLite store. Writes made by a worker reach the reconcilers through a
change poller in the main process. Workers die with the main process (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from aiohttp import web

from .config import ServerConfig
from .controllers.addon_bootstrap import SelfManagedAddons
from .controllers.addons import AddonReconciler
from .controllers.clusters import ClusterReconciler
from .controllers.fargate import FargateReconciler, FargateScheduler
from .controllers.fargate_webhook import FargateWebhookConfigurations
from .controllers.identity_providers import IdentityProviderConfigReconciler
from .controllers.insights import InsightsReconciler
from .controllers.instances import InstanceReconciler
from .controllers.nodegroups import NodegroupReconciler
from .controllers.runtime import Controller
from .core.kinds import CLUSTER
from .gateway.authorize import Authorizer
from .gateway.aws import AwsEndpoint
from .gateway.clusters_by_id import ClustersById
from .gateway.oidc import OidcIssuerEndpoint
from .gateway.webhook_listener import WebhookServer
from .gateway.webhooks import AuthorizationWebhook, TokenReviewWebhook
from .infra.configmap_cache import ConfigMapCache
from .infra.controlplane import ClusterPaths, audit_log_path
from .infra.endpoint_tls import ca_bundle_path
from .infra.etcd import EtcdEndpoint, SharedEtcd, free_port
from .infra.kube import KubeCredentials
from .infra.nodes.kwok import KwokNodeBackend
from .infra.nodes.kwok_stages import KwokSettings
from .infra.process_state import ProcessStatus
from .infra.service_account_keys import ServiceAccountKeys
from .infra.supervisor import Supervisor
from .infra.toolchain import default_cache
from .infra.toolchain.catalog import ETCD_VERSION, Binary
from .services.accounts import CredentialStore, RootAccount, aws_profile_settings, ensure_aws_profile, ensure_root_account
from .services.autoscaling.service import AutoScalingService
from .services.ec2.service import Ec2Service
from .services.eks.addon_versions import versions_of
from .services.eks.aws_auth import AWS_AUTH_PATH, parse_aws_auth
from .services.eks.identity import ClusterIdentities
from .services.eks.oidc_issuer import ClusterIssuers
from .services.eks.service import EksService
from .services.iam.credentials import IamAccessKeys
from .services.iam.service import IamService
from .services.logs.service import LogsService
from .services.sts.service import StsService
from .services.sts.sessions import StsSessions
from .store import Key, Record, SqliteStore
from .store.log_events import LogEventStore

log = logging.getLogger(__name__)

ETCD_SETTING = "etcd-endpoint"
# Clean shutdown order: clients of etcd first, etcd last.
STOP_ORDER = ("*/kwok", "*/kube-scheduler", "*/kube-controller-manager", "*/kube-apiserver*", "etcd")
CHANGE_POLL_SECONDS = 0.05


def cluster_key_for_process(name: str) -> Key | None:
    """'<account>/<region>/<cluster>-<uuid>/<component>' -> the cluster's record key."""
    parts = name.split("/")
    if len(parts) != 4 or len(parts[2]) < 38:
        return None
    return Key(parts[0], parts[1], CLUSTER, parts[2][:-37])


def compatible_addon_versions(name: str, minor: str) -> list[str]:
    """The add-on catalogue's versions of ``name`` that run on Kubernetes ``minor`` (for upgrade insights)."""
    return [v.version for v in versions_of(name) if v.compatible_with(minor)]


class Frontend:
    """What answers requests: the store, credentials, services and webhooks (main process and workers)."""

    def __init__(self, store: SqliteStore, root: RootAccount):
        self.store = store
        self.credentials = CredentialStore(root, [IamAccessKeys(store), StsSessions(store)])
        self.authorizer = Authorizer(store)
        self.endpoint: AwsEndpoint | None = None
        # The store lives at <data dir>/state.db: cluster files (the admin identity for aws-auth) are beside it.
        self.data_dir = store.path.parent
        # Clusters by id for webhooks and OIDC issuers: a key lookup, never a scan per unknown id.
        self.clusters_by_id = ClustersById(store)
        self.issuers = ClusterIssuers(store, ServiceAccountKeys(self.data_dir).public_key, self.clusters_by_id.get)
        self.oidc_issuers = OidcIssuerEndpoint(self.issuers)
        self.identities = ClusterIdentities(store, ConfigMapCache(AWS_AUTH_PATH, parse_aws_auth, self._admin_credentials))

    def wire(self, url: str) -> None:
        services = {
            "eks": EksService(self.store, url),
            "ec2": Ec2Service(self.store),
            "sts": StsService(self.credentials, self.store, self.issuers),
            "autoscaling": AutoScalingService(self.store),
            "iam": IamService(self.store, self.credentials.root.access_key_id),
            "logs": LogsService(self.store, LogEventStore(self.data_dir / "logs.db")),
        }
        self.endpoint = AwsEndpoint(services, self.credentials, self.authorizer)

    async def aws(self, request: web.Request) -> web.StreamResponse:
        assert self.endpoint is not None
        return await self.endpoint.handle(request)

    async def oidc(self, request: web.Request) -> web.StreamResponse:
        return await self.oidc_issuers.handle(request)

    def _admin_credentials(self, cluster: Record) -> KubeCredentials | None:
        key = cluster.key
        endpoint = cluster.status.get("endpoint")
        if not endpoint:
            return None
        pki = ClusterPaths.of(self.data_dir, key.account, key.region, key.name, cluster.spec["id"]).pki
        return KubeCredentials(endpoint, pki / "ca.crt", pki / "admin.crt", pki / "admin.key")

    def _audit_log(self, cluster: Record) -> Path:
        key = cluster.key
        return audit_log_path(ClusterPaths.of(self.data_dir, key.account, key.region, key.name, cluster.spec["id"]))


class Moorage(Frontend):
    """The main process: the front end plus reconcilers, the supervisor and the API workers."""

    def __init__(self, config: ServerConfig, announce: Callable[[str], None], api_workers: int = 0):
        store = SqliteStore(config.data_dir / "state.db")
        root, created = ensure_root_account(store)
        super().__init__(store, root)
        self.config = config
        self.announce = announce
        self.root = root
        self.created_account = created
        self.api_workers = api_workers
        self.supervisor = Supervisor(on_change=self._process_changed)
        self.reconciler: ClusterReconciler | None = None
        # kube-apiserver's calls (admission over TLS; token review and authorization over mutual TLS,
        # main process only), each finding its cluster by id through a key lookup.
        self.webhook = TokenReviewWebhook(self.credentials, self.clusters_by_id.get, self.identities)
        self.authorization_webhook = AuthorizationWebhook(store, self.clusters_by_id.get)
        self.admission_webhooks = WebhookServer(store, config.data_dir, self.clusters_by_id.get)
        self.admission_webhooks.serve_reviews(self.webhook.handle, self.authorization_webhook.handle)
        self.fargate_scheduler: FargateScheduler | None = None
        # One controller per store kind; each declares what else it watches (controllers/runtime.py).
        self.controllers: list[Controller] = []
        self._workers: list[subprocess.Popen] = []
        self._poller: asyncio.Task | None = None

    def _process_changed(self, status: ProcessStatus) -> None:
        key = cluster_key_for_process(status.name)
        if key is None:
            return
        for controller in self.controllers:  # a cluster's process started, crashed or stopped: look at the cluster
            if controller.kind == key.kind:
                controller.enqueue(key)

    def _on_store_change(self, key: Key) -> None:
        for controller in self.controllers:
            controller.notify(key)

    async def _poll_other_writers(self) -> None:
        """Changes committed by API workers: found through SQLite's data_version, then by updated_at."""
        version = self.store.data_version()
        since = time.time()
        while True:
            await asyncio.sleep(CHANGE_POLL_SECONDS)
            current = self.store.data_version()
            if current == version:
                continue
            version = current
            now = time.time()
            for kind in {controller.kind for controller in self.controllers}:
                for key in self.store.changed_since(kind, since - 1.0):  # overlap: clocks of two writers
                    self.clusters_by_id.notify(key)  # a cluster a worker created: findable by id
                    self._on_store_change(key)
            since = now

    async def start(self, url: str) -> None:
        """Wire services for the bound URL, then resume every cluster's reconcile (adopting processes)."""
        if self.created_account:
            self.announce(
                "Created Moorage account "
                f"{self.root.account_id} with root credentials (shown once):\n"
                f"  aws_access_key_id = {self.root.access_key_id}\n"
                f"  aws_secret_access_key = {self.root.secret_access_key}"
            )
        ca_bundle = ca_bundle_path(self.config.data_dir) if self.config.tls else None
        for path in ensure_aws_profile(self.root, url, ca_bundle=ca_bundle):
            self.announce(f"Added the AWS profile 'moorage' to {path}: use `aws --profile moorage ...`")
        existing = aws_profile_settings() if ca_bundle is not None else None
        if existing is not None and (existing.get("ca_bundle"), existing.get("endpoint_url")) != (str(ca_bundle), url):
            self.announce(f"The AWS profile 'moorage' already exists and was left as it is; for this endpoint it needs "
                          f"endpoint_url = {url} and ca_bundle = {ca_bundle}")
        self.wire(url)
        stored = self.store.setting(ETCD_SETTING)
        endpoint = EtcdEndpoint(**stored) if stored else EtcdEndpoint.new(free_port(), free_port())
        if not stored:
            self.store.set_setting(ETCD_SETTING, endpoint.__dict__)
        etcd_binary = default_cache().path_for(Binary("etcd", ETCD_VERSION, "etcd"))
        etcd = SharedEtcd(self.config.data_dir, etcd_binary, endpoint, self.supervisor)
        self.clusters_by_id.follow()
        self.store.subscribe(self.clusters_by_id.notify)  # before any reconcile can start an API server
        await self.admission_webhooks.start()
        self.reconciler = ClusterReconciler(
            self.store, self.supervisor, etcd, self.config.data_dir, url,
            admission=FargateWebhookConfigurations(self.store, self.admission_webhooks),
            reviews=self.admission_webhooks,
        )
        nodes = KwokNodeBackend(self.supervisor, settings=KwokSettings(
            node_startup_delay=self.config.node_startup_delay, pod_startup_delay=self.config.pod_startup_delay))
        nodegroups = NodegroupReconciler(self.store, self.reconciler, nodes, self.config.pod_eviction_timeout,
                                         self.config.node_drain_timeout)
        instances = InstanceReconciler(self.store, self.reconciler, nodes, self.identities)
        self.fargate_scheduler = FargateScheduler(self.store, self.reconciler, nodes)
        fargate = FargateReconciler(self.store, self.reconciler, self.fargate_scheduler)
        insights = InsightsReconciler(self.store, self._admin_credentials, self._audit_log,
                                      addon_compatibility=compatible_addon_versions)
        addons = AddonReconciler(self.store, self.reconciler, ready_timeout=self.config.addon_ready_timeout)
        self_managed_addons = SelfManagedAddons(self.store, self.reconciler)
        self.controllers = [Controller.of(r) for r in (
            self.reconciler, nodegroups, instances, fargate, insights, addons, self_managed_addons,
            IdentityProviderConfigReconciler(self.store, self.reconciler))]
        for controller in self.controllers:
            controller.start()
        self.store.subscribe(self._on_store_change)
        for controller in self.controllers:  # resume everything after a restart or crash
            for key in self.store.all_keys(controller.kind):
                controller.enqueue(key)
        if self.api_workers:
            self._poller = asyncio.create_task(self._poll_other_writers())
            port = int(url.rsplit(":", 1)[1])
            for _ in range(self.api_workers):
                self._workers.append(self._spawn_worker(port, url))

    def _spawn_worker(self, port: int, url: str) -> subprocess.Popen:
        return subprocess.Popen(
            [
                sys.executable, "-m", "moorage.worker", "--host", self.config.host, "--port", str(port),
                "--data-dir", str(self.config.data_dir), "--url", url, "--parent", str(os.getpid()),
                *(["--tls"] if self.config.tls else []),
            ],
            stdin=subprocess.DEVNULL,
        )

    async def stop(self) -> None:
        for worker in self._workers:
            worker.send_signal(signal.SIGTERM)
        for worker in self._workers:
            try:
                await asyncio.to_thread(worker.wait, 10)
            except subprocess.TimeoutExpired:
                worker.kill()
        if self._poller is not None:
            self._poller.cancel()
        for controller in self.controllers:
            await controller.stop()
        if self.fargate_scheduler is not None:
            await self.fargate_scheduler.stop()
        await self.admission_webhooks.stop()
        await self.supervisor.stop_all(order=STOP_ORDER)
        await self.supervisor.close()
        if self.reconciler is not None:
            self.reconciler.mark_stopped()
