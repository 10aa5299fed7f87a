"""`moorage nodes add|list|remove`: self-managed nodes, launched through Moorage's own EC2 API.

The command is a client like the AWS CLI: it calls RunInstances with the cluster's tag and a nodeadm
user-data NodeConfig (what EKS's self-managed node templates do), so the instances join the cluster
as self-managed nodes do on AWS, and are visible to every EC2 tool.
"""

from __future__ import annotations

import base64
import time

import botocore.session
import click
from botocore.exceptions import BotoCoreError, ClientError

from ..infra.progress import Reporter
from ..services.ec2.instance_types import CATALOG
from ..services.ec2.launched_instances import CLUSTER_TAG_PREFIX
from ..services.ec2.nodes import AL2023_ARM_64, AL2023_X86_64, ami_id

WAIT_SECONDS = 120.0
DEFAULT_NODE_ROLE = "moorage-self-managed-node"
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")
EC2_TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},'
    '"Action":"sts:AssumeRole"}]}'
)
NODECONFIG = """MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="BOUNDARY"

--BOUNDARY
Content-Type: application/node.eks.aws

---
apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  cluster:
    name: {cluster}
    apiServerEndpoint: {endpoint}
    certificateAuthority: {ca}
    cidr: {cidr}

--BOUNDARY--
"""

profile_option = click.option("--profile", default="moorage", show_default=True, help="AWS profile to call Moorage with.")
region_option = click.option("--region", default=None, help="Region [default: the profile's].")
cluster_option = click.option("--cluster", required=True, help="EKS cluster the nodes belong to.")


def _clients(profile: str, region: str | None):
    try:
        session = botocore.session.Session(profile=profile)
        return tuple(session.create_client(name, region_name=region) for name in ("ec2", "eks", "iam"))
    except BotoCoreError as error:
        raise click.ClickException(f"{error}. Start Moorage with `moorage up` once: it writes the 'moorage' profile.") from None


def _call(method, **params):
    try:
        return method(**params)
    except ClientError as error:
        raise click.ClickException(f"{error.response['Error']['Code']}: {error.response['Error']['Message']}") from None
    except BotoCoreError as error:
        raise click.ClickException(f"{error}. Is Moorage running (`moorage up`)?") from None


def _cluster_instances(ec2, cluster: str, states: list[str]) -> list[dict]:
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "tag-key", "Values": [CLUSTER_TAG_PREFIX + cluster]}, {"Name": "instance-state-name", "Values": states}]
    )
    try:
        return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]
    except ClientError as error:
        raise click.ClickException(f"{error.response['Error']['Code']}: {error.response['Error']['Message']}") from None


def _default_node_role(iam, eks, cluster: dict, reporter: Reporter) -> str:
    """The node role eksctl-style tools create: an instance profile whose role may join the cluster.

    API modes: an EC2_LINUX access entry authorises it. CONFIG_MAP mode needs an aws-auth mapRoles
    entry, which only someone with access to the cluster can add: say how."""
    try:
        role = iam.get_role(RoleName=DEFAULT_NODE_ROLE)["Role"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchEntity":
            raise click.ClickException(f"{error.response['Error']['Code']}: {error.response['Error']['Message']}") from None
        role = _call(iam.create_role, RoleName=DEFAULT_NODE_ROLE, AssumeRolePolicyDocument=EC2_TRUST)["Role"]
        for policy in NODE_POLICIES:
            _call(iam.attach_role_policy, RoleName=DEFAULT_NODE_ROLE, PolicyArn=f"arn:aws:iam::aws:policy/{policy}")
        _call(iam.create_instance_profile, InstanceProfileName=DEFAULT_NODE_ROLE)
        _call(iam.add_role_to_instance_profile, InstanceProfileName=DEFAULT_NODE_ROLE, RoleName=DEFAULT_NODE_ROLE)
        reporter.info(f"Created the IAM role and instance profile {DEFAULT_NODE_ROLE} for self-managed nodes")
    mode = (cluster.get("accessConfig") or {}).get("authenticationMode", "CONFIG_MAP")
    if mode == "CONFIG_MAP":
        reporter.warn(
            f"cluster {cluster['name']} authenticates through aws-auth only: the nodes join once its mapRoles has\n"
            f"  - rolearn: {role['Arn']}\n    username: system:node:{{{{EC2PrivateDNSName}}}}\n"
            "    groups: [system:bootstrappers, system:nodes]\n"
            "(kubectl edit -n kube-system configmap aws-auth), or switch the cluster to API_AND_CONFIG_MAP."
        )
        return DEFAULT_NODE_ROLE
    try:
        eks.create_access_entry(clusterName=cluster["name"], principalArn=role["Arn"], type="EC2_LINUX")
        reporter.info(f"Added an EC2_LINUX access entry for {role['Arn']}")
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceInUseException":
            raise click.ClickException(f"{error.response['Error']['Code']}: {error.response['Error']['Message']}") from None
    return DEFAULT_NODE_ROLE


@click.group()
def nodes() -> None:
    """Add, list and remove self-managed nodes of a cluster."""


@nodes.command()
@cluster_option
@click.option("--count", type=click.IntRange(1, 1000), default=1, show_default=True)
@click.option("--instance-type", default="m5.large", show_default=True, type=click.Choice(sorted(CATALOG)), metavar="TYPE")
@click.option("--subnet", "subnets", multiple=True, help="Subnet(s) to spread the nodes over [default: the cluster's].")
@click.option("--instance-profile", default=None,
              help=f"IAM instance profile; its role must be allowed to join the cluster [default: {DEFAULT_NODE_ROLE}, created "
                   "and given an access entry when needed].")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until the instances run.")
@profile_option
@region_option
def add(cluster: str, count: int, instance_type: str, subnets: tuple[str, ...], instance_profile: str | None,
        wait: bool, profile: str, region: str | None) -> None:
    """Launch COUNT instances that join CLUSTER as self-managed nodes."""
    ec2, eks, iam = _clients(profile, region)
    described = _call(eks.describe_cluster, name=cluster)["cluster"]
    reporter = Reporter()
    if not instance_profile:
        instance_profile = _default_node_role(iam, eks, described, reporter)
    subnets = subnets or tuple(described["resourcesVpcConfig"]["subnetIds"])
    arch = CATALOG[instance_type].arch
    ami_type = AL2023_ARM_64 if arch == "arm64" else AL2023_X86_64
    user_data = NODECONFIG.format(
        cluster=cluster,
        endpoint=described.get("endpoint") or "",
        ca=(described.get("certificateAuthority") or {}).get("data") or "",
        cidr=(described.get("kubernetesNetworkConfig") or {}).get("serviceIpv4Cidr") or "",
    )
    launched = []
    for index, subnet in enumerate(subnets):
        share = count // len(subnets) + (1 if index < count % len(subnets) else 0)
        if not share:
            continue
        params = {
            "ImageId": ami_id(ec2.meta.region_name, ami_type, described.get("version")),
            "InstanceType": instance_type,
            "MinCount": share,
            "MaxCount": share,
            "SubnetId": subnet,
            "UserData": base64.b64encode(user_data.encode()).decode(),
            "TagSpecifications": [
                {
                    "ResourceType": "instance",
                    "Tags": [
                        {"Key": CLUSTER_TAG_PREFIX + cluster, "Value": "owned"},
                        {"Key": "Name", "Value": f"{cluster}-self-managed-node"},
                    ],
                }
            ],
        }
        if instance_profile:
            params["IamInstanceProfile"] = {"Name": instance_profile}
        launched += [i["InstanceId"] for i in _call(ec2.run_instances, **params)["Instances"]]
    reporter.info(f"Launched {len(launched)} instance(s): {' '.join(launched)}")
    if not wait:
        return
    deadline = time.monotonic() + WAIT_SECONDS
    with reporter.task(f"Waiting for {len(launched)} instance(s) to run", unit="instances") as update:
        while True:
            found = _call(ec2.describe_instances, InstanceIds=launched)
            instances = [i for r in found["Reservations"] for i in r["Instances"]]
            running = [i for i in instances if i["State"]["Name"] == "running"]
            update(len(running), len(launched))
            failed = [i for i in instances if i["State"]["Name"] == "terminated"]
            if failed:
                raise click.ClickException(f"{failed[0]['InstanceId']} did not start: {failed[0].get('StateTransitionReason')}")
            if len(running) == len(launched):
                break
            if time.monotonic() > deadline:
                raise click.ClickException("instances are still pending; see `moorage up`'s log")
            time.sleep(0.5)
    for instance in running:
        reporter.info(f"{instance['InstanceId']}  {instance['PrivateIpAddress']:15}  node {instance['PrivateDnsName']}")
    reporter.info("Check them with `kubectl get nodes`.")


@nodes.command(name="list")
@cluster_option
@profile_option
@region_option
def list_(cluster: str, profile: str, region: str | None) -> None:
    """List the self-managed instances of CLUSTER."""
    ec2, _, _ = _clients(profile, region)
    row = "{:21} {:13} {:12} {:13} {:15} {}"
    click.echo(row.format("INSTANCE", "TYPE", "ZONE", "STATE", "ADDRESS", "NODE"))
    for i in _cluster_instances(ec2, cluster, ["pending", "running", "shutting-down"]):
        click.echo(row.format(i["InstanceId"], i["InstanceType"], i["Placement"]["AvailabilityZone"], i["State"]["Name"],
                              i.get("PrivateIpAddress", ""), i.get("PrivateDnsName", "")))


@nodes.command()
@cluster_option
@click.argument("instance_ids", nargs=-1)
@click.option("--all", "remove_all", is_flag=True, help="Terminate every self-managed instance of the cluster.")
@profile_option
@region_option
def remove(cluster: str, instance_ids: tuple[str, ...], remove_all: bool, profile: str, region: str | None) -> None:
    """Terminate self-managed instances of CLUSTER (their nodes go with them)."""
    ec2, _, _ = _clients(profile, region)
    if remove_all:
        instance_ids = tuple(i["InstanceId"] for i in _cluster_instances(ec2, cluster, ["pending", "running"]))
    if not instance_ids:
        raise click.UsageError("name the instances to remove, or pass --all")
    result = _call(ec2.terminate_instances, InstanceIds=list(instance_ids))
    for change in result["TerminatingInstances"]:
        click.echo(f"{change['InstanceId']}  {change['PreviousState']['Name']} -> {change['CurrentState']['Name']}")
