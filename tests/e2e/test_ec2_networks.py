"""A cluster and a node group on a user-created VPC: nodes get addresses from the private subnets."""

import ipaddress
import json
import subprocess
import sys

import botocore.exceptions
import pytest

from ..conftest import ACCOUNT_ID, kill_leftovers, start_moorage

pytestmark = pytest.mark.toolchain

ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-cluster"
NODE_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-node"
FAST = {"Delay": 1, "MaxAttempts": 180}


def build_vpc(ec2) -> tuple[str, list[dict], list[dict]]:
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    public, private = [], []
    for index, zone in enumerate(["us-west-2a", "us-west-2b"]):
        public.append(ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{index}.0/24", AvailabilityZone=zone)["Subnet"])
        private.append(ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{64 + index * 64}.0/18", AvailabilityZone=zone)["Subnet"])
        ec2.associate_route_table(RouteTableId=table, SubnetId=public[-1]["SubnetId"])
    return vpc, public, private


def test_node_group_on_private_subnets_of_a_user_vpc(tmp_path, kubectl):
    moorage = start_moorage(tmp_path / "data")
    try:
        ec2, eks = moorage.client("ec2"), moorage.client("eks")
        vpc, public, private = build_vpc(ec2)
        eks.create_cluster(name="own", roleArn=ROLE, resourcesVpcConfig={"subnetIds": [s["SubnetId"] for s in private + public]})
        eks.get_waiter("cluster_active").wait(name="own", WaiterConfig=FAST)

        # EKS's cluster security group exists in EC2, in the cluster's VPC, and takes rules (Terraform adds some).
        group_id = eks.describe_cluster(name="own")["cluster"]["resourcesVpcConfig"]["clusterSecurityGroupId"]
        (group,) = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
        assert group["VpcId"] == vpc and group["GroupName"].startswith("eks-cluster-sg-own-")
        assert {"Key": "aws:eks:cluster-name", "Value": "own"} in group["Tags"]
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            ec2.delete_security_group(GroupId=group_id)
        assert excinfo.value.response["Error"]["Code"] == "DependencyViolation"

        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            eks.create_nodegroup(clusterName="own", nodegroupName="lost", subnets=["subnet-0123456789abcdef0"], nodeRole=NODE_ROLE)
        assert excinfo.value.response["Error"]["Code"] == "InvalidParameterException"
        assert "The subnet ID 'subnet-0123456789abcdef0' does not exist" in excinfo.value.response["Error"]["Message"]
        default_subnet = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]["SubnetId"]
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            eks.create_nodegroup(clusterName="own", nodegroupName="elsewhere", subnets=[default_subnet], nodeRole=NODE_ROLE)
        assert excinfo.value.response["Error"]["Message"] == f"Specified subnets must belong to cluster's vpc {vpc}"

        eks.create_nodegroup(
            clusterName="own", nodegroupName="private", subnets=[s["SubnetId"] for s in private], nodeRole=NODE_ROLE,
            scalingConfig={"minSize": 1, "maxSize": 4, "desiredSize": 4}, instanceTypes=["m5.large"],
        )
        eks.get_waiter("nodegroup_active").wait(clusterName="own", nodegroupName="private", WaiterConfig=FAST)

        env = {**moorage.env(), "KUBECONFIG": str(tmp_path / "kubeconfig")}
        subprocess.run([sys.executable, "-m", "awscli", "eks", "update-kubeconfig", "--name", "own"], env=env, check=True, capture_output=True)
        result = subprocess.run([kubectl, "get", "nodes", "-o", "json"], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        nodes = json.loads(result.stdout)["items"]
        blocks = {s["AvailabilityZone"]: ipaddress.ip_network(s["CidrBlock"]) for s in private}
        assert len(nodes) == 4
        for node in nodes:
            zone = node["metadata"]["labels"]["topology.kubernetes.io/zone"]
            address = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
            assert ipaddress.ip_address(address) in blocks[zone]

        reservations = ec2.describe_instances(Filters=[{"Name": "tag:eks:nodegroup-name", "Values": ["private"]}])["Reservations"]
        described = [i for r in reservations for i in r["Instances"]]
        assert len(described) == 4 and {i["VpcId"] for i in described} == {vpc}
        assert {i["SubnetId"] for i in described} == {s["SubnetId"] for s in private}
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:  # the nodes' interfaces are in it
            ec2.delete_subnet(SubnetId=private[0]["SubnetId"])
        assert excinfo.value.response["Error"]["Code"] == "DependencyViolation"
    finally:
        moorage.stop()
        kill_leftovers(tmp_path)
