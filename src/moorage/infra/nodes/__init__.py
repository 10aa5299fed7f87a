"""Node backends: turn node specs into Kubernetes nodes of a tenant cluster.

``backend`` holds the contract (:class:`NodeBackend`, :class:`NodeSpec`, :class:`ClusterContext`); ``kwok`` the
simulated implementation (kwok plays the kubelets). A real-kubelet backend can sit next to it later.
"""

from .backend import ClusterContext, NodeBackend, NodeSpec, node_ready, pod_cidr_block
from .kwok import KwokNodeBackend, KwokSettings

__all__ = ["ClusterContext", "KwokNodeBackend", "KwokSettings", "NodeBackend", "NodeSpec", "node_ready", "pod_cidr_block"]
