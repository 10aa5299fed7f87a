"""A managed node group from an EC2 launch template, end to end: the template's instance type, tags, security
group and root volume on the kwok nodes and in DescribeInstances, then UpdateNodegroupVersion to a new template
version rolling every node onto it (boto3 and kubectl against a real cluster)."""

import base64

import pytest

from .test_nodegroups import FAST, NODE_ROLE, cluster, kubectl_json, wait_for  # noqa: F401 (cluster: a fixture)

pytestmark = pytest.mark.toolchain

BOOTSTRAP = base64.b64encode(b"#!/bin/bash\n/etc/eks/bootstrap.sh compute --kubelet-extra-args '--max-pods=58'\n").decode()


def instances_of(ec2, nodegroup: str) -> list[dict]:
    reservations = ec2.describe_instances(Filters=[{"Name": "tag:eks:nodegroup-name", "Values": [nodegroup]}])["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


def test_node_group_from_a_launch_template_and_its_new_version(cluster, kubectl):
    moorage, eks, subnets, env = cluster
    ec2 = moorage.client("ec2")
    group_id = ec2.create_security_group(GroupName="lt-nodes", Description="nodes", VpcId=subnets[0]["VpcId"])["GroupId"]
    template = ec2.create_launch_template(LaunchTemplateName="compute-nodes", LaunchTemplateData={
        "InstanceType": "c5.xlarge",
        "SecurityGroupIds": [group_id],
        "UserData": BOOTSTRAP,
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 80, "VolumeType": "gp3"}}],
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "team", "Value": "batch"}]}],
    })["LaunchTemplate"]
    created = eks.create_nodegroup(clusterName="compute", nodegroupName="lt", subnets=[s["SubnetId"] for s in subnets[:2]],
                                   nodeRole=NODE_ROLE, scalingConfig={"minSize": 1, "maxSize": 4, "desiredSize": 2},
                                   launchTemplate={"id": template["LaunchTemplateId"], "version": "1"})["nodegroup"]
    assert created["launchTemplate"] == {"name": "compute-nodes", "version": "1", "id": template["LaunchTemplateId"]}
    assert "diskSize" not in created and not created.get("instanceTypes")
    eks.get_waiter("nodegroup_active").wait(clusterName="compute", nodegroupName="lt", WaiterConfig=FAST)

    nodes = kubectl_json(kubectl, env, "get", "nodes", "-l", "eks.amazonaws.com/nodegroup=lt")["items"]
    assert len(nodes) == 2
    for node in nodes:
        assert node["metadata"]["labels"]["node.kubernetes.io/instance-type"] == "c5.xlarge"
        assert node["status"]["capacity"]["pods"] == "58" and node["status"]["capacity"]["cpu"] == "4"
        assert node["status"]["capacity"]["ephemeral-storage"] == "80Gi"
    described = instances_of(ec2, "lt")
    assert sorted(i["PrivateDnsName"] for i in described) == sorted(n["metadata"]["name"] for n in nodes)
    for instance in described:
        tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
        assert instance["InstanceType"] == "c5.xlarge"
        assert instance["SecurityGroups"] == [{"GroupId": group_id, "GroupName": "lt-nodes"}]
        assert tags["team"] == "batch" and tags["aws:ec2launchtemplate:version"] == "1"
    by_tag = ec2.describe_instances(Filters=[{"Name": "tag:team", "Values": ["batch"]}])["Reservations"]
    assert {i["InstanceId"] for r in by_tag for i in r["Instances"]} == {i["InstanceId"] for i in described}

    # A new template version (m5.large): UpdateNodegroupVersion replaces every node with one launched from it.
    version = ec2.create_launch_template_version(LaunchTemplateId=template["LaunchTemplateId"], SourceVersion="1",
                                                 LaunchTemplateData={"InstanceType": "m5.large"})["LaunchTemplateVersion"]
    assert version["VersionNumber"] == 2
    update = eks.update_nodegroup_version(clusterName="compute", nodegroupName="lt",
                                          launchTemplate={"name": "compute-nodes", "version": "2"})["update"]
    params = {p["type"]: p["value"] for p in update["params"]}
    assert params["LaunchTemplateName"] == "compute-nodes" and params["LaunchTemplateVersion"] == "2"
    old_names = {n["metadata"]["name"] for n in nodes}
    wait_for(lambda: eks.describe_update(name="compute", nodegroupName="lt", updateId=update["id"])["update"]["status"]
             == "Successful", timeout=180)
    nodes = kubectl_json(kubectl, env, "get", "nodes", "-l", "eks.amazonaws.com/nodegroup=lt")["items"]
    assert len(nodes) == 2 and not old_names & {n["metadata"]["name"] for n in nodes}
    for node in nodes:
        assert node["metadata"]["labels"]["node.kubernetes.io/instance-type"] == "m5.large"
        assert node["status"]["capacity"]["pods"] == "29"
    described = instances_of(ec2, "lt")
    assert {i["InstanceType"] for i in described} == {"m5.large"}
    assert all({t["Key"]: t["Value"] for t in i["Tags"]}["aws:ec2launchtemplate:version"] == "2" for i in described)
    assert all(i["SecurityGroups"] == [{"GroupId": group_id, "GroupName": "lt-nodes"}] for i in described)  # SourceVersion 1's
    group = eks.describe_nodegroup(clusterName="compute", nodegroupName="lt")["nodegroup"]
    assert group["status"] == "ACTIVE" and group["launchTemplate"]["version"] == "2"
