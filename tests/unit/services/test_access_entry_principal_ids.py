"""Access entries are bound to the IAM principal's unique id, as on EKS: a user or role deleted and
recreated under the same ARN is not mapped by the old entry (aws-auth stays ARN-based).

Real IAM, STS, EKS services on a real store; tokens are made as `aws eks get-token` makes them and
checked by the token webhook's verify_token, so the caller's UserId is the one STS gave it."""

import asyncio
import base64
import json

import boto3
import pytest

from moorage.core.context import Principal, RequestContext
from moorage.gateway.webhooks import verify_token
from moorage.infra.service_account_keys import ServiceAccountKeys
from moorage.services.accounts import CredentialStore, RootAccount
from moorage.services.ec2.network import default_subnets
from moorage.services.eks.access import entry_key
from moorage.services.eks.access_policies import policy_arn
from moorage.services.eks.aws_auth import AwsAuthSource, parse_aws_auth
from moorage.services.eks.identity import ClusterIdentities, access_policy_decision
from moorage.services.eks.oidc_issuer import ClusterIssuers
from moorage.services.eks.service import EksService
from moorage.services.iam.credentials import IamAccessKeys
from moorage.services.iam.service import IamService
from moorage.services.sts.service import StsService
from moorage.services.sts.sessions import StsSessions
from moorage.store import SqliteStore

ROOT = RootAccount("111122223333", "AKIAMOORAGETESTROOT1", "moorage-test-secret-access-key-0123456789")
ACCOUNT = ROOT.account_id
ROOT_PRINCIPAL = Principal(ACCOUNT, ROOT.arn, ACCOUNT, ROOT.access_key_id)
CTX = RequestContext(ACCOUNT, "us-west-2", ROOT.arn, ROOT.access_key_id, "req-1", principal=ROOT_PRINCIPAL)
TRUST_ACCOUNT = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": ROOT.arn}, "Action": "sts:AssumeRole"}]})
VIEW = policy_arn("AmazonEKSViewPolicy")


class FixedAwsAuth(AwsAuthSource):
    """aws-auth as if read from the cluster (no control plane in unit tests)."""

    def __init__(self, data: dict | None = None):
        self.parsed = parse_aws_auth(data)

    async def get(self, cluster):
        return self.parsed


class Moorage:
    """IAM, STS and EKS over one store, with the webhook's view of callers."""

    def __init__(self, data_dir, aws_auth: AwsAuthSource | None = None):
        store = SqliteStore(data_dir / "state.db")
        self.store = store
        self.iam = IamService(store, ROOT.access_key_id)
        self.credentials = CredentialStore(ROOT, [IamAccessKeys(store), StsSessions(store)])
        self.sts = StsService(self.credentials, store, ClusterIssuers(store, ServiceAccountKeys(data_dir).public_key))
        self.eks = EksService(store, "http://127.0.0.1:1")
        self.identities = ClusterIdentities(store, aws_auth or FixedAwsAuth())

    def cluster(self, name: str, mode: str = "API", ctx: RequestContext = CTX):
        subnets = [s["SubnetId"] for s in default_subnets(ACCOUNT, CTX.region)][:2]
        self.eks.CreateCluster(ctx, {
            "name": name, "roleArn": f"arn:aws:iam::{ACCOUNT}:role/eks", "resourcesVpcConfig": {"subnetIds": subnets},
            "accessConfig": {"authenticationMode": mode, "bootstrapClusterCreatorAdminPermissions": False},
        })
        record = self.eks.clusters.get(CTX, name)
        return self.store.merge_status(record, status="ACTIVE")

    def role(self, name: str, path: str = "/") -> dict:
        return self.iam.CreateRole(CTX, {"RoleName": name, "Path": path, "AssumeRolePolicyDocument": TRUST_ACCOUNT})["Role"]

    def session(self, role_arn: str, name: str = "carol") -> dict:
        return self.sts.AssumeRole(CTX, {"RoleArn": role_arn, "RoleSessionName": name})["Credentials"]

    def token_caller(self, cluster: str, credentials: dict) -> Principal:
        """The principal the token webhook sees for a token made with these credentials."""
        return verify_token(make_token(cluster, credentials), cluster, self.credentials)

    def user(self, cluster_record, credentials: dict) -> tuple[dict | None, str]:
        principal = self.token_caller(cluster_record.key.name, credentials)
        return asyncio.run(self.identities.user_for(cluster_record, principal))


def make_token(cluster: str, credentials: dict) -> str:
    """What `aws eks get-token` does: presign GetCallerIdentity with x-k8s-aws-id signed in."""
    sts = boto3.client(
        "sts", region_name="us-west-2", endpoint_url="https://sts.us-west-2.amazonaws.com",
        aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials.get("SessionToken"),
    )
    sts.meta.events.register("before-sign.sts.GetCallerIdentity", lambda request, **_: request.headers.__setitem__("x-k8s-aws-id", cluster))
    url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


@pytest.fixture
def moorage(tmp_path):
    return Moorage(tmp_path)


def stored(moorage: Moorage, cluster, principal_arn: str) -> dict:
    return moorage.store.require(entry_key(cluster.key, principal_arn)).spec


def review_of(user: dict, verb: str = "list") -> dict:
    return {"user": user["username"], "extra": user["extra"],
            "resourceAttributes": {"verb": verb, "namespace": "default", "group": "", "resource": "pods", "subresource": ""}}


def test_entries_record_the_principals_unique_id_and_do_not_show_it(moorage):
    cluster = moorage.cluster("ids")
    role = moorage.role("viewers", path="/team/")
    user = moorage.iam.CreateUser(CTX, {"UserName": "bob"})["User"]
    unknown_role = f"arn:aws:iam::{ACCOUNT}:role/never-created"
    other_account = "arn:aws:iam::444455556666:role/partners"
    for arn in (role["Arn"], user["Arn"], unknown_role, other_account, ROOT.arn):
        view = moorage.eks.CreateAccessEntry(CTX, {"clusterName": "ids", "principalArn": arn})["accessEntry"]
        assert not any("id" in field.lower() and field != "accessEntryArn" for field in view)
        described = moorage.eks.DescribeAccessEntry(CTX, {"clusterName": "ids", "principalArn": arn})["accessEntry"]
        assert set(described) == {"clusterName", "principalArn", "kubernetesGroups", "accessEntryArn", "createdAt",
                                  "modifiedAt", "tags", "username", "type"}
    assert stored(moorage, cluster, role["Arn"])["_principalId"] == role["RoleId"]
    assert stored(moorage, cluster, user["Arn"])["_principalId"] == user["UserId"]
    # Principals Moorage's IAM does not have: nothing recorded, matched by ARN alone.
    for arn in (unknown_role, other_account, ROOT.arn):
        assert stored(moorage, cluster, arn)["_principalId"] is None


def test_a_recreated_role_is_not_mapped_until_its_entry_is_recreated(moorage):
    cluster = moorage.cluster("api")
    role = moorage.role("viewers")
    moorage.eks.CreateAccessEntry(CTX, {"clusterName": "api", "principalArn": role["Arn"]})
    moorage.eks.AssociateAccessPolicy(CTX, {"clusterName": "api", "principalArn": role["Arn"], "policyArn": VIEW,
                                            "accessScope": {"type": "cluster"}})
    user, _ = moorage.user(cluster, moorage.session(role["Arn"]))
    assert user["username"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/viewers/carol"
    assert user["extra"]["principalId"] == [f"{role['RoleId']}:carol"]
    old_review = review_of(user)
    assert access_policy_decision(moorage.store, cluster, old_review)[0]

    moorage.iam.DeleteRole(CTX, {"RoleName": "viewers"})
    recreated = moorage.role("viewers")
    assert recreated["Arn"] == role["Arn"] and recreated["RoleId"] != role["RoleId"]
    user, why = moorage.user(cluster, moorage.session(recreated["Arn"]))
    assert user is None
    assert "earlier IAM principal with this ARN" in why
    # The authorization webhook agrees: the new principal id has no access entry's policies.
    new_review = {**old_review, "extra": {**old_review["extra"], "principalId": [f"{recreated['RoleId']}:carol"]}}
    assert not access_policy_decision(moorage.store, cluster, new_review)[0]

    moorage.eks.DeleteAccessEntry(CTX, {"clusterName": "api", "principalArn": role["Arn"]})
    moorage.eks.CreateAccessEntry(CTX, {"clusterName": "api", "principalArn": role["Arn"]})
    moorage.eks.AssociateAccessPolicy(CTX, {"clusterName": "api", "principalArn": role["Arn"], "policyArn": VIEW,
                                            "accessScope": {"type": "cluster"}})
    user, _ = moorage.user(cluster, moorage.session(recreated["Arn"]))
    assert user["extra"]["principalId"] == [f"{recreated['RoleId']}:carol"]
    assert access_policy_decision(moorage.store, cluster, review_of(user))[0]
    assert not access_policy_decision(moorage.store, cluster, old_review)[0]  # the deleted role's id is no longer mapped


def test_a_role_with_a_path_is_bound_the_same_way(moorage):
    cluster = moorage.cluster("paths")
    role = moorage.role("deployers", path="/ci/")
    moorage.eks.CreateAccessEntry(CTX, {"clusterName": "paths", "principalArn": role["Arn"], "kubernetesGroups": ["ci"]})
    user, _ = moorage.user(cluster, moorage.session(role["Arn"]))
    assert user["groups"] == ["system:authenticated", "ci"]
    moorage.iam.DeleteRole(CTX, {"RoleName": "deployers"})
    recreated = moorage.role("deployers", path="/ci/")
    user, why = moorage.user(cluster, moorage.session(recreated["Arn"]))
    assert user is None and "earlier IAM principal" in why


def test_a_recreated_iam_user_is_not_mapped(moorage):
    cluster = moorage.cluster("users")
    created = moorage.iam.CreateUser(CTX, {"UserName": "bob"})["User"]
    moorage.eks.CreateAccessEntry(CTX, {"clusterName": "users", "principalArn": created["Arn"]})
    key = moorage.iam.CreateAccessKey(CTX, {"UserName": "bob"})["AccessKey"]
    user, _ = moorage.user(cluster, key)
    assert user["username"] == created["Arn"]

    moorage.iam.DeleteAccessKey(CTX, {"UserName": "bob", "AccessKeyId": key["AccessKeyId"]})
    moorage.iam.DeleteUser(CTX, {"UserName": "bob"})
    moorage.iam.CreateUser(CTX, {"UserName": "bob"})
    user, why = moorage.user(cluster, moorage.iam.CreateAccessKey(CTX, {"UserName": "bob"})["AccessKey"])
    assert user is None and "earlier IAM principal" in why


def test_entries_without_a_recorded_id_match_by_arn(moorage):
    """Entries stored before ids were recorded, and entries for roles IAM did not have when they were made."""
    cluster = moorage.cluster("legacy")
    role = moorage.role("old")
    moorage.eks.CreateAccessEntry(CTX, {"clusterName": "legacy", "principalArn": role["Arn"]})
    record = moorage.store.require(entry_key(cluster.key, role["Arn"]))
    moorage.store.update_spec(record, {k: v for k, v in record.spec.items() if k != "_principalId"})
    late = f"arn:aws:iam::{ACCOUNT}:role/late"
    moorage.eks.CreateAccessEntry(CTX, {"clusterName": "legacy", "principalArn": late})  # before the role exists

    moorage.iam.DeleteRole(CTX, {"RoleName": "old"})
    user, _ = moorage.user(cluster, moorage.session(moorage.role("old")["Arn"]))
    assert user["username"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/old/carol"
    user, _ = moorage.user(cluster, moorage.session(moorage.role("late")["Arn"]))
    assert user["username"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/late/carol"


def test_with_api_and_config_map_a_stale_entry_leaves_the_role_to_aws_auth(tmp_path):
    """aws-auth maps by ARN (as aws-iam-authenticator does), so the recreated role is still mapped there."""
    aws_auth = FixedAwsAuth({"mapRoles": f"- rolearn: arn:aws:iam::{ACCOUNT}:role/ops\n  username: ops\n  groups: [operators]\n"})
    moorage = Moorage(tmp_path, aws_auth)
    cluster = moorage.cluster("both", mode="API_AND_CONFIG_MAP")
    role = moorage.role("ops")
    moorage.eks.CreateAccessEntry(CTX, {"clusterName": "both", "principalArn": role["Arn"], "kubernetesGroups": ["entry"]})
    user, _ = moorage.user(cluster, moorage.session(role["Arn"]))
    assert user["groups"] == ["system:authenticated", "entry"]  # the entry wins over aws-auth

    moorage.iam.DeleteRole(CTX, {"RoleName": "ops"})
    user, _ = moorage.user(cluster, moorage.session(moorage.role("ops")["Arn"]))
    assert (user["username"], user["groups"]) == ("ops", ["system:authenticated", "operators"])


def test_entries_eks_makes_itself_record_the_roles_id(moorage):
    """Node group and Fargate roles, and the creator (here a role session, its role with a path)."""
    admin = moorage.role("admin", path="/people/")
    session = moorage.session(admin["Arn"], "dana")
    creator = moorage.credentials.principal_for(session["AccessKeyId"])
    as_creator = RequestContext(ACCOUNT, "us-west-2", creator.arn, session["AccessKeyId"], "req-2", principal=creator)
    subnets = [s["SubnetId"] for s in default_subnets(ACCOUNT, CTX.region)][:2]
    moorage.eks.CreateCluster(as_creator, {
        "name": "made", "roleArn": f"arn:aws:iam::{ACCOUNT}:role/eks", "resourcesVpcConfig": {"subnetIds": subnets},
        "accessConfig": {"authenticationMode": "API"},
    })
    cluster = moorage.store.merge_status(moorage.eks.clusters.get(CTX, "made"), status="ACTIVE")
    creator_entry = stored(moorage, cluster, f"arn:aws:iam::{ACCOUNT}:role/admin")
    assert creator_entry["_principalId"] == admin["RoleId"]
    user, _ = moorage.user(cluster, session)
    assert user["username"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/admin/dana"

    nodes = moorage.role("nodes")
    moorage.eks.CreateNodegroup(CTX, {"clusterName": "made", "nodegroupName": "ng", "subnets": subnets, "nodeRole": nodes["Arn"],
                                      "scalingConfig": {"minSize": 1, "maxSize": 1, "desiredSize": 1}})
    assert stored(moorage, cluster, nodes["Arn"])["_principalId"] == nodes["RoleId"]
