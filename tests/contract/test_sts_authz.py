"""STS role sessions and IAM authorisation of every call, through real clients (boto3 and the AWS
CLI) against a running Moorage: identity policies, explicit denies, AssumeRole and its trust
policies, session credentials, iam:PassRole, OIDC providers, and the errors AWS gives for each."""

import datetime
import json
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from unittest import mock

import botocore.auth
import botocore.exceptions
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from ..conftest import ACCOUNT_ID

REGION = "eu-west-1"  # clusters of these tests live apart from the other contract tests'
CLUSTER = "authz-cluster"
EKS_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/authz-eks-cluster"


def document(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*") -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource}


def trust(principal: dict, action: str = "sts:AssumeRole", **extra) -> str:
    return document({"Effect": "Allow", "Principal": principal, "Action": action, **extra})


def error_of(excinfo):
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"].get("Message", "")


@pytest.fixture(scope="module")
def iam(moorage):
    return moorage.client("iam", region="us-east-1")


@pytest.fixture(scope="module")
def subnets(moorage):
    found = moorage.client("ec2", region=REGION).describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])
    return [s["SubnetId"] for s in found["Subnets"]][:2]


@pytest.fixture(scope="module")
def cluster(moorage, iam, subnets):
    iam.create_role(RoleName="authz-eks-cluster", AssumeRolePolicyDocument=trust({"Service": "eks.amazonaws.com"}))
    moorage.client("eks", region=REGION).create_cluster(name=CLUSTER, roleArn=EKS_ROLE, resourcesVpcConfig={"subnetIds": subnets})
    return CLUSTER


class User:
    """An IAM user with an access key, and clients that sign as it."""

    def __init__(self, moorage, iam, name: str, *policies: str):
        self.moorage, self.name = moorage, name
        self.arn = iam.create_user(UserName=name)["User"]["Arn"]
        for index, policy in enumerate(policies):
            iam.put_user_policy(UserName=name, PolicyName=f"p{index}", PolicyDocument=policy)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        self.key_id, self.secret = key["AccessKeyId"], key["SecretAccessKey"]

    def client(self, service: str, region: str = REGION, token: str | None = None):
        return self.moorage.client(service, region=region, access_key=self.key_id, secret_key=self.secret, aws_session_token=token)

    def env(self) -> dict:
        return {"AWS_ACCESS_KEY_ID": self.key_id, "AWS_SECRET_ACCESS_KEY": self.secret, "AWS_DEFAULT_REGION": REGION}


def session_client(moorage, credentials: dict, service: str, region: str = REGION, token: str | None = "same"):
    return moorage.client(
        service, region=region, access_key=credentials["AccessKeyId"], secret_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"] if token == "same" else token,
    )


def aws_cli(moorage, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    merged = {**moorage.env(), **(env or {})}
    if env and "AWS_SESSION_TOKEN" not in env:
        merged.pop("AWS_SESSION_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "awscli", *args], capture_output=True, text=True, timeout=60, env=merged)


# --- identity policies ------------------------------------------------------------------------------


def test_user_allowed_only_describe_cluster(moorage, iam, cluster, subnets):
    viewer = User(moorage, iam, "authz-viewer", document(allow("eks:DescribeCluster")))
    eks = viewer.client("eks")
    assert eks.describe_cluster(name=cluster)["cluster"]["name"] == cluster

    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.create_cluster(name="authz-denied", roleArn=EKS_ROLE, resourcesVpcConfig={"subnetIds": subnets})
    assert error_of(excinfo) == (
        "AccessDeniedException", 403,
        f"User: {viewer.arn} is not authorized to perform: eks:CreateCluster on resource: "
        f"arn:aws:eks:{REGION}:{ACCOUNT_ID}:cluster/authz-denied because no identity-based policy allows the eks:CreateCluster action",
    )
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.list_clusters()
    assert error_of(excinfo)[2].endswith(
        f"eks:ListClusters on resource: arn:aws:eks:{REGION}:{ACCOUNT_ID}:cluster/* because no identity-based policy allows the eks:ListClusters action"
    )
    # Nothing was created.
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        moorage.client("eks", region=REGION).describe_cluster(name="authz-denied")
    assert error_of(excinfo)[0] == "ResourceNotFoundException"

    # Each service denies in its own words.
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        viewer.client("ec2").describe_vpcs()
    assert error_of(excinfo) == (
        "UnauthorizedOperation", 403,
        f"You are not authorized to perform this operation. User: {viewer.arn} is not authorized to perform: "
        "ec2:DescribeVpcs because no identity-based policy allows the ec2:DescribeVpcs action",
    )
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        viewer.client("iam", region="us-east-1").list_users()
    assert error_of(excinfo)[:2] == ("AccessDenied", 403)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        viewer.client("autoscaling").describe_auto_scaling_groups()
    assert error_of(excinfo)[:2] == ("AccessDenied", 403)
    # GetCallerIdentity needs no permission, as on AWS.
    assert viewer.client("sts").get_caller_identity()["Arn"] == viewer.arn

    # The AWS CLI sees the same.
    described = aws_cli(moorage, "eks", "describe-cluster", "--name", cluster, env=viewer.env())
    assert described.returncode == 0, described.stderr
    assert json.loads(described.stdout)["cluster"]["name"] == cluster
    created = aws_cli(
        moorage, "eks", "create-cluster", "--name", "authz-cli", "--role-arn", EKS_ROLE,
        "--resources-vpc-config", f"subnetIds={','.join(subnets)}", env=viewer.env(),
    )
    assert created.returncode != 0
    assert "AccessDeniedException" in created.stderr and "eks:CreateCluster" in created.stderr


def test_explicit_deny_beats_allow_and_changes_nothing(moorage, iam, cluster):
    user = User(moorage, iam, "authz-denied-delete", document(allow("eks:*"), deny("eks:DeleteCluster")))
    eks = user.client("eks")
    assert eks.describe_cluster(name=cluster)["cluster"]["name"] == cluster
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.delete_cluster(name=cluster)
    assert error_of(excinfo) == (
        "AccessDeniedException", 403,
        f"User: {user.arn} is not authorized to perform: eks:DeleteCluster on resource: "
        f"arn:aws:eks:{REGION}:{ACCOUNT_ID}:cluster/{cluster} with an explicit deny in an identity-based policy",
    )
    status = moorage.client("eks", region=REGION).describe_cluster(name=cluster)["cluster"]["status"]
    assert status != "DELETING"


def test_group_policies_resource_patterns_and_conditions(moorage, iam, cluster):
    iam.create_group(GroupName="authz-readers")
    iam.put_group_policy(
        GroupName="authz-readers", PolicyName="read",
        PolicyDocument=document(allow("eks:Describe*", f"arn:aws:eks:{REGION}:{ACCOUNT_ID}:cluster/authz-*",
                                      Condition={"StringEquals": {"aws:RequestedRegion": REGION}})),
    )
    user = User(moorage, iam, "authz-grouped")
    iam.add_user_to_group(GroupName="authz-readers", UserName="authz-grouped")
    assert user.client("eks").describe_cluster(name=cluster)["cluster"]["name"] == cluster
    # Another region fails the condition; the cluster does not exist there either, but the denial comes first.
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        user.client("eks", region="eu-central-1").describe_cluster(name=cluster)
    assert error_of(excinfo)[:2] == ("AccessDeniedException", 403)
    # Tag conditions: aws:ResourceTag reads the cluster's tags; aws:RequestTag the request's.
    root_eks = moorage.client("eks", region=REGION)
    cluster_arn = root_eks.describe_cluster(name=cluster)["cluster"]["arn"]
    iam.put_user_policy(
        UserName="authz-grouped", PolicyName="tags",
        PolicyDocument=document(
            allow("eks:TagResource", Condition={"StringEquals": {"aws:ResourceTag/team": "blue", "aws:RequestTag/stage": "dev"}}),
        ),
    )
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        user.client("eks").tag_resource(resourceArn=cluster_arn, tags={"stage": "dev"})
    assert error_of(excinfo)[0] == "AccessDeniedException"
    root_eks.tag_resource(resourceArn=cluster_arn, tags={"team": "blue"})
    user.client("eks").tag_resource(resourceArn=cluster_arn, tags={"stage": "dev"})
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        user.client("eks").tag_resource(resourceArn=cluster_arn, tags={"stage": "prod"})
    assert error_of(excinfo)[0] == "AccessDeniedException"


def test_joining_a_group_is_authorised_on_the_group(moorage, iam):
    """Rights over one's own user (a common self-service policy) must not let a user join the admins."""
    iam.create_group(GroupName="authz-admins")
    iam.attach_group_policy(GroupName="authz-admins", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.create_group(GroupName="authz-joinable")
    user = User(moorage, iam, "authz-self-service", document(
        allow("iam:*", f"arn:aws:iam::{ACCOUNT_ID}:user/${{aws:username}}"),
        allow("iam:AddUserToGroup", f"arn:aws:iam::{ACCOUNT_ID}:group/authz-joinable"),
    ))
    own_iam = user.client("iam", region="us-east-1")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        own_iam.add_user_to_group(GroupName="authz-admins", UserName=user.name)
    assert error_of(excinfo) == (
        "AccessDenied", 403,
        f"User: {user.arn} is not authorized to perform: iam:AddUserToGroup on resource: "
        f"arn:aws:iam::{ACCOUNT_ID}:group/authz-admins because no identity-based policy allows the iam:AddUserToGroup action",
    )
    own_iam.add_user_to_group(GroupName="authz-joinable", UserName=user.name)
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=user.name)["Groups"]] == ["authz-joinable"]


def test_a_removed_policy_stops_working_at_once(moorage, iam):
    user = User(moorage, iam, "authz-revoked", document(allow("ec2:DescribeVpcs")))
    ec2 = user.client("ec2")
    assert ec2.describe_vpcs()["Vpcs"]
    iam.delete_user_policy(UserName="authz-revoked", PolicyName="p0")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.describe_vpcs()
    assert error_of(excinfo)[0] == "UnauthorizedOperation"
    policy_arn = iam.create_policy(PolicyName="authz-vpcs", PolicyDocument=document(allow("ec2:DescribeVpcs")))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="authz-revoked", PolicyArn=policy_arn)
    assert ec2.describe_vpcs()["Vpcs"]
    iam.detach_user_policy(UserName="authz-revoked", PolicyArn=policy_arn)
    with pytest.raises(botocore.exceptions.ClientError):
        ec2.describe_vpcs()


# --- AssumeRole -------------------------------------------------------------------------------------


def test_assumed_role_carries_its_policies(moorage, iam):
    user = User(moorage, iam, "authz-assumer")
    role = iam.create_role(RoleName="authz-vpc-reader", AssumeRolePolicyDocument=trust({"AWS": user.arn}))["Role"]
    iam.put_role_policy(RoleName="authz-vpc-reader", PolicyName="vpcs", PolicyDocument=document(allow("ec2:DescribeVpcs")))

    assumed = user.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="alice@example", DurationSeconds=900)
    credentials = assumed["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA") and len(credentials["AccessKeyId"]) == 20
    expected_arn = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/authz-vpc-reader/alice@example"
    assert assumed["AssumedRoleUser"] == {"AssumedRoleId": f"{role['RoleId']}:alice@example", "Arn": expected_arn}
    remaining = credentials["Expiration"] - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(minutes=14) < remaining <= datetime.timedelta(minutes=15)

    identity = session_client(moorage, credentials, "sts").get_caller_identity()
    assert identity == {**identity, "Arn": expected_arn, "UserId": f"{role['RoleId']}:alice@example", "Account": ACCOUNT_ID}
    ec2 = session_client(moorage, credentials, "ec2")
    assert ec2.describe_vpcs()["Vpcs"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.describe_subnets()
    assert error_of(excinfo) == (
        "UnauthorizedOperation", 403,
        f"You are not authorized to perform this operation. User: {expected_arn} is not authorized to perform: "
        "ec2:DescribeSubnets because no identity-based policy allows the ec2:DescribeSubnets action",
    )

    # The AWS CLI: assume-role, then call with the session's three values.
    result = aws_cli(moorage, "sts", "assume-role", "--role-arn", role["Arn"], "--role-session-name", "cli", env=user.env())
    assert result.returncode == 0, result.stderr
    cli_credentials = json.loads(result.stdout)["Credentials"]
    session_env = {
        "AWS_ACCESS_KEY_ID": cli_credentials["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": cli_credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": cli_credentials["SessionToken"], "AWS_DEFAULT_REGION": REGION,
    }
    who = aws_cli(moorage, "sts", "get-caller-identity", env=session_env)
    assert who.returncode == 0, who.stderr
    assert json.loads(who.stdout)["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/authz-vpc-reader/cli"
    denied = aws_cli(moorage, "ec2", "describe-subnets", env=session_env)
    assert denied.returncode != 0 and "UnauthorizedOperation" in denied.stderr


def test_assume_role_denied_unless_trusted(moorage, iam):
    user = User(moorage, iam, "authz-stranger")
    other = iam.create_user(UserName="authz-someone-else")["User"]["Arn"]
    role_arn = iam.create_role(RoleName="authz-not-for-you", AssumeRolePolicyDocument=trust({"AWS": other}))["Role"]["Arn"]
    sts = user.client("sts")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="try")
    assert error_of(excinfo) == (
        "AccessDenied", 403, f"User: {user.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    )
    # A role that does not exist is denied the same way (no enumeration of roles).
    missing = f"arn:aws:iam::{ACCOUNT_ID}:role/authz-no-such-role"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        sts.assume_role(RoleArn=missing, RoleSessionName="try")
    assert error_of(excinfo)[:2] == ("AccessDenied", 403)

    # Trusting the account delegates to the caller's own policies.
    account_role = iam.create_role(RoleName="authz-account-trust", AssumeRolePolicyDocument=trust({"AWS": ACCOUNT_ID}))["Role"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        sts.assume_role(RoleArn=account_role["Arn"], RoleSessionName="try")
    assert error_of(excinfo)[0] == "AccessDenied"
    iam.put_user_policy(UserName="authz-stranger", PolicyName="assume", PolicyDocument=document(allow("sts:AssumeRole", account_role["Arn"])))
    assert sts.assume_role(RoleArn=account_role["Arn"], RoleSessionName="now")["AssumedRoleUser"]["Arn"].endswith("/now")

    # ExternalId conditions, and the duration limits.
    external = iam.create_role(
        RoleName="authz-external",
        AssumeRolePolicyDocument=trust({"AWS": user.arn}, Condition={"StringEquals": {"sts:ExternalId": "s3cr3t"}}),
    )["Role"]["Arn"]
    with pytest.raises(botocore.exceptions.ClientError):
        sts.assume_role(RoleArn=external, RoleSessionName="x1")
    sts.assume_role(RoleArn=external, RoleSessionName="x1", ExternalId="s3cr3t")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        sts.assume_role(RoleArn=external, RoleSessionName="x1", ExternalId="s3cr3t", DurationSeconds=7200)
    assert error_of(excinfo) == (
        "ValidationError", 400, "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
    )
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        sts.assume_role(RoleArn="arn:aws:iam::role-without-account", RoleSessionName="x1")
    assert error_of(excinfo) == ("ValidationError", 400, "Request ARN is invalid")
    unvalidated = moorage.client(
        "sts", region=REGION, access_key=user.key_id, secret_key=user.secret,
        config=Config(retries={"max_attempts": 1}, parameter_validation=False),
    )
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        unvalidated.assume_role(RoleArn=external, RoleSessionName="bad name!", ExternalId="s3cr3t", DurationSeconds=60)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ValidationError", 400) and "roleSessionName" in message and "durationSeconds" in message


def test_session_policy_and_malformed_policies(moorage, iam):
    user = User(moorage, iam, "authz-scoped")
    iam.create_role(RoleName="authz-broad", AssumeRolePolicyDocument=trust({"AWS": user.arn}))
    iam.put_role_policy(RoleName="authz-broad", PolicyName="ec2", PolicyDocument=document(allow("ec2:Describe*")))
    role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/authz-broad"
    sts = user.client("sts")
    scoped = sts.assume_role(RoleArn=role_arn, RoleSessionName="scoped", Policy=document(allow("ec2:DescribeVpcs")))
    assert 0 < scoped["PackedPolicySize"] <= 100
    ec2 = session_client(moorage, scoped["Credentials"], "ec2")
    assert ec2.describe_vpcs()["Vpcs"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.describe_subnets()
    assert error_of(excinfo)[2].endswith("because no session policy allows the ec2:DescribeSubnets action")

    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="bad", Policy='{"Version": "2012-10-17", "Statement": ')
    assert error_of(excinfo) == ("MalformedPolicyDocument", 400, "Syntax errors in policy.")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.put_user_policy(UserName="authz-scoped", PolicyName="bad", PolicyDocument='{"Statement": [{"Effect": "Allow"}]}')
    assert error_of(excinfo)[:2] == ("MalformedPolicyDocument", 400)
    assert iam.list_user_policies(UserName="authz-scoped")["PolicyNames"] == []


# --- credentials that must not work -----------------------------------------------------------------


def _state_db(moorage) -> sqlite3.Connection:
    return sqlite3.connect(moorage.data_dir / "state.db", timeout=30)


def test_session_tokens_must_match_and_expire(moorage, iam):
    user = User(moorage, iam, "authz-tokens")
    role_arn = iam.create_role(RoleName="authz-tokens", AssumeRolePolicyDocument=trust({"AWS": user.arn}))["Role"]["Arn"]
    credentials = user.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="tk")["Credentials"]
    invalid = "The security token included in the request is invalid."
    for token in ("forged-" + credentials["SessionToken"][7:], None):
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            session_client(moorage, credentials, "sts", token=token).get_caller_identity()
        assert error_of(excinfo) == ("InvalidClientTokenId", 403, invalid)
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            session_client(moorage, credentials, "eks", token=token).list_clusters()
        assert error_of(excinfo) == ("UnrecognizedClientException", 403, invalid)
    # A long-term key with a session token is refused too.
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        user.client("sts", token=credentials["SessionToken"]).get_caller_identity()
    assert error_of(excinfo)[:2] == ("InvalidClientTokenId", 403)

    # Expiry: move the session's expiration into the past, as time passing would.
    with _state_db(moorage) as db:
        db.execute(
            "UPDATE records SET spec=json_set(spec, '$.Expiration', ?) WHERE kind='sts-session' AND name=?",
            (int(time.time()) - 1, credentials["AccessKeyId"]),
        )
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        session_client(moorage, credentials, "sts").get_caller_identity()
    assert error_of(excinfo) == ("ExpiredToken", 403, "The security token included in the request is expired")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        session_client(moorage, credentials, "eks").list_clusters()
    assert error_of(excinfo) == ("ExpiredTokenException", 403, "The security token included in the request is expired")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        session_client(moorage, credentials, "ec2").describe_vpcs()
    assert error_of(excinfo) == ("RequestExpired", 400, "Request has expired.")


def test_inactive_and_deleted_keys(moorage, iam):
    user = User(moorage, iam, "authz-keys", document(allow("ec2:DescribeVpcs")))
    assert user.client("ec2").describe_vpcs()["Vpcs"]
    iam.update_access_key(UserName="authz-keys", AccessKeyId=user.key_id, Status="Inactive")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        user.client("sts").get_caller_identity()
    assert error_of(excinfo) == ("InvalidClientTokenId", 403, "The security token included in the request is invalid.")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        user.client("ec2").describe_vpcs()
    assert error_of(excinfo) == ("AuthFailure", 401, "AWS was not able to validate the provided access credentials")
    iam.delete_access_key(UserName="authz-keys", AccessKeyId=user.key_id)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        user.client("eks").list_clusters()
    assert error_of(excinfo)[:2] == ("UnrecognizedClientException", 403)


def _signed(moorage, key: str, secret: str, region: str, service: str, token: str | None = None) -> AWSRequest:
    request = AWSRequest(
        method="POST", url=moorage.url + "/", data="Action=GetCallerIdentity&Version=2011-06-15",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    botocore.auth.SigV4Auth(Credentials(key, secret, token), service, region).add_auth(request)
    return request


def _send(request: AWSRequest) -> tuple[int, str]:
    prepared = request.prepare()
    http = urllib.request.Request(prepared.url, data=prepared.body.encode() if isinstance(prepared.body, str) else prepared.body,
                                  headers=dict(prepared.headers), method=prepared.method)
    try:
        with urllib.request.urlopen(http, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_signatures_outside_the_window_or_scope(moorage, iam):
    user = User(moorage, iam, "authz-signing")
    status, body = _send(_signed(moorage, user.key_id, user.secret, "us-east-1", "sts"))
    assert status == 200 and user.arn in body
    twenty_minutes_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=twenty_minutes_ago.replace(tzinfo=None)):
        stale = _signed(moorage, user.key_id, user.secret, "us-east-1", "sts")
    status, body = _send(stale)
    assert status == 403 and "<Code>SignatureDoesNotMatch</Code>" in body and "Signature expired" in body
    # A scope whose date is not the request's.
    request = _signed(moorage, user.key_id, user.secret, "us-east-1", "sts")
    today = request.headers["X-Amz-Date"][:8]
    request.headers["Authorization"] = request.headers["Authorization"].replace(f"/{today}/", "/20200101/")
    status, body = _send(request)
    assert status == 403 and "<Code>SignatureDoesNotMatch</Code>" in body and "Date in Credential scope does not match" in body
    status, body = _send(_signed(moorage, user.key_id, user.secret, "xx-nowhere-1", "sts"))
    assert status == 403 and "Credential should be scoped to a valid region" in body
    wrong_secret = user.secret[:-1] + ("Y" if user.secret.endswith("X") else "X")  # always a different secret
    status, body = _send(_signed(moorage, user.key_id, wrong_secret, "us-east-1", "sts"))
    assert status == 403 and "<Code>SignatureDoesNotMatch</Code>" in body


def test_an_oversized_body_is_the_clients_error(moorage):
    """A body over the gateway's 16 MiB limit is a 413, not an InternalFailure."""
    request = urllib.request.Request(
        moorage.url + "/", data=b"Action=GetCallerIdentity&Version=2011-06-15&Padding=" + b"a" * (17 * 1024 * 1024),
        headers={"Content-Type": "application/x-www-form-urlencoded"}, method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=30)
    assert excinfo.value.code == 413 and excinfo.value.headers["x-amzn-ErrorType"] == "RequestEntityTooLarge"
    assert "limited to" in excinfo.value.read().decode()


# --- iam:PassRole -----------------------------------------------------------------------------------


def test_create_cluster_needs_pass_role(moorage, iam, subnets, cluster):
    creator = User(moorage, iam, "authz-creator", document(allow(["eks:CreateCluster", "eks:DescribeCluster"])))
    eks = creator.client("eks")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.create_cluster(name="authz-passrole", roleArn=EKS_ROLE, resourcesVpcConfig={"subnetIds": subnets})
    assert error_of(excinfo) == (
        "AccessDeniedException", 403,
        f"User: {creator.arn} is not authorized to perform: iam:PassRole on resource: {EKS_ROLE} "
        "because no identity-based policy allows the iam:PassRole action",
    )
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.describe_cluster(name="authz-passrole")
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    # PassRole for another service does not count; for EKS it does.
    iam.put_user_policy(
        UserName="authz-creator", PolicyName="pass",
        PolicyDocument=document(allow("iam:PassRole", EKS_ROLE, Condition={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}})),
    )
    with pytest.raises(botocore.exceptions.ClientError):
        eks.create_cluster(name="authz-passrole", roleArn=EKS_ROLE, resourcesVpcConfig={"subnetIds": subnets})
    iam.put_user_policy(
        UserName="authz-creator", PolicyName="pass",
        PolicyDocument=document(allow("iam:PassRole", EKS_ROLE, Condition={"StringEquals": {"iam:PassedToService": "eks.amazonaws.com"}})),
    )
    created = eks.create_cluster(name="authz-passrole", roleArn=EKS_ROLE, resourcesVpcConfig={"subnetIds": subnets})["cluster"]
    assert created["name"] == "authz-passrole"

    # Node groups check their node role the same way.
    node_role = f"arn:aws:iam::{ACCOUNT_ID}:role/authz-nodes"
    iam.put_user_policy(UserName="authz-creator", PolicyName="ng", PolicyDocument=document(allow("eks:CreateNodegroup")))
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.create_nodegroup(clusterName=cluster, nodegroupName="authz-ng", nodeRole=node_role, subnets=subnets)
    assert error_of(excinfo)[2].startswith(f"User: {creator.arn} is not authorized to perform: iam:PassRole on resource: {node_role}")


# --- OIDC providers and cluster issuers -------------------------------------------------------------


def test_oidc_providers(moorage, iam, cluster):
    issuer = moorage.client("eks", region=REGION).describe_cluster(name=cluster)["cluster"]["identity"]["oidc"]["issuer"]
    assert issuer.startswith(moorage.url + "/_moorage/oidc/id/")
    with urllib.request.urlopen(issuer + "/.well-known/openid-configuration", timeout=10) as response:
        discovery = json.loads(response.read())
    assert discovery["issuer"] == issuer and discovery["jwks_uri"] == issuer + "/keys"
    assert discovery["id_token_signing_alg_values_supported"] == ["RS256"]
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(moorage.url + "/_moorage/oidc/id/" + "0" * 32 + "/keys", timeout=10)
    assert missing.value.code == 404

    arn = iam.create_open_id_connect_provider(Url=issuer, ClientIDList=["sts.amazonaws.com"])["OpenIDConnectProviderArn"]
    host_path = issuer.split("://", 1)[1]
    assert arn == f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{host_path}"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.create_open_id_connect_provider(Url=issuer, ClientIDList=["sts.amazonaws.com"])
    assert error_of(excinfo)[:2] == ("EntityAlreadyExists", 409)
    assert {"Arn": arn} in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="extra")
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="sts.amazonaws.com")
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn, ThumbprintList=["a" * 40])
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert got["Url"] == host_path and got["ClientIDList"] == ["extra"] and got["ThumbprintList"] == ["a" * 40]

    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.create_open_id_connect_provider(Url="http://example.com", ClientIDList=["x"])
    assert error_of(excinfo) == ("InvalidInput", 400, "Invalid Open ID Connect Provider URL. The URL must begin with https://.")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.create_open_id_connect_provider(Url="example.com", ClientIDList=["x"])
    assert error_of(excinfo)[:2] == ("ValidationError", 400)
    cli = aws_cli(moorage, "iam", "create-open-id-connect-provider", "--url", "https://token.example.com", "--client-id-list", "a")
    assert cli.returncode == 0, cli.stderr
    listed = aws_cli(moorage, "iam", "list-open-id-connect-providers")
    assert "oidc-provider/token.example.com" in listed.stdout

    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert error_of(excinfo) == ("NoSuchEntity", 404, f"OpenIDConnect Provider not found for arn {arn}")


def test_web_identity_errors_without_a_cluster_key(moorage, iam):
    """AssumeRoleWithWebIdentity is unsigned; bad tokens get STS's errors (IRSA success: tests/e2e/test_irsa.py)."""
    sts = moorage.client("sts", region=REGION, config=Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 1}))
    role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/authz-vpc-reader"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="web", WebIdentityToken="not-a-jwt")
    assert error_of(excinfo)[:2] == ("InvalidIdentityToken", 400)

    def b64(value: dict) -> str:
        import base64
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    token = ".".join([b64({"alg": "RS256", "kid": "k"}), b64({"iss": "https://idp.example.com", "sub": "s", "aud": "a", "exp": 9999999999}), "c2ln"])
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="web", WebIdentityToken=token)
    assert error_of(excinfo) == ("InvalidIdentityToken", 400, "No OpenIDConnect provider found in your account for https://idp.example.com")
