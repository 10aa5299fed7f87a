"""kwok's behaviour as data: the Stage objects that play simulated nodes and pods (Ready, heartbeats,
pods Running with addresses from the node's pod CIDR, Job pods Succeeded, deletions), the timing
settings that parameterise them, and the KwokConfiguration file kwok reads (``kwok_config``).

See kwok.py's docstring for how kwok v0.8.0 is run and why each stage is shaped as it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

STARTUP_DELAY_ANNOTATION = "moorage.dev/startup-delay"


@dataclass(frozen=True)
class KwokSettings:
    """How simulated nodes and pods behave. Durations in seconds; a jitter adds a random 0..jitter."""

    node_startup_delay: float = 0.0  # node seen by kwok → Ready
    node_startup_jitter: float = 0.0
    pod_startup_delay: float = 0.0  # pod bound to a node → Running with an IP
    pod_startup_jitter: float = 0.0
    job_pod_run_time: float = 0.0  # a Job's pod: Running → Succeeded
    pod_termination_delay: float = 0.0  # deletionTimestamp set → pod removed
    node_lease_duration_seconds: int = 40  # renewed every duration/4, as the kubelet does
    node_status_update_seconds: float = 300.0  # conditions' lastHeartbeatTime refresh (kubelet: 5 min with leases)
    # Extra kwok Stage objects (dicts). One with the same metadata.name as a built-in stage replaces it.
    extra_stages: Sequence[Mapping[str, Any]] = ()
    log_level: str = "WARN"  # kwok --v: DEBUG, INFO, WARN, ERROR (INFO logs every lease renewal)
    memory_limit: str = "1GiB"  # GOMEMLIMIT (soft): room for thousands of nodes and pods without GC thrash


# --------------------------------------------------------------------------------------------------------------------
# kwok configuration: the Stage objects


def _ms(seconds: float) -> int:
    return max(0, int(round(seconds * 1000)))


def _delay(default: float, jitter: float, override_expression: str | None) -> dict:
    delay: dict[str, Any] = {"durationMilliseconds": _ms(default)}
    if jitter > 0:
        # kwok: delay = duration + rand(jitterDuration - duration); jitterDuration <= duration means no jitter.
        delay["jitterDurationMilliseconds"] = _ms(default + jitter)
    if override_expression:
        # Both read the same expression, so an override is exact (no jitter on top).
        delay["durationFrom"] = {"expressionFrom": override_expression}
        delay["jitterDurationFrom"] = {"expressionFrom": override_expression}
    return delay


def _stage(name: str, kind: str, expressions: list[dict], next_: dict, delay: dict | None = None) -> dict:
    spec: dict[str, Any] = {
        "resourceRef": {"apiGroup": "v1", "kind": kind},
        "selector": {"matchExpressions": expressions},
        "next": next_,
    }
    if delay and (delay.get("durationMilliseconds") or len(delay) > 1):
        spec["delay"] = delay
    return {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Stage", "metadata": {"name": name}, "spec": spec}


_READY = '.status.conditions.[] | select( .type == "Ready" ) | .status'
_OVERRIDE = f'.metadata.annotations["{STARTUP_DELAY_ANNOTATION}"]'
# A node that has been Ready before (the node lifecycle controller says NodeStatusUnknown, not
# NodeStatusNeverUpdated) comes back at once: only a new node pays the start-up delay.
_NODE_DELAY = (
    'if any(.status.conditions[]?; .type == "Ready" and .reason != "NodeStatusNeverUpdated") '
    f'then "0s" else {_OVERRIDE} end'
)

# The four conditions a kubelet posts (no NetworkUnavailable: no route controller on EKS).
_NODE_CONDITIONS = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)

NODE_READY_TEMPLATE = "{{ $now := Now }}\nconditions:\n" + "".join(
    f"- type: {kind}\n  status: \"{status}\"\n  reason: {reason}\n  message: {message}\n"
    "  lastHeartbeatTime: {{ $now | Quote }}\n  lastTransitionTime: {{ $now | Quote }}\n"
    for kind, status, reason, message in _NODE_CONDITIONS
) + "phase: Running\n"

NODE_HEARTBEAT_TEMPLATE = "{{ $now := Now }}\nconditions:\n" + "".join(
    f"- type: {kind}\n  lastHeartbeatTime: {{{{ $now | Quote }}}}\n" for kind, *_ in _NODE_CONDITIONS
)

POD_RUNNING_TEMPLATE = """\
{{ $now := Now }}
conditions:
- type: PodReadyToStartContainers
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
- type: Initialized
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
- type: ContainersReady
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
- type: Ready
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
{{ range .spec.readinessGates }}
- type: {{ .conditionType | Quote }}
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
{{ end }}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  imageID: ""
  ready: true
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
{{ with .spec.initContainers }}
initContainerStatuses:
{{ range . }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  imageID: ""
  ready: true
  restartCount: 0
  {{ if eq .restartPolicy "Always" }}
  started: true
  state:
    running:
      startedAt: {{ $now | Quote }}
  {{ else }}
  started: false
  state:
    terminated:
      exitCode: 0
      reason: Completed
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
  {{ end }}
{{ end }}
{{ end }}
{{ with NodeIPsWith .spec.nodeName }}
hostIP: {{ index . 0 | Quote }}
hostIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
{{ with PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
podIP: {{ index . 0 | Quote }}
podIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
phase: Running
startTime: {{ $now | Quote }}
"""

# A Fargate pod has its node to itself and the node's address (its ENI's), as on EKS Fargate.
FARGATE_SCHEDULER = "fargate-scheduler"
POD_RUNNING_FARGATE_TEMPLATE = POD_RUNNING_TEMPLATE.replace(
    '{{ with PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) '
    '( or .metadata.name "" ) ( or .metadata.namespace "" ) }}',
    "{{ with NodeIPsWith .spec.nodeName }}",
)

POD_SUCCEEDED_TEMPLATE = """\
{{ $now := Now }}
conditions:
- type: Ready
  status: "False"
  reason: PodCompleted
  lastTransitionTime: {{ $now | Quote }}
- type: ContainersReady
  status: "False"
  reason: PodCompleted
  lastTransitionTime: {{ $now | Quote }}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  imageID: ""
  ready: false
  started: false
  restartCount: 0
  state:
    terminated:
      exitCode: 0
      reason: Completed
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
phase: Succeeded
"""


def kwok_stages(settings: KwokSettings) -> list[dict]:
    """The Stage objects kwok plays, built-ins first, ``extra_stages`` replacing built-ins of the same name."""
    not_deleted = {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"}
    stages = [
        _stage(
            "node-ready", "Node",
            # Only once Moorage has written the status (capacity etc.), so a node never goes Ready half-made.
            [{"key": _READY, "operator": "NotIn", "values": ["True"]},
             {"key": ".status.allocatable", "operator": "Exists"}],
            {"statusTemplate": NODE_READY_TEMPLATE},
            _delay(settings.node_startup_delay, settings.node_startup_jitter, _NODE_DELAY),
        ),
        _stage(
            "node-heartbeat", "Node",
            [{"key": _READY, "operator": "In", "values": ["True"]}],
            {"statusTemplate": NODE_HEARTBEAT_TEMPLATE},
            _delay(settings.node_status_update_seconds, settings.node_status_update_seconds * 0.1, None),
        ),
        # Pods on EC2 nodes get an address from their node's pod block; Fargate pods their node's own.
        *(
            _stage(
                name, "Pod",
                [not_deleted,
                 {"key": ".status.phase", "operator": "In", "values": ["Pending"]},
                 {"key": _READY, "operator": "NotIn", "values": ["True"]},
                 {"key": ".spec.schedulerName", "operator": fargate, "values": [FARGATE_SCHEDULER]}],
                {"statusTemplate": template},
                _delay(settings.pod_startup_delay, settings.pod_startup_jitter, _OVERRIDE),
            )
            for name, fargate, template in (
                ("pod-running", "NotIn", POD_RUNNING_TEMPLATE),
                ("pod-running-fargate", "In", POD_RUNNING_FARGATE_TEMPLATE),
            )
        ),
        _stage(
            "pod-job-succeeded", "Pod",
            [not_deleted,
             {"key": ".status.phase", "operator": "In", "values": ["Running"]},
             {"key": ".metadata.ownerReferences.[].kind", "operator": "In", "values": ["Job"]}],
            {"statusTemplate": POD_SUCCEEDED_TEMPLATE},
            _delay(settings.job_pod_run_time, 0.0, None),
        ),
        _stage(
            "pod-delete", "Pod",
            [{"key": ".metadata.deletionTimestamp", "operator": "Exists"}],
            {"delete": True},
            _delay(settings.pod_termination_delay, 0.0, None),
        ),
    ]
    extra = {stage["metadata"]["name"]: dict(stage) for stage in settings.extra_stages}
    stages = [extra.pop(stage["metadata"]["name"], stage) for stage in stages]
    return stages + list(extra.values())


def kwok_config(settings: KwokSettings) -> str:
    """The --config file: a KwokConfiguration and the stages, as JSON documents separated by '---'."""
    configuration = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokConfiguration",
        # kwok v0.8.0 applies its defaults only when no KwokConfiguration is given at all: a partial one leaves
        # the parallelism settings at 0 and kwok exits ("... parallelism must be greater than 0"). So every
        # defaulted option is spelled out, with kwok's default value except for the debugging handlers and
        # the parallelism: with kwok's 4 workers, 1,000 nodes' lease renewals (100/s) fell behind on a busy
        # 2-core machine and nodes went Unknown; 10,000 pods need more than 4 workers to start in time.
        "options": {
            "cidr": "10.0.0.0/24",  # only for nodes without podCIDRs; Moorage always sets them
            "manageAllNodes": False,
            "enableDebuggingHandlers": False,  # no logs/exec/attach/port-forward endpoints
            "enableProfilingHandler": False,
            "enableContentionProfiling": False,
            "podPlayStageParallelism": 16,
            "nodePlayStageParallelism": 16,
            "nodeLeaseParallelism": 32,
            "podsOnNodeSyncParallelism": 1,
            "enablePodsOnNodeSyncListPager": True,
            "enablePodsOnNodeSyncStreamWatch": False,
        },
    }
    documents = [configuration, *kwok_stages(settings)]
    return "".join("---\n" + json.dumps(doc, indent=1, sort_keys=True) + "\n" for doc in documents)
