"""Simulated nodes: Moorage creates the Node objects, one kwok process per cluster plays their kubelets.

Division of work
    Moorage writes each node by server-side apply (field manager "moorage"): labels (plus the ones a kubelet
    adds itself: hostname, os, arch), annotations, taints, providerID and podCIDRs on the object; addresses,
    capacity, allocatable, nodeInfo and the kubelet port on its status subresource. Every node carries the
    annotation ``kwok.x-k8s.io/node: fake``. kwok (v0.8.0) manages only nodes with that annotation, holds their
    ``kube-node-lease`` leases, posts their conditions (Ready, Memory/Disk/PID pressure) and plays the pods bound
    to them: Pending → Running with IPs, Job pods → Succeeded, deleting pods → gone.

How kwok v0.8.0 is run (checked against ``kwok --help`` and the v0.8.0 source, ``pkg/kwok/cmd/root.go``)
    * v0.8.0 has no built-in stages: without Stage objects from ``--config`` (or ``--enable-crds=Stage``) it
      exits with "no stages found". Moorage writes its own Stage set (below) into a JSON file (JSON is YAML;
      kwok reads multi-document YAML) together with a ``KwokConfiguration`` that turns off kwok's debugging
      and profiling handlers (a KwokConfiguration read from --config is not defaulted: every option must be
      spelled out, see ``kwok_config``). The file name carries a hash of its content, so changed settings
      change the command line, and the supervisor restarts kwok.
    * ``--manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake``: real
      kubelets can join the same cluster later; kwok never touches their nodes nor their pods.
    * ``--node-lease-duration-seconds=40``: kwok creates and renews each node's Lease every 10 s (duration/4),
      like a kubelet; the node lifecycle controller of kube-controller-manager reads those.
    * ``--server-address=127.0.0.1:<port>`` (port chosen once per cluster, kept in the data dir): kwok's
      HTTP server (/healthz, /metrics) on loopback only. Without it kwok would listen on 0.0.0.0 as soon
      as a node port was set; we set none.
    * ``--kubeconfig`` = the cluster's admin kubeconfig; ``--v`` = the log level.

Pod IPs (the VPC CNI's job on EKS)
    kwok v0.8.0 gives a pod on a managed node the next free address of the node's ``spec.podCIDRs[0]``
    (``spec.podCIDR``), else of ``--cidr`` (default 10.0.0.0/24): ``PodIPsWith`` in ``pod_controller.go``, one pool
    per CIDR, starting at network+1, addresses recycled when pods go away. kube-controller-manager runs without
    ``--allocate-node-cidrs``, so nothing else sets podCIDRs. Moorage therefore sets each node's podCIDRs to
    the block of its subnet given by ``NodeSpec.pod_cidrs`` (see ``backend.pod_cidr_block``): pod IPs are
    subnet addresses, as with the VPC CNI's prefix delegation. kwok's pool does not stop at the block's end,
    so ``capacity.pods`` must fit in the block (``NodeSpec`` checks): the scheduler never places more pods.
    hostNetwork pods get the node's InternalIP, and so do Fargate pods (schedulerName fargate-scheduler, the
    stage ``pod-running-fargate``): on Fargate a pod has its node, and its address, to itself.

Timing
    ``KwokSettings`` sets the delays: node start-up (creation → Ready), pod start-up (bound → Running), Job
    pod run time, pod termination. A node or pod can override its start-up delay with the annotation
    ``moorage.dev/startup-delay`` (a Go duration such as "45s", or an RFC 3339 time to become ready at). A
    node that was Ready before (kwok restarted, lease expired) comes back without the start-up delay.

Restarts
    kwok picks a new holder identity at each start and would wait for its predecessor's leases to expire
    (40 s) before managing the nodes again, long enough for the node lifecycle controller to call them
    NotReady. ``start`` and ``ensure_nodes`` delete our nodes' leases last renewed before the running kwok
    started; kwok recreates them within 10 s.

Known limits
    Logs/exec/attach/port-forward are not simulated (the apiserver would dial the nodes' VPC addresses). No
    images, volumes, resource usage or node-problem conditions; pods never fail or restart unless
    ``extra_stages`` say so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from ..etcd import free_port
from ..kube import KubeClient, KubeError, object_path
from ..process_records import ProcessSpec
from ..supervisor import Supervisor
from .backend import ClusterContext, NodeBackend, NodeSpec, node_ready
from .kwok_stages import STARTUP_DELAY_ANNOTATION, KwokSettings, kwok_config

log = logging.getLogger(__name__)

KWOK_VERSION = "0.8.0"
COMPONENT = "kwok"
MANAGED_ANNOTATION = "kwok.x-k8s.io/node"
MANAGED_VALUE = "fake"
MANAGED_TAINTS_ANNOTATION = "moorage.dev/managed-taints"
NODE_SNAPSHOT_SECONDS = 0.5
KUBELET_PORT = 10250
APPLY_CONCURRENCY = 16
SPEC_DIGEST_ANNOTATION = "moorage.dev/spec-digest"
CONFIG_PREFIX = "kwok-config-"
PORT_FILE = "kwok-server-port"
NODE_LEASE_NAMESPACE = "kube-node-lease"
LEASE_CLOCK_MARGIN = 2.0  # seconds: an adopted process's start time is only known to the second


# --------------------------------------------------------------------------------------------------------------------
# Node objects


def _kubelet_labels(spec: NodeSpec, info: Mapping[str, str]) -> dict[str, str]:
    """The labels a kubelet puts on its own node; the NodeSpec's labels win."""
    os_name, arch = info["operatingSystem"], info["architecture"]
    return {
        "kubernetes.io/hostname": spec.hostname or spec.name,
        "kubernetes.io/os": os_name,
        "kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": os_name,
        "beta.kubernetes.io/arch": arch,
    }


def node_info(spec: NodeSpec) -> dict[str, str]:
    seed = hashlib.sha256(spec.provider_id.encode()).hexdigest()
    uuid = f"ec2{seed[3:8]}-{seed[8:12]}-{seed[12:16]}-{seed[16:20]}-{seed[20:32]}"
    fallback = f"kwok-v{KWOK_VERSION}"
    return {
        "architecture": "amd64",
        "operatingSystem": "linux",
        "osImage": "",
        "kernelVersion": fallback,
        "containerRuntimeVersion": fallback,
        "kubeletVersion": fallback,
        "kubeProxyVersion": "",
        "machineID": seed[32:64],
        "systemUUID": uuid,
        "bootID": f"{seed[:8]}-{seed[8:12]}-{seed[12:16]}-{seed[16:20]}-{seed[20:32]}",
        **spec.node_info,
    }


def _taint_id(taint: Mapping[str, Any]) -> str:
    return f"{taint.get('key')}:{taint.get('effect')}"


def merged_taints(spec: NodeSpec, current: Mapping[str, Any] | None) -> list[dict]:
    """spec.taints is an atomic list, so applying ours would drop everyone else's (the node lifecycle
    controller's not-ready taint, kubectl taint, autoscalers). Keep the taints Moorage did not put there
    (the annotation remembers which ones it did), replace its own with the NodeSpec's."""
    wanted = [dict(taint) for taint in spec.taints]
    if current is None:
        return wanted
    metadata = current.get("metadata") or {}
    try:
        ours_before = set(json.loads((metadata.get("annotations") or {}).get(MANAGED_TAINTS_ANNOTATION, "[]")))
    except ValueError:
        ours_before = set()
    wanted_ids = {_taint_id(taint) for taint in wanted}
    foreign = [
        taint for taint in (current.get("spec") or {}).get("taints") or []
        if _taint_id(taint) not in ours_before and _taint_id(taint) not in wanted_ids
    ]
    return foreign + wanted


def node_object(spec: NodeSpec, current: Mapping[str, Any] | None = None) -> dict:
    """The Node as Moorage applies it (metadata and spec; the status goes through /status)."""
    info = node_info(spec)
    annotations = {
        **spec.annotations,
        MANAGED_ANNOTATION: MANAGED_VALUE,
        MANAGED_TAINTS_ANNOTATION: json.dumps(sorted(_taint_id(t) for t in spec.taints), separators=(",", ":")),
    }
    metadata: dict[str, Any] = {
        "name": spec.name,
        "labels": {**_kubelet_labels(spec, info), **spec.labels},
        "annotations": annotations,
    }
    if current is not None:
        # An optimistic lock: the taints were merged from this version.
        metadata["resourceVersion"] = (current.get("metadata") or {}).get("resourceVersion")
    node_spec: dict[str, Any] = {"providerID": spec.provider_id, "taints": merged_taints(spec, current)}
    if spec.pod_cidrs:
        node_spec["podCIDR"] = spec.pod_cidrs[0]
        node_spec["podCIDRs"] = list(spec.pod_cidrs)
    return {"apiVersion": "v1", "kind": "Node", "metadata": metadata, "spec": node_spec}


def node_status(spec: NodeSpec) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": spec.name},
        "status": {
            "capacity": dict(spec.capacity),
            "allocatable": spec.effective_allocatable,
            "addresses": spec.addresses,
            "nodeInfo": node_info(spec),
            "daemonEndpoints": {"kubeletEndpoint": {"Port": KUBELET_PORT}},
        },
    }


def is_managed(node: Mapping[str, Any]) -> bool:
    return ((node.get("metadata") or {}).get("annotations") or {}).get(MANAGED_ANNOTATION) == MANAGED_VALUE


# --------------------------------------------------------------------------------------------------------------------
# The backend


class KwokNodeBackend(NodeBackend):
    def __init__(self, supervisor: Supervisor, binary: Path | None = None, settings: KwokSettings | None = None):
        self.supervisor = supervisor
        self._binary = binary
        self.settings = settings or KwokSettings()
        # One node listing per cluster shared by every caller for a moment: node groups polling for
        # readiness would otherwise list 1,000 nodes several times a second between them.
        self._snapshots: dict[str, tuple[float, dict[str, dict]]] = {}
        self._snapshot_locks: dict[str, asyncio.Lock] = {}
        self._leases_released: dict[str, float] = {}  # process prefix -> start time of the kwok they were released for

    @property
    def binary(self) -> Path:
        if self._binary is None:
            from ..toolchain import locate

            self._binary = locate("kwok", KWOK_VERSION)
        return self._binary

    @staticmethod
    def process_name(ctx: ClusterContext) -> str:
        return f"{ctx.process_prefix}/{COMPONENT}"

    # ---- the process

    def _server_port(self, ctx: ClusterContext) -> int:
        path = ctx.data_dir / PORT_FILE
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            port = free_port()
            _write_atomically(path, f"{port}\n")
            return port

    def _write_config(self, ctx: ClusterContext) -> Path:
        text = kwok_config(self.settings)
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        path = ctx.data_dir / f"{CONFIG_PREFIX}{digest}.yaml"
        if not path.exists() or path.read_text() != text:
            _write_atomically(path, text)
        return path

    def process_spec(self, ctx: ClusterContext) -> ProcessSpec:
        ctx.data_dir.mkdir(parents=True, exist_ok=True)
        config = self._write_config(ctx)
        port = self._server_port(ctx)
        argv = [
            str(self.binary),
            f"--kubeconfig={ctx.kubeconfig}",
            f"--config={config}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={MANAGED_ANNOTATION}={MANAGED_VALUE}",
            f"--node-lease-duration-seconds={self.settings.node_lease_duration_seconds}",
            f"--server-address=127.0.0.1:{port}",
            f"--v={self.settings.log_level}",
        ]
        return ProcessSpec(
            name=self.process_name(ctx),
            argv=argv,
            log_path=ctx.logs_dir / f"{COMPONENT}.log",
            state_dir=ctx.state_dir,
            env={"GOMEMLIMIT": self.settings.memory_limit},
        )

    async def start(self, ctx: ClusterContext) -> None:
        spec = await asyncio.to_thread(self.process_spec, ctx)
        await self.supervisor.ensure(spec)
        current = Path(next(arg for arg in spec.argv if arg.startswith("--config=")).split("=", 1)[1])
        for stale in ctx.data_dir.glob(f"{CONFIG_PREFIX}*.yaml"):
            if stale != current:
                stale.unlink(missing_ok=True)
        try:
            async with ctx.kube() as kube:
                await self._release_stale_leases(ctx, kube)
        except (KubeError, OSError) as error:  # the API may not answer yet; ensure_nodes checks again
            log.debug("%s: could not check node leases: %s", self.process_name(ctx), error)

    async def _release_stale_leases(self, ctx: ClusterContext, kube: KubeClient,
                                    managed: set[str] | None = None) -> None:
        """kwok takes a new holder identity at each start and leaves a lease held by another identity alone
        until it expires (the lease duration, 40 s): after a restart its nodes would miss heartbeats long
        enough for the node lifecycle controller (grace period 50 s) to mark them NotReady. A lease of one of
        our nodes last renewed before the running kwok started can only be its predecessor's: delete it, and
        kwok recreates it at its next try (a quarter of the lease duration)."""
        try:
            status = self.supervisor.status(self.process_name(ctx))
        except KeyError:
            return
        if status.state != "running" or status.started_at is None:
            return
        if time.time() - status.started_at > self.settings.node_lease_duration_seconds + LEASE_CLOCK_MARGIN:
            return  # by now every predecessor's lease has expired and kwok took it over by itself
        if self._leases_released.get(ctx.process_prefix) == status.started_at:
            # One full pass per kwok start is enough (later leases are its own). Without this, every reconcile in
            # a new cluster's first 42 s listed all nodes and leases: a quarter of Moorage's CPU at 1,000 nodes.
            return
        # A process we spawned started after its predecessor died: any earlier renewal is the predecessor's.
        # An adopted one's start time comes from /proc, precise to about a second only.
        started = status.started_at - (LEASE_CLOCK_MARGIN if status.adopted else 0.0)
        if managed is None:
            managed = {node["metadata"]["name"] for node in await kube.list("/api/v1/nodes") if is_managed(node)}
        leases = await kube.list(object_path("coordination.k8s.io/v1", "leases", namespace=NODE_LEASE_NAMESPACE))
        for lease in leases:
            metadata, renewed = lease["metadata"], (lease.get("spec") or {}).get("renewTime")
            if metadata["name"] not in managed or not renewed:
                continue
            if _timestamp(renewed) < started:
                log.info("%s: releasing lease %s of a previous kwok", self.process_name(ctx), metadata["name"])
                try:
                    await kube.delete(object_path("coordination.k8s.io/v1", "leases", metadata["name"],
                                                  NODE_LEASE_NAMESPACE), resource_version=metadata["resourceVersion"])
                except KubeError as error:
                    if not error.conflict:  # 409: renewed meanwhile, so not stale
                        raise
        self._leases_released[ctx.process_prefix] = status.started_at

    async def stop(self, ctx: ClusterContext) -> None:
        name = self.process_name(ctx)
        await self.supervisor.stop(name)
        await self.supervisor.kill_recorded(name, ctx.state_dir)

    async def healthy(self, ctx: ClusterContext, timeout: float = 2.0) -> bool:
        """Whether kwok answers its /healthz (it starts serving once its controllers run)."""
        try:
            port = int((ctx.data_dir / PORT_FILE).read_text().strip())
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                    return response.status == 200
        except (OSError, ValueError, aiohttp.ClientError, asyncio.TimeoutError):
            return False

    # ---- the nodes

    async def ensure_nodes(self, ctx: ClusterContext, specs: Sequence[NodeSpec]) -> None:
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate node names in {names}")
        if not specs:
            return
        async with ctx.kube() as kube:
            existing = await self._nodes(ctx, kube)
            limit = asyncio.Semaphore(APPLY_CONCURRENCY)

            async def one(spec: NodeSpec) -> bool:
                async with limit:
                    return await self._ensure_node(kube, spec, existing.get(spec.name))

            if any(await asyncio.gather(*(one(spec) for spec in specs))):
                self._snapshots.pop(ctx.process_prefix, None)  # the next listing must see what was applied
            try:
                managed = {name for name, node in existing.items() if is_managed(node)}
                await self._release_stale_leases(ctx, kube, managed)
            except KubeError as error:
                log.warning("%s: could not check node leases: %s", self.process_name(ctx), error)

    async def _ensure_node(self, kube: KubeClient, spec: NodeSpec, current: dict | None, attempts: int = 5) -> bool:
        """Apply the node and its status unless already applied; True when something was written."""
        path = object_path("v1", "nodes", spec.name)
        digest = spec_digest(spec)
        applied = current is not None and (current["metadata"].get("annotations") or {}).get(SPEC_DIGEST_ANNOTATION) == digest
        if applied and (current.get("status") or {}).get("allocatable"):
            return False  # object and status applied before and unchanged: reconciles of big groups stay cheap
        for attempt in range(attempts):
            try:
                wanted = node_object(spec, current)
                wanted["metadata"].setdefault("annotations", {})[SPEC_DIGEST_ANNOTATION] = digest
                if current is None:
                    # As the kubelet registers: a new Node may carry its status, so one request creates it.
                    wanted["status"] = node_status(spec)["status"]
                created = await kube.apply(path, wanted)
                if current is None and (created.get("status") or {}).get("allocatable"):
                    return True
                break
            except KubeError as error:
                # 409: changed since we read it (taints merged from a stale copy); 404: deleted meanwhile.
                if error.status not in (404, 409) or attempt == attempts - 1:
                    raise
                current = await kube.get_or_none(path)
        await kube.apply(path, node_status(spec), subresource="status")
        return True

    async def delete_node(self, ctx: ClusterContext, name: str) -> None:
        async with ctx.kube() as kube:
            await kube.delete(object_path("v1", "nodes", name))
            # kwok gives the lease an owner reference to the node (so the garbage collector would get it too).
            await kube.delete(object_path("coordination.k8s.io/v1", "leases", name, NODE_LEASE_NAMESPACE))
        self._snapshots.pop(ctx.process_prefix, None)

    async def list_nodes(self, ctx: ClusterContext) -> dict[str, bool]:
        async with ctx.kube() as kube:
            nodes = await self._nodes(ctx, kube)
        return {name: node_ready(node) for name, node in nodes.items() if is_managed(node)}

    async def _nodes(self, ctx: ClusterContext, kube: KubeClient) -> dict[str, dict]:
        """The cluster's nodes by name, at most NODE_SNAPSHOT_SECONDS old; concurrent callers share one listing."""
        lock = self._snapshot_locks.setdefault(ctx.process_prefix, asyncio.Lock())
        async with lock:
            taken_at, nodes = self._snapshots.get(ctx.process_prefix, (0.0, {}))
            if time.monotonic() - taken_at > NODE_SNAPSHOT_SECONDS:
                nodes = {node["metadata"]["name"]: node for node in await kube.list("/api/v1/nodes")}
                self._snapshots[ctx.process_prefix] = (time.monotonic(), nodes)
            return nodes


def spec_digest(spec: NodeSpec) -> str:
    """What the node was last applied from; equal digests mean there is nothing to apply."""
    # The fields as they are (plain dicts, tuples and strings): the same JSON as dataclasses.asdict gives,
    # without its deep copy, which was most of the cost of checking 1,000 nodes on every reconcile.
    body = json.dumps({f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}, sort_keys=True, default=list)
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def _timestamp(value: str) -> float:
    """RFC 3339 (with or without fractional seconds, 'Z' or an offset) as epoch seconds."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


__all__ = [
    "KWOK_VERSION", "KwokNodeBackend", "KwokSettings", "MANAGED_ANNOTATION", "MANAGED_TAINTS_ANNOTATION",
    "MANAGED_VALUE", "STARTUP_DELAY_ANNOTATION", "is_managed", "kwok_config", "kwok_stages", "node_object",
    "node_status",
]
