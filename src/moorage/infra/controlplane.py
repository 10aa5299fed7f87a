"""One cluster's control plane: where its files live and how its three processes are started.

Flags follow kubeadm's static pods and EKS's published settings, tuned for many small control
planes on one machine (no profiling, no leader election for single instances, no serving ports
for the controller manager and scheduler).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from .authentication_config import ensure_authentication_config
from .etcd import EtcdEndpoint, cluster_prefix
from .pki import CertPaths, ClusterPki, EtcdPki
from .process_records import ProcessSpec

COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
# Many small control planes on one machine: a soft memory limit makes Go's GC work harder only once
# the heap nears it, so start-up stays fast and idle control planes stay small.
# Client rate limits of the controller manager and scheduler, raised as EKS raises them for large
# clusters: upstream's defaults (20 and 50 requests/s) would take minutes to create and bind 10,000 pods.
CLIENT_QPS = 300
CLIENT_BURST = 600
# Soft heap limits (GOMEMLIMIT): below them the Go GC runs as usual (GOGC=100), so they cost an idle cluster
# nothing; they only cap a runaway heap. A limit the heap reaches makes the GC run nearly non-stop: at 1 GiB,
# kube-apiserver with 1,000 nodes and 10,000 pods (heap ~1 GiB) spent most of its CPU collecting and pods
# started up to twice as slowly (docs/benchmarks.md). These leave room for that scale with a margin.
GO_MEMORY_LIMITS = {"kube-apiserver": "4GiB", "kube-controller-manager": "1536MiB", "kube-scheduler": "1GiB"}


# Go 1.24+ listens with MPTCP by default; an MPTCP listener refuses reuseport BPF programs (EOPNOTSUPP), which
# the hand-over of a version update attaches to kube-apiserver's port (infra/port_steering.py). Plain TCP.
APISERVER_ENV = {"GODEBUG": "multipathtcp=0"}


@dataclass(frozen=True)
class ClusterPaths:
    root: Path

    @classmethod
    def of(cls, data_dir: Path, account: str, region: str, name: str, cluster_id: str) -> "ClusterPaths":
        return cls(data_dir / "clusters" / account / region / f"{name}-{cluster_id}")

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"


@dataclass(frozen=True)
class WebhookClient:
    """How kube-apiserver reaches Moorage's token-review and authorization webhooks: over TLS to
    Moorage's webhook listener (whose CA it trusts), presenting the cluster's own client
    certificate (infra/pki ensure_webhook_client), the only credential those webhooks answer."""

    ca_pem: bytes
    cert: CertPaths


@dataclass(frozen=True)
class ControlPlaneSettings:
    """Everything from the cluster's spec that changes a process's flags."""

    cluster_id: str
    process_prefix: str  # "<account>/<region>/<name>"
    port: int
    advertise_address: str  # a private address in the cluster's first subnet, as EKS's ENIs have
    service_cidr: str
    issuer: str
    webhook_url: str
    authorization_webhook_url: str | None = None  # EKS access policies, asked after Node and RBAC
    webhook_client: WebhookClient | None = None  # mutual TLS to the webhooks (https:// URLs)
    event_ttl: str | None = None
    node_port_range: tuple[int, int] | None = None
    terminated_pod_gc_threshold: int | None = None
    hpa_sync_period: str | None = None
    scoring_strategy: dict | None = None


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)


def write_webhook_kubeconfig(paths: ClusterPaths, webhook_url: str, name: str = "authentication-webhook",
                             client: WebhookClient | None = None) -> Path:
    """A kubeconfig naming one of Moorage's webhooks, e.g. /_moorage/webhooks/authenticate/<cluster id>:
    with a client, the webhook CA to trust and the cluster's client certificate to present."""
    paths.config.mkdir(parents=True, exist_ok=True)
    cluster: dict = {"server": webhook_url}
    user: dict = {}
    if client is not None:
        cluster["certificate-authority-data"] = base64.b64encode(client.ca_pem).decode()
        user = {"client-certificate": str(client.cert.cert), "client-key": str(client.cert.key)}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "moorage", "cluster": cluster}],
        "users": [{"name": "kube-apiserver", "user": user}],
        "contexts": [{"name": "webhook", "context": {"cluster": "moorage", "user": "kube-apiserver"}}],
        "current-context": "webhook",
    }
    path = paths.config / f"{name}.kubeconfig"
    _write_if_changed(path, json.dumps(config, indent=2))
    return path


def write_authorization_config(paths: ClusterPaths, webhook_url: str, client: WebhookClient | None = None) -> Path:
    """Node, then RBAC, then Moorage's access-policy webhook, asked only for callers that carry an IAM
    identity (the canonicalArn the token webhook puts in extra). Short caches, so associating or
    disassociating a policy takes effect within seconds, as EKS says; if Moorage can't answer, the
    webhook has no opinion and RBAC decides alone."""
    kubeconfig = write_webhook_kubeconfig(paths, webhook_url, "authorization-webhook", client)
    config = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AuthorizationConfiguration",
        "authorizers": [
            {"type": "Node", "name": "node"},
            {"type": "RBAC", "name": "rbac"},
            {
                "type": "Webhook",
                "name": "eks-access-policies",
                "webhook": {
                    "timeout": "3s",
                    "authorizedTTL": "5s",
                    "unauthorizedTTL": "1s",
                    "subjectAccessReviewVersion": "v1",
                    "matchConditionSubjectAccessReviewVersion": "v1",
                    "failurePolicy": "NoOpinion",
                    "connectionInfo": {"type": "KubeConfigFile", "kubeConfigFile": str(kubeconfig)},
                    "matchConditions": [{"expression": "has(request.extra) && 'canonicalArn' in request.extra"}],
                },
            },
        ],
    }
    path = paths.config / "authorization.json"
    _write_if_changed(path, json.dumps(config, indent=2))
    return path


def write_admission_config(paths: ClusterPaths, webhook_url: str, client: WebhookClient) -> Path:
    """kube-apiserver's admission plugin configuration: calls to Moorage's webhook listener (users are
    matched by the webhook URL's host:port) present the cluster's client certificate, so the Fargate
    admission webhook, like token review and authorization, answers only its own cluster."""
    host = urlsplit(webhook_url).netloc
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "users": [{"name": host, "user": {"client-certificate": str(client.cert.cert), "client-key": str(client.cert.key)}}],
    }
    kubeconfig_path = paths.config / "admission-webhook.kubeconfig"
    _write_if_changed(kubeconfig_path, json.dumps(kubeconfig, indent=2))
    webhooks = {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "WebhookAdmissionConfiguration",
                "kubeConfigFile": str(kubeconfig_path)}
    config = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AdmissionConfiguration",
        "plugins": [{"name": name, "configuration": webhooks} for name in ("MutatingAdmissionWebhook", "ValidatingAdmissionWebhook")],
    }
    path = paths.config / "admission.json"
    _write_if_changed(path, json.dumps(config, indent=2))
    return path


def write_scheduler_config(paths: ClusterPaths, pki: ClusterPki, scoring_strategy: dict | None) -> Path:
    profile: dict = {"schedulerName": "default-scheduler"}
    if scoring_strategy:
        strategy = {"type": scoring_strategy.get("type", "LeastAllocated")}
        if scoring_strategy.get("resources"):
            strategy["resources"] = [{"name": r["name"], "weight": r.get("weight", 1)} for r in scoring_strategy["resources"]]
        profile["pluginConfig"] = [{"name": "NodeResourcesFit", "args": {"scoringStrategy": strategy}}]
    config = {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "clientConnection": {"kubeconfig": str(pki.scheduler.kubeconfig), "qps": CLIENT_QPS, "burst": CLIENT_BURST},
        "leaderElection": {"leaderElect": False},
        # Score 10% of feasible nodes (the scheduler never looks at fewer than 100): identical placement
        # below 100 nodes, and on 1,000 nodes about 4x less work per pod than the adaptive default (42%).
        "percentageOfNodesToScore": 10,
        "profiles": [profile],
    }
    paths.config.mkdir(parents=True, exist_ok=True)
    path = paths.config / "scheduler.json"
    path.write_text(json.dumps(config, indent=2))
    return path


# Metadata-level audit events for every request except the high-volume ones no insight needs (leases,
# events, health probes) and the control plane's own components; the insights controller reads the
# k8s.io/deprecated annotations from them (infra/deprecated_api_usage.py).
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "users": ["system:apiserver", "system:kube-scheduler", "system:kube-controller-manager"]},
        {"level": "None", "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]},
                                        {"group": "", "resources": ["events"]},
                                        {"group": "events.k8s.io", "resources": ["events"]}]},
        {"level": "None", "nonResourceURLs": ["/healthz*", "/livez*", "/readyz*", "/version", "/metrics"]},
        {"level": "Metadata"},
    ],
}
AUDIT_LOG_MAX_MEGABYTES = 50  # then rotated once: at most ~100 MB of audit log per cluster


def audit_log_path(paths: ClusterPaths) -> Path:
    return paths.log("audit")


def write_audit_policy(paths: ClusterPaths) -> Path:
    paths.config.mkdir(parents=True, exist_ok=True)
    path = paths.config / "audit-policy.json"
    _write_if_changed(path, json.dumps(AUDIT_POLICY, indent=2))
    return path


def process_specs(
    binaries: dict[str, Path],
    paths: ClusterPaths,
    pki: ClusterPki,
    etcd_pki: EtcdPki,
    etcd_client: CertPaths,
    etcd: EtcdEndpoint,
    settings: ControlPlaneSettings,
    apiserver_name: str = "kube-apiserver",
) -> list[ProcessSpec]:
    """The three processes, in COMPONENTS order. ``apiserver_name`` names the kube-apiserver process (and its
    log): a version update starts the new one beside the old under another name (see cluster_upgrades.py)."""
    webhook = write_webhook_kubeconfig(paths, settings.webhook_url, client=settings.webhook_client)
    apiserver = [
        str(binaries["kube-apiserver"]),
        # kube-apiserver 1.37 refuses a loopback advertise address for the "kubernetes" endpoints.
        f"--advertise-address={settings.advertise_address}",
        "--bind-address=127.0.0.1",
        f"--secure-port={settings.port}",
        # SO_REUSEPORT: during a version update the new kube-apiserver binds the same port before the old
        # one stops, so clients of the endpoint never find it closed.
        "--permit-port-sharing=true",
        # On SIGTERM, close open watches after 1 s instead of waiting for them: without this kube-apiserver's
        # HTTP server waits its full 60 s shutdown timeout for the watches of the controller manager,
        # scheduler and kwok, so every stop (DeleteCluster, an upgrade's hand-over, moorage's own
        # shutdown) ended in SIGKILL after Moorage's 10 s. Measured: exit 3.7 s after SIGTERM instead of 60 s.
        "--shutdown-watch-termination-grace-period=1s",
        f"--etcd-servers={etcd.client_url}",
        f"--etcd-cafile={etcd_pki.ca.cert}",
        f"--etcd-certfile={etcd_client.cert}",
        f"--etcd-keyfile={etcd_client.key}",
        f"--etcd-prefix={cluster_prefix(settings.cluster_id)}",
        "--etcd-compaction-interval=0",
        f"--service-cluster-ip-range={settings.service_cidr}",
        f"--client-ca-file={pki.ca.cert}",
        f"--tls-cert-file={pki.apiserver.cert}",
        f"--tls-private-key-file={pki.apiserver.key}",
        f"--kubelet-client-certificate={pki.apiserver_kubelet_client.cert}",
        f"--kubelet-client-key={pki.apiserver_kubelet_client.key}",
        f"--service-account-issuer={settings.issuer}",
        f"--service-account-key-file={pki.sa_pub}",
        f"--service-account-signing-key-file={pki.sa_key}",
        "--api-audiences=https://kubernetes.default.svc,sts.amazonaws.com",
        *(
            [f"--authorization-config={write_authorization_config(paths, settings.authorization_webhook_url, settings.webhook_client)}"]
            if settings.authorization_webhook_url
            else ["--authorization-mode=Node,RBAC"]
        ),
        f"--authentication-token-webhook-config-file={webhook}",
        # OIDC identity provider configs (JWT authenticators), reloaded by kube-apiserver when the file changes.
        f"--authentication-config={ensure_authentication_config(paths.config)}",
        "--authentication-token-webhook-version=v1",
        # EKS: access-entry and aws-auth changes take effect within seconds (kube-apiserver's default is 2m).
        "--authentication-token-webhook-cache-ttl=5s",
        "--enable-admission-plugins=NodeRestriction",
        *(
            [f"--admission-control-config-file={write_admission_config(paths, settings.webhook_url, settings.webhook_client)}"]
            if settings.webhook_client is not None
            else []
        ),
        f"--requestheader-client-ca-file={pki.front_proxy_ca.cert}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-username-headers=X-Remote-User",
        f"--proxy-client-cert-file={pki.front_proxy_client.cert}",
        f"--proxy-client-key-file={pki.front_proxy_client.key}",
        "--allow-privileged=true",
        "--anonymous-auth=true",
        "--profiling=false",
        "--v=1",
        f"--audit-policy-file={write_audit_policy(paths)}",
        f"--audit-log-path={audit_log_path(paths)}",
        "--audit-log-format=json",
        f"--audit-log-maxsize={AUDIT_LOG_MAX_MEGABYTES}",
        "--audit-log-maxbackup=1",
    ]
    if settings.event_ttl:
        apiserver.append(f"--event-ttl={settings.event_ttl}")
    if settings.node_port_range:
        apiserver.append(f"--service-node-port-range={settings.node_port_range[0]}-{settings.node_port_range[1]}")
    controller_manager = [
        str(binaries["kube-controller-manager"]),
        f"--kubeconfig={pki.controller_manager.kubeconfig}",
        f"--authentication-kubeconfig={pki.controller_manager.kubeconfig}",
        f"--authorization-kubeconfig={pki.controller_manager.kubeconfig}",
        "--bind-address=127.0.0.1",
        "--secure-port=0",
        "--leader-elect=false",
        "--profiling=false",
        "--use-service-account-credentials=true",
        f"--kube-api-qps={CLIENT_QPS}",
        f"--kube-api-burst={CLIENT_BURST}",
        "--controllers=*,bootstrapsigner,tokencleaner",
        f"--cluster-signing-cert-file={pki.ca.cert}",
        f"--cluster-signing-key-file={pki.ca.key}",
        f"--root-ca-file={pki.ca.cert}",
        f"--service-account-private-key-file={pki.sa_key}",
        f"--service-cluster-ip-range={settings.service_cidr}",
        f"--requestheader-client-ca-file={pki.front_proxy_ca.cert}",
        "--v=1",
    ]
    if settings.terminated_pod_gc_threshold is not None:
        controller_manager.append(f"--terminated-pod-gc-threshold={settings.terminated_pod_gc_threshold}")
    if settings.hpa_sync_period:
        controller_manager.append(f"--horizontal-pod-autoscaler-sync-period={settings.hpa_sync_period}")
    scheduler_config = write_scheduler_config(paths, pki, settings.scoring_strategy)
    scheduler = [
        str(binaries["kube-scheduler"]),
        f"--authentication-kubeconfig={pki.scheduler.kubeconfig}",
        f"--authorization-kubeconfig={pki.scheduler.kubeconfig}",
        "--bind-address=127.0.0.1",
        "--secure-port=0",
        "--profiling=false",
        "--v=1",
    ]
    scheduler.append(f"--config={scheduler_config}")
    paths.logs.mkdir(parents=True, exist_ok=True)
    paths.state.mkdir(parents=True, exist_ok=True)
    process_names = (apiserver_name, "kube-controller-manager", "kube-scheduler")
    # In the environment, so it is part of the process fingerprint: a changed webhook port, CA or
    # client certificate restarts kube-apiserver (an adopted one included) instead of leaving it
    # calling a webhook that no longer answers it.
    webhook_env = {"MOORAGE_WEBHOOK_CONFIG": webhook_config_digest(paths, settings.webhook_client)}
    return [
        ProcessSpec(
            name=f"{settings.process_prefix}/{process}",
            argv=argv,
            log_path=paths.log(process),
            state_dir=paths.state,
            env={"GOMEMLIMIT": GO_MEMORY_LIMITS[component], **(APISERVER_ENV | webhook_env if component == "kube-apiserver" else {})},
        )
        for component, process, argv in zip(COMPONENTS, process_names, (apiserver, controller_manager, scheduler))
    ]


def webhook_config_digest(paths: ClusterPaths, client: WebhookClient | None) -> str:
    """What kube-apiserver read of its webhook configuration at start: the kubeconfigs (URLs, CA)
    and the client certificate. It never re-reads them, so a change must restart it."""
    digest = hashlib.sha256()
    for name in ("authentication-webhook.kubeconfig", "authorization-webhook.kubeconfig", "admission-webhook.kubeconfig"):
        path = paths.config / name
        digest.update(path.read_bytes() if path.exists() else b"")
    if client is not None:
        digest.update(client.cert.cert.read_bytes())
    return digest.hexdigest()[:16]


def admin_ssl_context(pki: ClusterPki) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca.cert))
    context.load_cert_chain(str(pki.admin.cert), str(pki.admin.key))
    return context


async def version_readyz(port: int, context: ssl.SSLContext, want_version: str, attempts: int = 8,
                         timeout: float = 2.0) -> tuple[bool, str]:
    """Is the kube-apiserver of ``want_version`` (e.g. "v1.37.2") ready, while another one shares its port?

    The kernel hands each new connection to one of the processes listening on the port (SO_REUSEPORT), so
    each attempt opens a fresh connection and asks /version and then /readyz on it (one keep-alive
    connection: the same process answers both)."""
    detail = "no answer"
    for _ in range(attempts):
        connector = aiohttp.TCPConnector(limit=1, ssl=context)
        try:
            async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)) as session:
                async with session.get(f"https://127.0.0.1:{port}/version") as response:
                    version = (await response.json(content_type=None)).get("gitVersion", "")
                if version != want_version:
                    detail = f"connection answered by kube-apiserver {version}"
                    continue
                async with session.get(f"https://127.0.0.1:{port}/readyz") as response:
                    body = await response.text()
                    if response.status == 200:
                        return True, body
                    detail = f"kube-apiserver {version} is not ready: {body[-300:]}"
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError) as error:
            detail = str(error) or type(error).__name__
    return False, detail


async def readyz(port: int, context: ssl.SSLContext, timeout: float = 2.0) -> tuple[bool, str]:
    """Ask kube-apiserver's /readyz as Moorage's admin identity; (ready, body or error)."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.get(f"https://127.0.0.1:{port}/readyz", ssl=context) as response:
                body = await response.text()
                return response.status == 200, body
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as error:
        return False, str(error) or type(error).__name__
