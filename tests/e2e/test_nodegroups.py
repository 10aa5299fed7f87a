"""Managed node groups: kwok-simulated EC2 nodes in a real cluster, driven by the AWS CLI, boto3 and kubectl."""

import ipaddress
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
FAST = {"Delay": 1, "MaxAttempts": 180}


@pytest.fixture
def cluster(tmp_path, kubectl):
    # The bootstrapped CoreDNS has a PodDisruptionBudget, so deleting the last node group waits for the
    # node-drain timeout (EKS: 5 minutes) before it terminates the nodes anyway; 5 s here.
    moorage = start_moorage(tmp_path / "data", extra_env={"MOORAGE_NODE_DRAIN_TIMEOUT": "5"})
    try:
        eks = moorage.client("eks")
        subnets = sorted(moorage.client("ec2").describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])[:3]
        eks.create_cluster(name="compute", roleArn=ROLE, resourcesVpcConfig={"subnetIds": [s["SubnetId"] for s in subnets[:2]]})
        eks.get_waiter("cluster_active").wait(name="compute", WaiterConfig=FAST)
        env = {**moorage.env(), "KUBECONFIG": str(tmp_path / "kubeconfig")}
        subprocess.run([sys.executable, "-m", "awscli", "eks", "update-kubeconfig", "--name", "compute"], env=env, check=True, capture_output=True)
        yield moorage, eks, subnets, env
    finally:
        moorage.stop()
        kill_leftovers(tmp_path)


def kubectl_json(kubectl, env, *args) -> dict:
    result = subprocess.run([kubectl, *args, "-o", "json"], env=env, capture_output=True, text=True, timeout=60)
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


def test_node_group_lifecycle(cluster, kubectl):
    moorage, eks, subnets, env = cluster
    created = subprocess.run(
        [
            sys.executable, "-m", "awscli", "eks", "create-nodegroup", "--cluster-name", "compute", "--nodegroup-name", "ng1",
            "--scaling-config", "minSize=1,maxSize=10,desiredSize=3", "--instance-types", "m5.large",
            "--subnets", *[s["SubnetId"] for s in subnets], "--node-role", NODE_ROLE, "--labels", "team=web",
        ],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["nodegroup"]["status"] == "CREATING"
    eks.get_waiter("nodegroup_active").wait(clusterName="compute", nodegroupName="ng1", WaiterConfig=FAST)
    group = eks.describe_nodegroup(clusterName="compute", nodegroupName="ng1")["nodegroup"]
    assert group["status"] == "ACTIVE" and group["amiType"] == "AL2023_x86_64_STANDARD"
    assert group["resources"]["autoScalingGroups"][0]["name"].startswith("eks-ng1-")
    assert eks.list_nodegroups(clusterName="compute")["nodegroups"] == ["ng1"]

    nodes = kubectl_json(kubectl, env, "get", "nodes")["items"]
    assert len(nodes) == 3
    zones = {n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes}
    assert zones == {s["AvailabilityZone"] for s in subnets}  # spread evenly over the subnets' zones
    for node in nodes:
        labels = node["metadata"]["labels"]
        assert labels["eks.amazonaws.com/nodegroup"] == "ng1"
        assert labels["eks.amazonaws.com/capacityType"] == "ON_DEMAND"
        assert labels["node.kubernetes.io/instance-type"] == "m5.large"
        assert labels["team"] == "web"
        assert node["metadata"]["name"].endswith(".us-west-2.compute.internal")
        assert node["spec"]["providerID"].startswith(f"aws:///{labels['topology.kubernetes.io/zone']}/i-")
        assert node["status"]["capacity"]["pods"] == "29"
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])

    # EC2 and Auto Scaling show the instances and the group behind the node group.
    ec2 = moorage.client("ec2")
    reservations = ec2.describe_instances(Filters=[{"Name": "tag:eks:nodegroup-name", "Values": ["ng1"]}])["Reservations"]
    described = [i for r in reservations for i in r["Instances"]]
    assert sorted(i["PrivateDnsName"] for i in described) == sorted(n["metadata"]["name"] for n in nodes)
    assert {i["InstanceId"] for i in described} == {n["spec"]["providerID"].rsplit("/", 1)[1] for n in nodes}
    assert all(i["State"]["Name"] == "running" and i["InstanceType"] == "m5.large" for i in described)
    one = described[0]["InstanceId"]
    assert [i["InstanceId"] for r in ec2.describe_instances(InstanceIds=[one])["Reservations"] for i in r["Instances"]] == [one]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.describe_instances(InstanceIds=["i-0123456789abcdef0"])
    assert excinfo.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"
    (asg,) = moorage.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[group["resources"]["autoScalingGroups"][0]["name"]]
    )["AutoScalingGroups"]
    assert (asg["MinSize"], asg["MaxSize"], asg["DesiredCapacity"]) == (1, 10, 3)
    assert {i["InstanceId"] for i in asg["Instances"]} == {i["InstanceId"] for i in described}
    assert {"Key": "eks:nodegroup-name", "Value": "ng1"} in [{"Key": t["Key"], "Value": t["Value"]} for t in asg["Tags"]]

    # The real scheduler places 20 pods; kwok makes them Running with addresses from the subnets.
    assert subprocess.run([kubectl, "create", "deployment", "web", "--image=nginx", "--replicas=20"], env=env, capture_output=True).returncode == 0
    running = wait_for(
        lambda: [p for p in kubectl_json(kubectl, env, "get", "pods", "-l", "app=web")["items"] if p["status"].get("phase") == "Running" and p["status"].get("podIP")]
        if len([p for p in kubectl_json(kubectl, env, "get", "pods", "-l", "app=web")["items"] if p["status"].get("phase") == "Running"]) == 20 else None
    )
    networks = [ipaddress.ip_network(s["CidrBlock"]) for s in subnets]
    for pod in running:
        assert any(ipaddress.ip_address(pod["status"]["podIP"]) in network for network in networks)

    # Scale in: nodes are drained (their pods rescheduled) and removed.
    update = eks.update_nodegroup_config(clusterName="compute", nodegroupName="ng1", scalingConfig={"desiredSize": 1})["update"]
    wait_for(lambda: len(kubectl_json(kubectl, env, "get", "nodes")["items"]) == 1)
    wait_for(lambda: eks.describe_update(name="compute", nodegroupName="ng1", updateId=update["id"])["update"]["status"] == "Successful")
    wait_for(lambda: len([p for p in kubectl_json(kubectl, env, "get", "pods", "-l", "app=web")["items"] if p["status"].get("phase") == "Running"]) == 20)

    with pytest.raises(eks.exceptions.ResourceInUseException):
        eks.delete_cluster(name="compute")
    eks.delete_nodegroup(clusterName="compute", nodegroupName="ng1")
    eks.get_waiter("nodegroup_deleted").wait(clusterName="compute", nodegroupName="ng1", WaiterConfig=FAST)
    assert kubectl_json(kubectl, env, "get", "nodes")["items"] == []


BAD_SCALING = [
    ({"minSize": 3, "maxSize": 2, "desiredSize": 2}, "minSize can't be greater than maxSize"),
    ({"minSize": 1, "maxSize": 2, "desiredSize": 3}, "desiredSize can't be greater than maxSize"),
    ({"minSize": 2, "maxSize": 5, "desiredSize": 1}, "minSize can't be greater than desiredSize"),
    ({"minSize": 1, "maxSize": 451, "desiredSize": 1}, "maxSize can't be greater than 450"),
]


def test_bad_node_group_input(cluster):
    moorage, eks, subnets, env = cluster
    for scaling, message in BAD_SCALING:
        with pytest.raises(eks.exceptions.InvalidParameterException) as excinfo:
            eks.create_nodegroup(clusterName="compute", nodegroupName="bad", scalingConfig=scaling, subnets=[subnets[0]["SubnetId"]], nodeRole=NODE_ROLE)
        assert excinfo.value.response["Error"]["Message"] == message
    with pytest.raises(eks.exceptions.InvalidParameterException):
        eks.create_nodegroup(clusterName="compute", nodegroupName="bad", instanceTypes=["m5.huge"], subnets=[subnets[0]["SubnetId"]], nodeRole=NODE_ROLE)
    with pytest.raises(eks.exceptions.ResourceNotFoundException):
        eks.create_nodegroup(clusterName="missing", nodegroupName="bad", subnets=[subnets[0]["SubnetId"]], nodeRole=NODE_ROLE)
    with pytest.raises(eks.exceptions.ResourceNotFoundException):
        eks.describe_nodegroup(clusterName="compute", nodegroupName="nope")


def test_sigkill_while_scaling_converges_without_duplicates(tmp_path, kubectl):
    moorage = start_moorage(tmp_path / "data")
    try:
        eks = moorage.client("eks")
        subnets = sorted(moorage.client("ec2").describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])[:3]
        eks.create_cluster(name="crash", roleArn=ROLE, resourcesVpcConfig={"subnetIds": [s["SubnetId"] for s in subnets[:2]]})
        eks.get_waiter("cluster_active").wait(name="crash", WaiterConfig=FAST)
        eks.create_nodegroup(
            clusterName="crash", nodegroupName="ng", subnets=[s["SubnetId"] for s in subnets], nodeRole=NODE_ROLE,
            scalingConfig={"minSize": 1, "maxSize": 20, "desiredSize": 2},
        )
        eks.get_waiter("nodegroup_active").wait(clusterName="crash", nodegroupName="ng", WaiterConfig=FAST)
        eks.update_nodegroup_config(clusterName="crash", nodegroupName="ng", scalingConfig={"desiredSize": 12})
        time.sleep(0.3)  # mid-scale
        moorage.stop(signal.SIGKILL)
        moorage = start_moorage(tmp_path / "data", port=moorage.port)
        eks = moorage.client("eks")
        wait_for(lambda: eks.describe_nodegroup(clusterName="crash", nodegroupName="ng")["nodegroup"]["status"] == "ACTIVE")
        env = {**moorage.env(), "KUBECONFIG": str(tmp_path / "kubeconfig")}
        subprocess.run([sys.executable, "-m", "awscli", "eks", "update-kubeconfig", "--name", "crash"], env=env, check=True, capture_output=True)
        nodes = kubectl_json(kubectl, env, "get", "nodes")["items"]
        assert len(nodes) == 12
        instance_ids = [n["spec"]["providerID"].rsplit("/", 1)[1] for n in nodes]
        addresses = [n["status"]["addresses"][0]["address"] for n in nodes]
        assert len(set(instance_ids)) == 12 and len(set(addresses)) == 12
    finally:
        moorage.stop()
        kill_leftovers(tmp_path)


def test_disruption_budget_holds_a_drain_and_taints_reach_nodes(cluster, kubectl):
    moorage, eks, subnets, env = cluster
    eks.create_nodegroup(
        clusterName="compute", nodegroupName="guarded", subnets=[s["SubnetId"] for s in subnets[:2]], nodeRole=NODE_ROLE,
        scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 2}, instanceTypes=["m5.large"],
    )
    eks.get_waiter("nodegroup_active").wait(clusterName="compute", nodegroupName="guarded", WaiterConfig=FAST)

    def kubectl_ok(*args):
        result = subprocess.run([kubectl, *args], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr

    # One pod per node, and a budget that allows no disruption: scale-in must wait for it.
    kubectl_ok("create", "deployment", "db", "--image=nginx", "--replicas=2")
    kubectl_ok("patch", "deployment", "db", "--type=merge", "-p", json.dumps({"spec": {"template": {"spec": {"affinity": {
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}]}}}}}}))
    kubectl_ok("create", "poddisruptionbudget", "db", "--selector=app=db", "--min-available=2")
    wait_for(lambda: len([p for p in kubectl_json(kubectl, env, "get", "pods", "-l", "app=db")["items"]
                          if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]) == 2)
    update = eks.update_nodegroup_config(clusterName="compute", nodegroupName="guarded", scalingConfig={"desiredSize": 1})["update"]
    cordoned = wait_for(lambda: [n for n in kubectl_json(kubectl, env, "get", "nodes")["items"] if n["spec"].get("unschedulable")])
    time.sleep(5)  # several eviction attempts, each answered 429 by the budget
    nodes = kubectl_json(kubectl, env, "get", "nodes")["items"]
    assert len(nodes) == 2 and cordoned[0]["metadata"]["name"] in {n["metadata"]["name"] for n in nodes}
    assert eks.describe_update(name="compute", nodegroupName="guarded", updateId=update["id"])["update"]["status"] == "InProgress"
    kubectl_ok("delete", "poddisruptionbudget", "db")
    wait_for(lambda: len(kubectl_json(kubectl, env, "get", "nodes")["items"]) == 1)
    wait_for(lambda: eks.describe_update(name="compute", nodegroupName="guarded", updateId=update["id"])["update"]["status"] == "Successful")

    # Taints added and removed through UpdateNodegroupConfig reach the node.
    eks.update_nodegroup_config(clusterName="compute", nodegroupName="guarded", taints={
        "addOrUpdateTaints": [{"key": "dedicated", "value": "db", "effect": "NO_SCHEDULE"}]})
    wait_for(lambda: [t for n in kubectl_json(kubectl, env, "get", "nodes")["items"] for t in n["spec"].get("taints") or []]
             == [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])
    assert eks.describe_nodegroup(clusterName="compute", nodegroupName="guarded")["nodegroup"]["taints"] == [
        {"key": "dedicated", "value": "db", "effect": "NO_SCHEDULE"}]
    eks.update_nodegroup_config(clusterName="compute", nodegroupName="guarded", taints={
        "removeTaints": [{"key": "dedicated", "value": "db", "effect": "NO_SCHEDULE"}]})
    wait_for(lambda: not [t for n in kubectl_json(kubectl, env, "get", "nodes")["items"] for t in n["spec"].get("taints") or []])


def test_node_and_pod_startup_delays_are_configurable(tmp_path, kubectl):
    moorage = start_moorage(tmp_path / "data", extra_env={"MOORAGE_NODE_STARTUP_DELAY": "4", "MOORAGE_POD_STARTUP_DELAY": "3"})
    try:
        eks = moorage.client("eks")
        subnets = [s["SubnetId"] for s in sorted(moorage.client("ec2").describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])[:2]]
        eks.create_cluster(name="slow", roleArn=ROLE, resourcesVpcConfig={"subnetIds": subnets})
        eks.get_waiter("cluster_active").wait(name="slow", WaiterConfig=FAST)
        env = {**moorage.env(), "KUBECONFIG": str(tmp_path / "kubeconfig")}
        subprocess.run([sys.executable, "-m", "awscli", "eks", "update-kubeconfig", "--name", "slow"], env=env, check=True, capture_output=True)
        started = time.monotonic()
        eks.create_nodegroup(clusterName="slow", nodegroupName="ng", subnets=subnets, nodeRole=NODE_ROLE,
                             scalingConfig={"minSize": 1, "maxSize": 1, "desiredSize": 1})
        eks.get_waiter("nodegroup_active").wait(clusterName="slow", nodegroupName="ng", WaiterConfig=FAST)
        assert time.monotonic() - started >= 4  # Ready only after the node start-up delay
        subprocess.run([kubectl, "run", "one", "--image=nginx"], env=env, check=True, capture_output=True)
        bound = wait_for(lambda: kubectl_json(kubectl, env, "get", "pod", "one")["spec"].get("nodeName"))
        assert bound
        bound_at = time.monotonic()
        wait_for(lambda: kubectl_json(kubectl, env, "get", "pod", "one")["status"].get("phase") == "Running")
        assert time.monotonic() - bound_at >= 2  # about the pod start-up delay (3 s) after binding
    finally:
        moorage.stop()
        kill_leftovers(tmp_path)


def test_terminated_node_group_instance_is_replaced(cluster, kubectl):
    moorage, eks, subnets, env = cluster
    eks.create_nodegroup(clusterName="compute", nodegroupName="asg", subnets=[subnets[0]["SubnetId"]], nodeRole=NODE_ROLE,
                         scalingConfig={"minSize": 1, "maxSize": 2, "desiredSize": 1}, instanceTypes=["m5.large"])
    eks.get_waiter("nodegroup_active").wait(clusterName="compute", nodegroupName="asg", WaiterConfig=FAST)
    ec2 = moorage.client("ec2")
    (before,) = [i for r in ec2.describe_instances(Filters=[{"Name": "tag:eks:nodegroup-name", "Values": ["asg"]}])["Reservations"]
                 for i in r["Instances"]]
    ec2.create_tags(Resources=[before["InstanceId"]], Tags=[{"Key": "owner", "Value": "ops"}])
    (tagged,) = [i for r in ec2.describe_instances(InstanceIds=[before["InstanceId"]])["Reservations"] for i in r["Instances"]]
    assert {"Key": "owner", "Value": "ops"} in tagged["Tags"] and {"Key": "eks:nodegroup-name", "Value": "asg"} in tagged["Tags"]
    (change,) = ec2.terminate_instances(InstanceIds=[before["InstanceId"]])["TerminatingInstances"]
    assert (change["PreviousState"]["Name"], change["CurrentState"]["Name"]) == ("running", "shutting-down")

    def replaced():
        nodes = kubectl_json(kubectl, env, "get", "nodes")["items"]
        ready = [n for n in nodes if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])]
        # The replacement may get the freed address (and so the node name) again; its instance id is new.
        return ready if len(nodes) == 1 and ready and not ready[0]["spec"]["providerID"].endswith(before["InstanceId"]) else None

    wait_for(replaced)  # as an Auto Scaling group does: the instance goes and a new one takes its place
    group = eks.describe_nodegroup(clusterName="compute", nodegroupName="asg")["nodegroup"]
    assert group["status"] == "ACTIVE" and group["scalingConfig"]["desiredSize"] == 1


def test_node_group_tags_by_arn_as_tools_reconcile_them(cluster):
    """Tag tools call ListTagsForResource with the node group's ARN, then Tag/Untag to converge."""
    moorage, eks, subnets, env = cluster
    group = eks.create_nodegroup(
        clusterName="compute", nodegroupName="tagged", nodeRole=NODE_ROLE, subnets=[s["SubnetId"] for s in subnets],
        scalingConfig={"minSize": 0, "maxSize": 2, "desiredSize": 0}, tags={"team": "web"},
    )["nodegroup"]
    arn = group["nodegroupArn"]
    assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "web"}
    eks.tag_resource(resourceArn=arn, tags={"cost-center": "42", "team": "platform"})
    eks.untag_resource(resourceArn=arn, tagKeys=["cost-center"])
    eks.untag_resource(resourceArn=arn, tagKeys=["cost-center"])  # idempotent, as on EKS
    assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "platform"}
    assert eks.describe_nodegroup(clusterName="compute", nodegroupName="tagged")["nodegroup"]["tags"] == {"team": "platform"}
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.tag_resource(resourceArn=arn, tags={"aws:reserved": "x"})
    assert excinfo.value.response["Error"]["Code"] == "BadRequestException"
    # Another node group's id under the same name is another resource.
    stale = arn.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.list_tags_for_resource(resourceArn=stale)
    assert excinfo.value.response["Error"]["Code"] == "NotFoundException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
