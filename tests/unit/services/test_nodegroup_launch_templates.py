"""Managed node groups from launch templates, and remoteAccess: EKS's rules and messages, what a template
version sets on the nodes (EC2's view), and UpdateNodegroupVersion to a new template version."""

from __future__ import annotations

import base64

import pytest

from moorage.controllers.nodegroup_rollouts import NodegroupRollouts
from moorage.core.context import RequestContext
from moorage.core.errors import AwsError
from moorage.core.kinds import CLUSTER, NODEGROUP, UPDATE
from moorage.services.ec2 import nodegroup_instances
from moorage.services.ec2.service import Ec2Service
from moorage.services.eks.nodegroup_launch_templates import effective_instance_types
from moorage.services.eks.service import EksService
from moorage.services.eks.versions import supported_minors
from moorage.store import Key, SqliteStore

MINOR = sorted(supported_minors(), key=lambda m: tuple(int(p) for p in m.split(".")))[-1]
NODE_CONFIG = base64.b64encode(b"""MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="BOUNDARY"

--BOUNDARY
Content-Type: application/node.eks.aws

apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  kubelet:
    config:
      maxPods: 50
--BOUNDARY--
""").decode()


@pytest.fixture
def api(tmp_path):
    store = SqliteStore(tmp_path / "state.db")
    ctx = RequestContext("111122223333", "us-west-2", "arn:aws:iam::111122223333:root", "AKIA", "req")
    ec2 = Ec2Service(store)
    subnets = [s["SubnetId"] for s in ec2.DescribeSubnets(ctx, {})["Subnets"]][:2]
    eks = EksService(store, "http://127.0.0.1:1")
    eks.clusters.create(ctx, {"name": "demo", "version": MINOR, "roleArn": "arn:aws:iam::111122223333:role/c",
                              "resourcesVpcConfig": {"subnetIds": subnets}})
    store.merge_status(store.require(Key(ctx.account, ctx.region, CLUSTER, "demo")), status="ACTIVE")
    vpc = ec2.DescribeVpcs(ctx, {})["Vpcs"][0]["VpcId"]
    group = ec2.handler("CreateSecurityGroup")(ctx, {"GroupName": "nodes", "Description": "nodes", "VpcId": vpc})["GroupId"]
    return store, ctx, ec2, eks, subnets, group


def template(ec2, ctx, name="nodes", **data) -> dict:
    return ec2.handler("CreateLaunchTemplate")(ctx, {"LaunchTemplateName": name, "LaunchTemplateData": data})["LaunchTemplate"]


def new_version(ec2, ctx, template_id, **data) -> int:
    answer = ec2.handler("CreateLaunchTemplateVersion")(ctx, {"LaunchTemplateId": template_id, "LaunchTemplateData": data})
    return answer["LaunchTemplateVersion"]["VersionNumber"]


def create(eks, ctx, subnets, name="ng1", **extra) -> dict:
    return eks.CreateNodegroup(ctx, {"clusterName": "demo", "nodegroupName": name, "subnets": subnets,
                                     "nodeRole": "arn:aws:iam::111122223333:role/n",
                                     "scalingConfig": {"minSize": 1, "maxSize": 3, "desiredSize": 2}, **extra})["nodegroup"]


def error_of(call, *args, **kwargs) -> AwsError:
    with pytest.raises(AwsError) as excinfo:
        call(*args, **kwargs)
    return excinfo.value


def test_a_template_by_id_or_name_is_shown_as_eks_shows_it(api):
    store, ctx, ec2, eks, subnets, group = api
    lt = template(ec2, ctx, InstanceType="c5.xlarge", SecurityGroupIds=[group], UserData=NODE_CONFIG,
                  BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 80}}],
                  TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "team", "Value": "web"}]}])
    by_id = create(eks, ctx, subnets, launchTemplate={"id": lt["LaunchTemplateId"]})
    assert by_id["launchTemplate"] == {"name": "nodes", "version": "1", "id": lt["LaunchTemplateId"]}
    assert by_id["instanceTypes"] is None and "diskSize" not in by_id and by_id["amiType"] == "AL2023_x86_64_STANDARD"
    by_name = create(eks, ctx, subnets, name="ng2", launchTemplate={"name": "nodes", "version": "$Latest"})
    assert by_name["launchTemplate"]["id"] == lt["LaunchTemplateId"] and by_name["launchTemplate"]["version"] == "1"
    record = store.require(Key(ctx.account, ctx.region, NODEGROUP, "demo/ng1"))
    assert effective_instance_types(record.spec) == ["c5.xlarge"]
    facts = record.spec["_launchTemplateVersions"]["1"]
    assert facts["userData"] == NODE_CONFIG and facts["diskSize"] == 80
    # The EC2 view of an instance launched from it: the template's type, groups and tags.
    instance = {"instanceId": "i-0123456789abcdef0", "zone": "us-west-2a", "subnetId": subnets[0], "privateIp": "10.0.0.10",
                "nodeName": "ip-10-0-0-10.us-west-2.compute.internal", "instanceType": "c5.xlarge", "launchedAt": 0,
                "launchTemplateVersion": "1"}
    view = nodegroup_instances.instance_view(record, instance, ctx.account, ctx.region)
    tags = {t["Key"]: t["Value"] for t in view["Tags"]}
    assert view["InstanceType"] == "c5.xlarge"
    assert view["SecurityGroups"] == [{"GroupId": group, "GroupName": "nodes"}]
    assert view["NetworkInterfaces"][0]["Groups"] == [{"GroupId": group, "GroupName": "nodes"}]
    assert tags["team"] == "web" and tags["eks:nodegroup-name"] == "ng1"
    assert tags["aws:ec2launchtemplate:id"] == lt["LaunchTemplateId"] and tags["aws:ec2launchtemplate:version"] == "1"


def test_a_template_without_an_instance_type_takes_the_groups(api):
    store, ctx, ec2, eks, subnets, _ = api
    lt = template(ec2, ctx, UserData=base64.b64encode(b"#!/bin/bash\n/etc/eks/bootstrap.sh demo\n").decode())
    group = create(eks, ctx, subnets, launchTemplate={"id": lt["LaunchTemplateId"]}, instanceTypes=["m5.large"])
    assert group["instanceTypes"] == ["m5.large"]
    record = store.require(Key(ctx.account, ctx.region, NODEGROUP, "demo/ng1"))
    assert effective_instance_types(record.spec) == ["m5.large"]


@pytest.mark.parametrize("extra, data, code, message", [
    ({"remoteAccess": {"ec2SshKey": "k"}}, {}, "InvalidParameterException",
     "Remote access configuration cannot be specified with a launch template."),
    ({"diskSize": 50}, {}, "InvalidParameterException", "Disk size must be specified within the launch template."),
    ({"instanceTypes": ["m5.large"]}, {"InstanceType": "c5.xlarge"}, "InvalidRequestException",
     "Cannot specify instance types in launch template and API Request"),
    ({}, {"IamInstanceProfile": {"Name": "p"}}, "InvalidParameterException",
     "Launch template should not specify an instance profile. The node group's nodeRole is used to create an instance "
     "profile for the nodes."),
    ({"version": MINOR}, {"ImageId": "ami-0123456789abcdef0"}, "InvalidParameterException",
     "You cannot specify a kubernetes version to use when specifying an image id to use within the launch template."),
    ({"amiType": "AL2023_x86_64_STANDARD"}, {"ImageId": "ami-0123456789abcdef0"}, "InvalidParameterException",
     "You cannot specify an AMI Type other than CUSTOM, when specifying an image id in your launch template."),
    ({"amiType": "CUSTOM"}, {}, "InvalidParameterException",
     "The launch template must specify an image id for the Custom ami type node group."),
    ({}, {"SecurityGroupIds": ["sg-0123456789abcdef0"]}, "InvalidParameterException",
     "The security group 'sg-0123456789abcdef0' does not exist"),
])
def test_what_eks_refuses_with_a_template(api, extra, data, code, message):
    _, ctx, ec2, eks, subnets, _ = api
    lt = template(ec2, ctx, **data)
    error = error_of(create, eks, ctx, subnets, launchTemplate={"id": lt["LaunchTemplateId"]}, **extra)
    assert (error.code, error.message) == (code, message)
    assert error.extra_fields == {"clusterName": "demo", "nodegroupName": "ng1"}


def test_unknown_templates_and_versions_and_both_names(api):
    _, ctx, ec2, eks, subnets, _ = api
    lt = template(ec2, ctx)
    cases = [
        ({"id": "lt-0123456789abcdef0"}, "Launch template lt-0123456789abcdef0 does not exist."),
        ({"name": "nope"}, "Launch template nope does not exist."),
        ({"id": lt["LaunchTemplateId"], "version": "7"},
         f"Launch template version 7 does not exist for launch template {lt['LaunchTemplateId']}."),
        ({"id": lt["LaunchTemplateId"], "name": "nodes"}, "Either provide launch template ID or launch template name in the request."),
        ({"version": "1"}, "Either a launch template ID or a launch template name must be specified in the request."),
    ]
    for spec, message in cases:
        error = error_of(create, eks, ctx, subnets, launchTemplate=spec)
        assert (error.code, error.message) == ("InvalidParameterException", message)


def test_a_custom_ami_makes_the_group_custom(api):
    store, ctx, ec2, eks, subnets, _ = api
    lt = template(ec2, ctx, ImageId="ami-0123456789abcdef0", InstanceType="m5.large")
    group = create(eks, ctx, subnets, launchTemplate={"name": "nodes"})
    assert group["amiType"] == "CUSTOM" and group["releaseVersion"] == "ami-0123456789abcdef0" and group["version"] == MINOR
    record = store.require(Key(ctx.account, ctx.region, NODEGROUP, "demo/ng1"))
    instance = {"instanceId": "i-0123456789abcdef0", "zone": "us-west-2a", "subnetId": subnets[0], "privateIp": "10.0.0.10",
                "nodeName": "n", "instanceType": "m5.large", "launchedAt": 0}
    assert nodegroup_instances.instance_view(record, instance, ctx.account, ctx.region)["ImageId"] == "ami-0123456789abcdef0"
    assert lt["LaunchTemplateId"] == group["launchTemplate"]["id"]
    store.merge_status(record, status="ACTIVE")
    error = error_of(eks.UpdateNodegroupVersion, ctx, {"clusterName": "demo", "nodegroupName": "ng1"})
    assert error.message == "Launch template details can't be null for Custom ami type node group"
    error = error_of(eks.UpdateNodegroupVersion, ctx, {"clusterName": "demo", "nodegroupName": "ng1", "version": MINOR,
                                                       "launchTemplate": {"name": "nodes"}})
    assert error.message.startswith("You cannot specify a kubernetes version")
    two = new_version(ec2, ctx, lt["LaunchTemplateId"], ImageId="ami-0fedcba9876543210", InstanceType="m5.large")
    update = eks.UpdateNodegroupVersion(ctx, {"clusterName": "demo", "nodegroupName": "ng1",
                                              "launchTemplate": {"name": "nodes", "version": str(two)}})["update"]
    assert {p["type"]: p["value"] for p in update["params"]}["ReleaseVersion"] == "ami-0fedcba9876543210"


def test_remote_access_needs_an_existing_key_pair_and_groups(api):
    _, ctx, ec2, eks, subnets, group = api
    error = error_of(create, eks, ctx, subnets, remoteAccess={"ec2SshKey": "missing"})
    assert (error.code, error.message) == ("InvalidParameterException", "KeyPair missing not found")
    ec2.handler("CreateKeyPair")(ctx, {"KeyName": "ops"})
    error = error_of(create, eks, ctx, subnets, remoteAccess={"ec2SshKey": "ops", "sourceSecurityGroups": ["sg-0123456789abcdef0"]})
    assert error.message == "The security group 'sg-0123456789abcdef0' does not exist"
    made = create(eks, ctx, subnets, remoteAccess={"ec2SshKey": "ops", "sourceSecurityGroups": [group]})
    assert made["remoteAccess"] == {"ec2SshKey": "ops", "sourceSecurityGroups": [group]}


def test_update_to_a_new_template_version_rolls_the_nodes(api):
    store, ctx, ec2, eks, subnets, _ = api
    lt = template(ec2, ctx, InstanceType="c5.xlarge")
    create(eks, ctx, subnets, launchTemplate={"id": lt["LaunchTemplateId"], "version": "1"})
    key = Key(ctx.account, ctx.region, NODEGROUP, "demo/ng1")
    record = store.require(key)
    old = [{"instanceId": f"i-{n:017x}", "zone": "us-west-2a", "nodeName": f"n{n}", "instanceType": "c5.xlarge",
            "version": record.spec["version"], "releaseVersion": record.spec["releaseVersion"], "launchTemplateVersion": "1"}
           for n in range(2)]
    store.merge_status(record, status="ACTIVE", instances=old)
    params = {"clusterName": "demo", "nodegroupName": "ng1"}
    error = error_of(eks.UpdateNodegroupVersion, ctx, {**params, "launchTemplate": {"id": lt["LaunchTemplateId"], "version": "1"}})
    assert error.message.startswith("Nodegroup ng1 is already on version")
    other = template(ec2, ctx, name="other")
    error = error_of(eks.UpdateNodegroupVersion, ctx, {**params, "launchTemplate": {"id": other["LaunchTemplateId"]}})
    assert error.code == "InvalidParameterException" and lt["LaunchTemplateId"] in error.message
    two = new_version(ec2, ctx, lt["LaunchTemplateId"], InstanceType="m5.large")
    update = eks.UpdateNodegroupVersion(ctx, {**params, "launchTemplate": {"name": "nodes", "version": str(two)}})["update"]
    kinds = {p["type"]: p["value"] for p in update["params"]}
    assert kinds["LaunchTemplateName"] == "nodes" and kinds["LaunchTemplateVersion"] == "2"
    assert kinds["Version"] == record.spec["version"] and kinds["ReleaseVersion"] == record.spec["releaseVersion"]
    view = eks.DescribeNodegroup(ctx, params)["nodegroup"]
    assert view["status"] == "UPDATING" and view["launchTemplate"]["version"] == "2"
    record = store.require(key)
    assert effective_instance_types(record.spec) == ["m5.large"]
    rollouts = NodegroupRollouts(store)
    update_record = store.require(Key(ctx.account, ctx.region, UPDATE, update["id"]))
    record = rollouts.start(record, update_record, old)
    assert [i["instanceId"] for i in rollouts.stale(record, update_record, record.status["instances"])] == [i["instanceId"] for i in old]
    assert record.status["rollout"]["surge"] >= 1
    fresh = [{**i, "launchTemplateVersion": "2", "instanceType": "m5.large"} for i in old]
    assert rollouts.stale(record, update_record, fresh) == []


def test_update_with_a_template_needs_a_group_made_from_one(api):
    store, ctx, ec2, eks, subnets, _ = api
    lt = template(ec2, ctx)
    create(eks, ctx, subnets)
    store.merge_status(store.require(Key(ctx.account, ctx.region, NODEGROUP, "demo/ng1")), status="ACTIVE")
    error = error_of(eks.UpdateNodegroupVersion, ctx, {"clusterName": "demo", "nodegroupName": "ng1",
                                                       "launchTemplate": {"id": lt["LaunchTemplateId"]}})
    assert error.message == ("You cannot specify a launch template for a node group that was not created with a launch "
                             "template.")


def test_nodes_follow_the_template_version_they_were_launched_from(api):
    store, ctx, ec2, eks, subnets, group = api
    from moorage.controllers.nodegroups import NodegroupReconciler

    template(ec2, ctx, ImageId="ami-0123456789abcdef0", InstanceType="c5.xlarge", SecurityGroupIds=[group],
             BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 80}}])
    create(eks, ctx, subnets, launchTemplate={"name": "nodes"})
    record = store.require(Key(ctx.account, ctx.region, NODEGROUP, "demo/ng1"))
    instance = {"instanceId": "i-0123456789abcdef0", "zone": "us-west-2a", "subnetId": subnets[0], "privateIp": "10.0.0.10",
                "nodeName": "ip-10-0-0-10.us-west-2.compute.internal", "instanceType": "c5.xlarge", "launchedAt": 0,
                "podCidr": "10.0.0.128/26", "launchTemplateVersion": "1"}
    node = NodegroupReconciler._node_spec(None, record, instance)
    assert node.labels["node.kubernetes.io/instance-type"] == "c5.xlarge"
    assert node.labels["eks.amazonaws.com/nodegroup-image"] == "ami-0123456789abcdef0"
    assert node.capacity["ephemeral-storage"] == "80Gi" and node.capacity["pods"] == "58"
    # The group's instances use the template's security group: EC2 refuses to delete it.
    store.merge_status(record, instances=[instance])
    with pytest.raises(AwsError) as excinfo:
        ec2.handler("DeleteSecurityGroup")(ctx, {"GroupId": group})
    assert excinfo.value.code == "DependencyViolation"
