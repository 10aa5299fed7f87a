"""Pod Identity association rules in-process: ids, names, the role and its trust policy, options, pages."""

import json
import re

import pytest

from moorage.core.context import RequestContext
from moorage.core.errors import AwsError
from moorage.services.ec2.network import default_subnets
from moorage.services.eks.pod_identity import check_association_id, check_names, new_association_id
from moorage.services.eks.service import EksService
from moorage.services.iam.service import IamService
from moorage.store import SqliteStore

ACCOUNT = "111122223333"
CTX = RequestContext(ACCOUNT, "us-west-2", f"arn:aws:iam::{ACCOUNT}:root", "AKIAMOORAGETESTROOT1", "req-1")
IAM_CTX = RequestContext(ACCOUNT, "us-east-1", f"arn:aws:iam::{ACCOUNT}:root", "AKIAMOORAGETESTROOT1", "req-2")


def trust(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


POD_TRUST = trust({"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]})


@pytest.fixture
def store(tmp_path):
    return SqliteStore(tmp_path / "state.db")


@pytest.fixture
def eks(store):
    service = EksService(store, "http://127.0.0.1:1")
    subnets = [s["SubnetId"] for s in default_subnets(CTX.account, CTX.region)][:2]
    service.CreateCluster(CTX, {"name": "demo", "roleArn": f"arn:aws:iam::{ACCOUNT}:role/eks", "resourcesVpcConfig": {"subnetIds": subnets}})
    return service


def role(store, name: str, document: str = POD_TRUST, path: str = "/") -> str:
    return IamService(store, "AKIAMOORAGETESTROOT1").CreateRole(
        IAM_CTX, {"RoleName": name, "Path": path, "AssumeRolePolicyDocument": document}
    )["Role"]["Arn"]


def create(eks, role_arn: str, namespace: str = "default", service_account: str = "app", **extra) -> dict:
    params = {"clusterName": "demo", "namespace": namespace, "serviceAccount": service_account, "roleArn": role_arn, **extra}
    return eks.CreatePodIdentityAssociation(CTX, params)["association"]


def test_ids_are_a_dash_and_17_lowercase_alphanumerics():
    ids = {new_association_id() for _ in range(50)}
    assert len(ids) == 50 and all(re.fullmatch(r"a-[a-z0-9]{17}", i) for i in ids)
    with pytest.raises(AwsError, match="The parameter associationId should be 19 characters long."):
        check_association_id("a-short", "demo")


@pytest.mark.parametrize("namespace, service_account", [("Default", "app"), ("-ns", "app"), ("n" * 64, "app"), ("ns", "App"),
                                                         ("ns", "a_b"), ("ns", "a/b"), ("ns", "x" * 254), ("ns", "app.")])
def test_names_must_be_kubernetes_names(namespace, service_account):
    with pytest.raises(AwsError) as raised:
        check_names(namespace, service_account, "demo")
    assert raised.value.code == "InvalidParameterException"


def test_valid_names():
    check_names("kube-system", "aws-node", "demo")
    check_names("n" * 63, "my.service.account", "demo")


def test_the_role_must_exist_and_trust_pods_eks_with_both_actions(store, eks):
    with pytest.raises(AwsError, match="Role provided in the request does not exist."):
        create(eks, f"arn:aws:iam::{ACCOUNT}:role/missing")
    with pytest.raises(AwsError, match="not a valid IAM role ARN"):
        create(eks, f"arn:aws:iam::{ACCOUNT}:user/alice")
    only_assume = role(store, "only-assume", trust({"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": "sts:AssumeRole"}))
    ec2 = role(store, "ec2", trust({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}))
    for arn in (only_assume, ec2):
        with pytest.raises(AwsError, match="Trust policy of the role provided is invalid."):
            create(eks, arn)
    # Conditions on what EKS Pod Identity presents (its source account and cluster) are honoured.
    scoped = role(store, "scoped", trust({
        "Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}, "ArnLike": {"aws:SourceArn": f"arn:aws:eks:us-west-2:{ACCOUNT}:cluster/*"}},
    }), path="/apps/")
    assert create(eks, scoped)["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/apps/scoped"
    other = role(store, "other-cluster", trust({
        "Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {"StringEquals": {"aws:SourceArn": f"arn:aws:eks:us-west-2:{ACCOUNT}:cluster/elsewhere"}},
    }))
    with pytest.raises(AwsError, match="Trust policy of the role provided is invalid."):
        create(eks, other, service_account="other")


def test_one_association_per_service_account_and_options(store, eks):
    arn = role(store, "pods")
    first = create(eks, arn, tags={"team": "a"})
    assert first["associationArn"] == f"arn:aws:eks:us-west-2:{ACCOUNT}:podidentityassociation/demo/{first['associationId']}"
    assert (first["disableSessionTags"], first["tags"]) == (False, {"team": "a"})
    assert "ownerArn" not in first and "targetRoleArn" not in first
    with pytest.raises(AwsError, match=f"Association already exists: {first['associationId']}$") as raised:
        create(eks, arn)
    assert raised.value.code == "ResourceInUseException"

    target = "arn:aws:iam::444455556666:role/reader"
    crossed = create(eks, arn, namespace="jobs", service_account="runner", targetRoleArn=target)
    assert (crossed["targetRoleArn"], crossed["externalId"]) == (target, f"us-west-2/{ACCOUNT}/demo/jobs/runner")
    with pytest.raises(AwsError, match="disableSessionTags must be set to true"):
        create(eks, arn, service_account="limited", policy=trust({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}))

    update = eks.UpdatePodIdentityAssociation
    cleared = update(CTX, {"clusterName": "demo", "associationId": crossed["associationId"], "targetRoleArn": ""})["association"]
    assert "targetRoleArn" not in cleared and "externalId" not in cleared
    with pytest.raises(AwsError, match="At least one of roleArn"):
        update(CTX, {"clusterName": "demo", "associationId": crossed["associationId"]})
    with pytest.raises(AwsError, match="No Pod Identity Association found for id: a-0000000000000000a.") as raised:
        update(CTX, {"clusterName": "demo", "associationId": "a-0000000000000000a", "disableSessionTags": True})
    assert raised.value.code == "ResourceNotFoundException"


def test_list_filters_and_pages(store, eks):
    arn = role(store, "pods")
    for namespace, service_account in (("a", "one"), ("a", "two"), ("b", "one"), ("c", "three")):
        create(eks, arn, namespace=namespace, service_account=service_account)
    listed = eks.ListPodIdentityAssociations
    everything = listed(CTX, {"clusterName": "demo"})["associations"]
    assert [(a["namespace"], a["serviceAccount"]) for a in everything] == [("a", "one"), ("a", "two"), ("b", "one"), ("c", "three")]
    assert set(everything[0]) == {"clusterName", "namespace", "serviceAccount", "associationArn", "associationId"}
    assert [a["namespace"] for a in listed(CTX, {"clusterName": "demo", "serviceAccount": "one"})["associations"]] == ["a", "b"]
    assert len(listed(CTX, {"clusterName": "demo", "namespace": "a", "serviceAccount": "two"})["associations"]) == 1
    page = listed(CTX, {"clusterName": "demo", "maxResults": 3})
    rest = listed(CTX, {"clusterName": "demo", "maxResults": 3, "nextToken": page["nextToken"]})
    assert len(page["associations"]) == 3 and [a["serviceAccount"] for a in rest["associations"]] == ["three"] and "nextToken" not in rest


def test_tags_through_the_association_arn(store, eks):
    created = create(eks, role(store, "pods"))
    arn = created["associationArn"]
    eks.TagResource(CTX, {"resourceArn": arn, "tags": {"env": "dev"}})
    assert eks.ListTagsForResource(CTX, {"resourceArn": arn})["tags"] == {"env": "dev"}
    eks.UntagResource(CTX, {"resourceArn": arn, "tagKeys": ["env"]})
    assert eks.DescribePodIdentityAssociation(CTX, {"clusterName": "demo", "associationId": created["associationId"]})["association"]["tags"] == {}
    with pytest.raises(AwsError) as raised:
        eks.ListTagsForResource(CTX, {"resourceArn": arn[:-1] + ("b" if arn[-1] != "b" else "c")})
    assert raised.value.code == "NotFoundException"


def test_nothing_new_joins_a_cluster_being_deleted(store, eks):
    arn = role(store, "pods")
    subnets = [s["SubnetId"] for s in default_subnets(CTX.account, CTX.region)][:2]
    eks.CreateCluster(CTX, {"name": "going", "roleArn": f"arn:aws:iam::{ACCOUNT}:role/eks",
                            "resourcesVpcConfig": {"subnetIds": subnets}, "accessConfig": {"authenticationMode": "API"}})
    eks.DeleteCluster(CTX, {"name": "going"})
    for call in (
        lambda: eks.CreatePodIdentityAssociation(CTX, {"clusterName": "going", "namespace": "default", "serviceAccount": "app", "roleArn": arn}),
        lambda: eks.CreateAccessEntry(CTX, {"clusterName": "going", "principalArn": arn}),
    ):
        with pytest.raises(AwsError) as excinfo:
            call()
        assert (excinfo.value.code, excinfo.value.message) == ("InvalidRequestException", "Cluster 'going' is in DELETING status")
