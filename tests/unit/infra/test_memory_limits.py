"""The soft heap limits (GOMEMLIMIT) of the Go processes must stay above what they use at the scale Moorage
promises (1,000 nodes, 10,000 pods). A limit the heap reaches makes Go's GC run almost without pause: at 1 GiB,
kube-apiserver's heap (about 1.4 GiB RSS with 10,000 pods) kept it collecting and pods started up to twice as
slowly (docs/benchmarks.md)."""

import re

import pytest

from moorage.infra.controlplane import GO_MEMORY_LIMITS
from moorage.infra.nodes.kwok_stages import KwokSettings

UNITS = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def limit_bytes(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(KiB|MiB|GiB)", value).groups()
    return int(number) * UNITS[unit]


# RSS measured at the end of `bench/nodegroup_scale.py --nodes 1000 --groups 3 --pods 10000`, with headroom.
@pytest.mark.parametrize("component, measured_mib", [
    ("kube-apiserver", 1400),
    ("kube-controller-manager", 320),
    ("kube-scheduler", 230),
])
def test_control_plane_heap_limits_leave_room_for_ten_thousand_pods(component, measured_mib):
    assert limit_bytes(GO_MEMORY_LIMITS[component]) >= 1.5 * measured_mib * 2**20


def test_kwok_heap_limit_leaves_room_for_a_thousand_nodes():
    assert limit_bytes(KwokSettings().memory_limit) >= 1.5 * 150 * 2**20
