"""resolveConflicts=PRESERVE's pruning: fields other managers own with other values leave the apply body."""

from moorage.controllers.addons import inputs_digest, workload_shortfall
from moorage.infra.kube import path_of
from moorage.infra.managed_fields import without_fields_of_others

BODY = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "coredns", "namespace": "kube-system", "labels": {"a": "1"}},
    "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "coredns", "image": "new", "args": ["-conf"]}]}}},
}


def live(managed: list[dict], replicas: int = 5, image: str = "mine") -> dict:
    return {"metadata": {"managedFields": managed, "labels": {"a": "1"}},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "coredns", "image": image}]}}}}


def test_fields_another_manager_changed_are_left_out():
    edit = {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {
        "f:metadata": {"f:labels": {"f:a": {}}},
        "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {'k:{"name":"coredns"}': {".": {}, "f:image": {}}}}}}}}
    pruned = without_fields_of_others(BODY, live([edit]), "eks")
    assert "replicas" not in pruned["spec"]  # 5, the user's value, is kept
    (container,) = pruned["spec"]["template"]["spec"]["containers"]
    assert container == {"name": "coredns", "args": ["-conf"]}  # the merge key stays, the user's image is kept
    assert pruned["metadata"] == {"name": "coredns", "namespace": "kube-system", "labels": {"a": "1"}}  # same value: shared
    assert BODY["spec"]["replicas"] == 2  # the body itself is not changed


def test_own_fields_status_and_new_objects_are_untouched():
    ours = {"manager": "eks", "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
    status = {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
    assert without_fields_of_others(BODY, live([ours, status]), "eks") == BODY
    assert without_fields_of_others(BODY, None, "eks") == BODY


def test_paths_by_kind():
    assert path_of(BODY) == "/apis/apps/v1/namespaces/kube-system/deployments/coredns"
    assert path_of({"apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver", "name": "ebs.csi.aws.com"}) == \
        "/apis/storage.k8s.io/v1/csidrivers/ebs.csi.aws.com"


def test_workload_readiness():
    deployment = {"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 3},
                  "status": {"observedGeneration": 2, "readyReplicas": 3, "updatedReplicas": 3}}
    assert workload_shortfall(deployment) is None
    assert workload_shortfall({**deployment, "status": {"observedGeneration": 2, "readyReplicas": 1, "updatedReplicas": 3}}) == "1 of 3 replicas ready"
    assert workload_shortfall({**deployment, "status": {"observedGeneration": 1}}) == "not yet observed by its controller"
    empty = {"kind": "DaemonSet", "metadata": {"generation": 1}, "status": {"observedGeneration": 1, "desiredNumberScheduled": 0}}
    assert workload_shortfall(empty) is None  # no nodes: nothing to run
    assert inputs_digest({"addonVersion": "v1", "_pendingUpdate": "a"}) != inputs_digest({"addonVersion": "v1", "_pendingUpdate": "b"})
