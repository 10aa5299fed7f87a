"""EKS add-ons end to end: boto3 and its waiters against a real cluster with kwok-simulated nodes, the
objects checked with kubectl (server-side apply as field manager eks, resolveConflicts, preserve), and
the self-managed vpc-cni, CoreDNS and kube-proxy a new cluster gets."""

import json
import signal
import subprocess
import sys
import time

import botocore.exceptions
import pytest

from ..conftest import ACCOUNT_ID, kill_leftovers, start_moorage

pytestmark = pytest.mark.toolchain

ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-cluster"
NODE_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-node"
FAST = {"Delay": 1, "MaxAttempts": 120}
VERSION = "1.37"
READY_TIMEOUT = 15


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, kubectl):
    root = tmp_path_factory.mktemp("addons")
    moorage = start_moorage(root / "data", extra_env={"MOORAGE_ADDON_READY_TIMEOUT": str(READY_TIMEOUT)})
    try:
        eks = moorage.client("eks")
        subnets = sorted(moorage.client("ec2").describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])[:2]
        subnet_ids = [s["SubnetId"] for s in subnets]
        eks.create_cluster(name="addons", version=VERSION, roleArn=ROLE, resourcesVpcConfig={"subnetIds": subnet_ids})
        eks.get_waiter("cluster_active").wait(name="addons", WaiterConfig=FAST)
        eks.create_nodegroup(clusterName="addons", nodegroupName="ng1", nodeRole=NODE_ROLE, subnets=subnet_ids,
                             scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 2})
        eks.get_waiter("nodegroup_active").wait(clusterName="addons", nodegroupName="ng1", WaiterConfig=FAST)
        env = {**moorage.env(), "KUBECONFIG": str(root / "kubeconfig")}
        subprocess.run([sys.executable, "-m", "awscli", "eks", "update-kubeconfig", "--name", "addons"], env=env, check=True,
                       capture_output=True)
        yield moorage, eks, env, subnet_ids
    finally:
        moorage.stop()
        kill_leftovers(root)


def kube(kubectl, env, *args, check=True) -> dict | None:
    result = subprocess.run([kubectl, *args, "-o", "json", "--show-managed-fields"], env=env, capture_output=True, text=True, timeout=60)
    if not check and result.returncode != 0:
        return None
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def wait_for(predicate, timeout=90, interval=0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(interval)


def wait_status(eks, name, wanted, timeout=90):
    return wait_for(lambda: (a := eks.describe_addon(clusterName="addons", addonName=name)["addon"])["status"] in wanted and a,
                    timeout=timeout)


def managers(obj: dict) -> set[str]:
    return {entry["manager"] for entry in obj["metadata"].get("managedFields", [])}


def test_bootstrap_installs_self_managed_addons_that_list_addons_does_not_show(cluster, kubectl):
    _, eks, env, _ = cluster
    for kind, name in (("daemonset", "aws-node"), ("daemonset", "kube-proxy"), ("deployment", "coredns"), ("service", "kube-dns")):
        obj = wait_for(lambda: kube(kubectl, env, "-n", "kube-system", "get", kind, name, check=False))
        assert "eks-bootstrap" in managers(obj)
    assert eks.list_addons(clusterName="addons")["addons"] == []
    coredns = kube(kubectl, env, "-n", "kube-system", "get", "deployment", "coredns")
    assert coredns["spec"]["replicas"] == 2


def test_describe_addon_versions_and_configuration(cluster):
    _, eks, _, _ = cluster
    infos = {a["addonName"]: a for a in eks.describe_addon_versions(kubernetesVersion=VERSION)["addons"]}
    assert {"vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver", "snapshot-controller"} <= set(infos)
    default = [v["addonVersion"] for v in infos["coredns"]["addonVersions"] if v["compatibilities"][0]["defaultVersion"]]
    assert default == ["v1.14.3-eksbuild.3"]
    schema = json.loads(eks.describe_addon_configuration(addonName="coredns", addonVersion="v1.14.3-eksbuild.3")["configurationSchema"])
    assert schema["properties"]["replicaCount"]["type"] == "integer"


def test_bad_inputs_are_eks_errors(cluster):
    _, eks, _, _ = cluster

    def error(**params):
        with pytest.raises(botocore.exceptions.ClientError) as raised:
            eks.create_addon(clusterName="addons", **params)
        return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"], \
            raised.value.response["ResponseMetadata"]["HTTPStatusCode"]

    assert error(addonName="no-such-addon") == ("InvalidParameterException", "Addon specified is not supported", 400)
    assert error(addonName="coredns", addonVersion="v1.13.2-eksbuild.11") == (
        "InvalidParameterException", f"Addon version specified is not supported for cluster version {VERSION}", 400)
    code, message, status = error(addonName="coredns", configurationValues='{"podAnnotations2": {}}')
    assert (code, status) == ("InvalidParameterException", 400)
    assert message == ("ConfigurationValue provided in request is not supported: Json schema validation failed with error: "
                       "[$.podAnnotations2: is not defined in the schema and the schema does not allow additional properties]")
    assert error(addonName="metrics-server")[0] == "InvalidParameterException"
    with pytest.raises(botocore.exceptions.ClientError) as missing:
        eks.describe_addon(clusterName="addons", addonName="vpc-cni")
    assert missing.value.response["Error"]["Message"] == "No addon: vpc-cni found in cluster: addons"


def test_coredns_lifecycle_with_conflicts_and_preserve(cluster, kubectl):
    _, eks, env, _ = cluster
    wait_for(lambda: kube(kubectl, env, "-n", "kube-system", "get", "deployment", "coredns", check=False))
    # The self-managed copy has 2 replicas: NONE refuses to take spec.replicas from its manager.
    eks.create_addon(clusterName="addons", addonName="coredns", configurationValues='{"replicaCount":3}')
    failed = wait_status(eks, "coredns", {"CREATE_FAILED", "ACTIVE"})
    assert failed["status"] == "CREATE_FAILED"
    assert failed["health"]["issues"][0]["code"] == "ConfigurationConflict"
    eks.delete_addon(clusterName="addons", addonName="coredns", preserve=True)
    eks.get_waiter("addon_deleted").wait(clusterName="addons", addonName="coredns", WaiterConfig=FAST)

    eks.create_addon(clusterName="addons", addonName="coredns", configurationValues='{"replicaCount":3}',
                     resolveConflicts="OVERWRITE", tags={"team": "dns"})
    eks.get_waiter("addon_active").wait(clusterName="addons", addonName="coredns", WaiterConfig=FAST)
    addon = eks.describe_addon(clusterName="addons", addonName="coredns")["addon"]
    assert addon["tags"] == {"team": "dns"} and addon["configurationValues"] == '{"replicaCount":3}'
    assert eks.list_tags_for_resource(resourceArn=addon["addonArn"])["tags"] == {"team": "dns"}
    assert eks.list_addons(clusterName="addons")["addons"] == ["coredns"]
    deployment = kube(kubectl, env, "-n", "kube-system", "get", "deployment", "coredns")
    assert deployment["spec"]["replicas"] == 3 and deployment["status"]["readyReplicas"] == 3
    assert "eks" in managers(deployment)

    # A user scales it: NONE then fails the update on that field, PRESERVE keeps the user's value.
    subprocess.run([kubectl, "-n", "kube-system", "scale", "deployment", "coredns", "--replicas=5"], env=env, check=True, capture_output=True)
    update = eks.update_addon(clusterName="addons", addonName="coredns", configurationValues='{"replicaCount":4}')["update"]
    assert update["type"] == "AddonUpdate"
    assert wait_status(eks, "coredns", {"UPDATE_FAILED", "ACTIVE"})["status"] == "UPDATE_FAILED"
    described = eks.describe_update(name="addons", updateId=update["id"], addonName="coredns")["update"]
    assert described["status"] == "Failed" and described["errors"][0]["errorCode"] == "ConfigurationConflict"
    update = eks.update_addon(clusterName="addons", addonName="coredns", configurationValues='{"replicaCount":4}',
                              resolveConflicts="PRESERVE")["update"]
    eks.get_waiter("addon_active").wait(clusterName="addons", addonName="coredns", WaiterConfig=FAST)
    assert eks.describe_update(name="addons", updateId=update["id"], addonName="coredns")["update"]["status"] == "Successful"
    assert kube(kubectl, env, "-n", "kube-system", "get", "deployment", "coredns")["spec"]["replicas"] == 5
    update = eks.update_addon(clusterName="addons", addonName="coredns", addonVersion="v1.14.2-eksbuild.4",
                              resolveConflicts="OVERWRITE")["update"]
    wait_for(lambda: eks.describe_update(name="addons", updateId=update["id"], addonName="coredns")["update"]["status"] == "Successful")
    deployment = kube(kubectl, env, "-n", "kube-system", "get", "deployment", "coredns")
    assert deployment["spec"]["replicas"] == 4
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith("/eks/coredns:v1.14.2-eksbuild.4")
    assert update["id"] in eks.list_updates(name="addons", addonName="coredns")["updateIds"]
    assert update["id"] not in eks.list_updates(name="addons")["updateIds"]

    # preserve: EKS stops managing it, the objects stay.
    eks.delete_addon(clusterName="addons", addonName="coredns", preserve=True)
    eks.get_waiter("addon_deleted").wait(clusterName="addons", addonName="coredns", WaiterConfig=FAST)
    assert kube(kubectl, env, "-n", "kube-system", "get", "deployment", "coredns")["spec"]["replicas"] == 4


def test_addon_without_preserve_removes_its_objects(cluster, kubectl):
    _, eks, env, _ = cluster
    eks.create_addon(clusterName="addons", addonName="snapshot-controller", configurationValues='{"replicaCount":1}')
    eks.get_waiter("addon_active").wait(clusterName="addons", addonName="snapshot-controller", WaiterConfig=FAST)
    assert kube(kubectl, env, "get", "crd", "volumesnapshots.snapshot.storage.k8s.io")["spec"]["group"] == "snapshot.storage.k8s.io"
    assert kube(kubectl, env, "-n", "kube-system", "get", "deployment", "snapshot-controller")["spec"]["replicas"] == 1
    eks.delete_addon(clusterName="addons", addonName="snapshot-controller")
    eks.get_waiter("addon_deleted").wait(clusterName="addons", addonName="snapshot-controller", WaiterConfig=FAST)
    wait_for(lambda: kube(kubectl, env, "-n", "kube-system", "get", "deployment", "snapshot-controller", check=False) is None)


def test_irsa_role_annotates_the_service_account(cluster, kubectl):
    _, eks, env, _ = cluster
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/ebs-csi"
    eks.create_addon(clusterName="addons", addonName="aws-ebs-csi-driver", serviceAccountRoleArn=role)
    eks.get_waiter("addon_active").wait(clusterName="addons", addonName="aws-ebs-csi-driver", WaiterConfig=FAST)
    account = kube(kubectl, env, "-n", "kube-system", "get", "serviceaccount", "ebs-csi-controller-sa")
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == role
    assert kube(kubectl, env, "get", "csidriver", "ebs.csi.aws.com")["spec"]["attachRequired"] is True
    node = kube(kubectl, env, "-n", "kube-system", "get", "daemonset", "ebs-csi-node")
    assert node["status"]["numberReady"] == 2  # one per node of ng1


def test_no_bootstrap_when_asked_not_to(cluster, kubectl, tmp_path):
    moorage, eks, env, subnet_ids = cluster
    eks.create_cluster(name="bare", version=VERSION, roleArn=ROLE, resourcesVpcConfig={"subnetIds": subnet_ids},
                       bootstrapSelfManagedAddons=False)
    try:
        eks.get_waiter("cluster_active").wait(name="bare", WaiterConfig=FAST)
        bare_env = {**env, "KUBECONFIG": str(tmp_path / "bare")}
        subprocess.run([sys.executable, "-m", "awscli", "eks", "update-kubeconfig", "--name", "bare"], env=bare_env, check=True,
                       capture_output=True)
        time.sleep(3)
        names = {d["metadata"]["name"] for d in kube(kubectl, bare_env, "-n", "kube-system", "get", "daemonsets,deployments")["items"]}
        assert names == set()
        # No nodes: a Deployment-based add-on cannot get its replicas, and says so.
        eks.create_addon(clusterName="bare", addonName="snapshot-controller")
        with pytest.raises(botocore.exceptions.WaiterError):
            eks.get_waiter("addon_active").wait(clusterName="bare", addonName="snapshot-controller", WaiterConfig=FAST)
        addon = eks.describe_addon(clusterName="bare", addonName="snapshot-controller")["addon"]
        assert addon["status"] == "DEGRADED"
        assert addon["health"]["issues"] == [{
            "code": "InsufficientNumberOfReplicas", "resourceIds": ["snapshot-controller"],
            "message": "The add-on is unhealthy because it doesn't have the desired number of replicas."}]
    finally:
        eks.delete_cluster(name="bare")
        eks.get_waiter("cluster_deleted").wait(name="bare", WaiterConfig=FAST)


def test_addon_asked_for_at_cluster_creation_is_not_overlaid_by_the_bootstrap(cluster, kubectl, tmp_path):
    _, eks, env, subnet_ids = cluster
    eks.create_cluster(name="early", version=VERSION, roleArn=ROLE, resourcesVpcConfig={"subnetIds": subnet_ids})
    try:
        eks.create_addon(clusterName="early", addonName="coredns", configurationValues='{"replicaCount":1}')  # cluster CREATING
        eks.get_waiter("cluster_active").wait(name="early", WaiterConfig=FAST)
        early_env = {**env, "KUBECONFIG": str(tmp_path / "early")}
        subprocess.run([sys.executable, "-m", "awscli", "eks", "update-kubeconfig", "--name", "early"], env=early_env, check=True,
                       capture_output=True)
        aws_node = wait_for(lambda: kube(kubectl, early_env, "-n", "kube-system", "get", "daemonset", "aws-node", check=False))
        assert "eks-bootstrap" in managers(aws_node)  # the other self-managed add-ons still come
        deployment = wait_for(lambda: kube(kubectl, early_env, "-n", "kube-system", "get", "deployment", "coredns", check=False))
        assert managers(deployment) & {"eks", "eks-bootstrap"} == {"eks"}
        time.sleep(2)
        assert kube(kubectl, early_env, "-n", "kube-system", "get", "deployment", "coredns")["spec"]["replicas"] == 1
    finally:
        eks.delete_cluster(name="early")
        eks.get_waiter("cluster_deleted").wait(name="early", WaiterConfig=FAST)
    assert wait_for(lambda: "early" not in eks.list_clusters()["clusters"])


def test_sigkill_during_create_then_restart_finishes_it(cluster, kubectl):
    """The reconciler re-runs from the record: an add-on whose apply was cut by SIGKILL gets ACTIVE after a
    restart, and the self-managed bootstrap, done once per cluster, does not come back."""
    moorage, eks, env, _ = cluster
    subprocess.run([kubectl, "-n", "kube-system", "delete", "daemonset", "aws-node"], env=env, check=True, capture_output=True)
    eks.create_addon(clusterName="addons", addonName="aws-efs-csi-driver")
    time.sleep(0.2)  # mid-apply
    moorage.stop(signal.SIGKILL)
    restarted = start_moorage(moorage.data_dir, port=moorage.port, extra_env={"MOORAGE_ADDON_READY_TIMEOUT": str(READY_TIMEOUT)})
    try:
        eks = restarted.client("eks")
        eks.get_waiter("addon_active").wait(clusterName="addons", addonName="aws-efs-csi-driver", WaiterConfig=FAST)
        controller = kube(kubectl, env, "-n", "kube-system", "get", "deployment", "efs-csi-controller")
        assert controller["status"]["readyReplicas"] == 2 and "eks" in managers(controller)
        assert kube(kubectl, env, "-n", "kube-system", "get", "daemonset", "aws-node", check=False) is None
    finally:
        restarted.stop()
