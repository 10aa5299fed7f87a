"""Self-managed nodes: `moorage nodes add` launches EC2 instances that join the cluster as nodes."""

import json
import subprocess
import sys

import botocore.exceptions
import pytest

from ..conftest import ACCOUNT_ID, kill_leftovers, start_moorage
from .test_nodegroups import FAST, ROLE, kubectl_json, wait_for

pytestmark = pytest.mark.toolchain

EC2_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


@pytest.fixture
def cluster(tmp_path, kubectl):
    moorage = start_moorage(tmp_path / "data")
    try:
        eks = moorage.client("eks")
        subnets = sorted(moorage.client("ec2").describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])[:3]
        eks.create_cluster(name="compute", roleArn=ROLE, resourcesVpcConfig={"subnetIds": [s["SubnetId"] for s in subnets[:2]]},
                           accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
        eks.get_waiter("cluster_active").wait(name="compute", WaiterConfig=FAST)
        env = {**moorage.env(), "KUBECONFIG": str(tmp_path / "kubeconfig")}
        subprocess.run([sys.executable, "-m", "awscli", "eks", "update-kubeconfig", "--name", "compute"], env=env, check=True, capture_output=True)
        yield moorage, eks, subnets, env
    finally:
        moorage.stop()
        kill_leftovers(tmp_path)


def node_names(kubectl, env) -> set[str]:
    return {n["metadata"]["name"] for n in kubectl_json(kubectl, env, "get", "nodes")["items"]}


def moorage_cli(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "moorage", *args], env=env, capture_output=True, text=True, timeout=180)


def test_nodes_add_list_remove(cluster, kubectl):
    moorage, eks, subnets, env = cluster
    added = moorage_cli(env, "nodes", "add", "--cluster", "compute", "--count", "3", "--instance-type", "c5.xlarge",
                        "--subnet", subnets[0]["SubnetId"], "--subnet", subnets[1]["SubnetId"])
    assert added.returncode == 0, added.stderr
    assert "access entry" in added.stderr  # the default node role was created and given an EC2_LINUX entry
    entry = eks.describe_access_entry(clusterName="compute", principalArn=f"arn:aws:iam::{ACCOUNT_ID}:role/moorage-self-managed-node")
    assert entry["accessEntry"]["type"] == "EC2_LINUX"
    ec2 = moorage.client("ec2")
    reservations = ec2.describe_instances(Filters=[{"Name": "tag:kubernetes.io/cluster/compute", "Values": ["owned"]}])["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    assert len(instances) == 3 and all(i["State"]["Name"] == "running" for i in instances)
    assert {i["SubnetId"] for i in instances} == {subnets[0]["SubnetId"], subnets[1]["SubnetId"]}

    def joined():
        nodes = kubectl_json(kubectl, env, "get", "nodes")["items"]
        ready = [n for n in nodes if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])]
        return ready if len(ready) == 3 else None

    nodes = {n["metadata"]["name"]: n for n in wait_for(joined)}
    assert set(nodes) == {i["PrivateDnsName"] for i in instances}
    for instance in instances:
        node = nodes[instance["PrivateDnsName"]]
        labels = node["metadata"]["labels"]
        assert labels["node.kubernetes.io/instance-type"] == "c5.xlarge"
        assert labels["topology.kubernetes.io/zone"] == instance["Placement"]["AvailabilityZone"]
        assert not any(k.startswith("eks.amazonaws.com/") for k in labels)  # self-managed: no node group labels
        assert node["spec"]["providerID"] == f"aws:///{instance['Placement']['AvailabilityZone']}/{instance['InstanceId']}"
        assert node["status"]["capacity"]["pods"] == "58"  # c5.xlarge: 4 ENIs x (15 - 1) + 2

    listed = moorage_cli(env, "nodes", "list", "--cluster", "compute")
    assert listed.returncode == 0 and all(i["InstanceId"] in listed.stdout for i in instances)

    gone = instances[0]
    removed = moorage_cli(env, "nodes", "remove", "--cluster", "compute", gone["InstanceId"])
    assert removed.returncode == 0, removed.stderr
    assert "running -> shutting-down" in removed.stdout
    wait_for(lambda: gone["PrivateDnsName"] not in {n["metadata"]["name"] for n in kubectl_json(kubectl, env, "get", "nodes")["items"]})
    (state,) = [i["State"]["Name"] for r in ec2.describe_instances(InstanceIds=[gone["InstanceId"]])["Reservations"] for i in r["Instances"]]
    assert state == "terminated"

    # EC2's errors for bad launches and terminations.
    for params, code in [
        ({"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.huge", "MinCount": 1, "MaxCount": 1}, "InvalidParameterValue"),
        ({"InstanceType": "m5.large", "MinCount": 1, "MaxCount": 1}, "MissingParameter"),
        ({"ImageId": "ami-0123456789abcdef0", "MinCount": 1, "MaxCount": 1, "SubnetId": "subnet-0123456789abcdef0"}, "InvalidSubnetID.NotFound"),
        ({"ImageId": "ami-0123456789abcdef0", "MinCount": 3, "MaxCount": 2}, "InvalidParameterValue"),
    ]:
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            ec2.run_instances(**params)
        assert excinfo.value.response["Error"]["Code"] == code
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.terminate_instances(InstanceIds=["i-0123456789abcdef0"])
    assert excinfo.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"


def test_unmapped_role_joins_only_once_mapped(cluster, kubectl):
    moorage, eks, subnets, env = cluster
    iam = moorage.client("iam")
    iam.create_role(RoleName="workers", AssumeRolePolicyDocument=EC2_TRUST)
    iam.create_instance_profile(InstanceProfileName="workers")
    iam.add_role_to_instance_profile(InstanceProfileName="workers", RoleName="workers")
    ec2 = moorage.client("ec2")
    (instance,) = ec2.run_instances(
        ImageId="ami-0123456789abcdef0", InstanceType="m5.large", MinCount=1, MaxCount=1, SubnetId=subnets[0]["SubnetId"],
        IamInstanceProfile={"Name": "workers"},
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "kubernetes.io/cluster/compute", "Value": "owned"}]}],
    )["Instances"]
    described = wait_for(lambda: [i for r in ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"]
                                  for i in r["Instances"] if i["State"]["Name"] == "running"])
    name = described[0]["PrivateDnsName"]
    # Running, but its role is in neither an access entry nor aws-auth: the kubelet cannot register.
    import time
    time.sleep(3)
    assert name not in node_names(kubectl, env)
    eks.create_access_entry(clusterName="compute", principalArn=f"arn:aws:iam::{ACCOUNT_ID}:role/workers", type="EC2_LINUX")
    wait_for(lambda: name in node_names(kubectl, env), timeout=30)
