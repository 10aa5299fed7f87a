"""Authorisation in-process: security tokens, web identity tokens, the resource each call names, and
the policy cache following IAM writes."""

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from moorage.core.context import Principal, RequestContext
from moorage.core.errors import AwsError
from moorage.gateway import sigv4
from moorage.gateway.authorize import Authorizer, require_pass_role
from moorage.infra.pki import key_id
from moorage.services.iam.service import IamService
from moorage.services.sts.sessions import StsSessions, account_of_session_key
from moorage.services.sts.web_identity import read_token, verify_token
from moorage.store import SqliteStore

ACCOUNT = "111122223333"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


# --- security tokens ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "protocol, invalid, expired",
    [
        ("query", ("InvalidClientTokenId", 403), ("ExpiredToken", 403)),
        ("rest-json", ("UnrecognizedClientException", 403), ("ExpiredTokenException", 403)),
        ("json", ("UnrecognizedClientException", 400), ("ExpiredTokenException", 400)),
        ("ec2", ("AuthFailure", 401), ("RequestExpired", 400)),
    ],
)
def test_security_token_checks_per_protocol(protocol, invalid, expired):
    now = time.time()
    sigv4.check_security_token(None, None, None, protocol)
    sigv4.check_security_token("tok", now + 60, "tok", protocol, now=now)
    for expected, presented in ((None, "tok"), ("tok", None), ("tok", "other")):
        with pytest.raises(AwsError) as excinfo:
            sigv4.check_security_token(expected, now + 60, presented, protocol, now=now)
        assert (excinfo.value.code, excinfo.value.status) == invalid
    with pytest.raises(AwsError) as excinfo:
        sigv4.check_security_token("tok", now, "tok", protocol, now=now)
    assert (excinfo.value.code, excinfo.value.status) == expired


# --- web identity tokens -----------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.fixture(scope="module")
def signing_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwt(key, claims: dict, alg: str = "RS256", kid: str | None = None) -> str:
    header = {"alg": alg, "kid": kid or key_id(key.public_key())}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def test_web_identity_tokens(signing_key):
    keys = {key_id(signing_key.public_key()): signing_key.public_key()}
    now = time.time()
    claims = {"iss": "https://issuer", "sub": "system:serviceaccount:ns:sa", "aud": ["sts.amazonaws.com"], "exp": int(now) + 600, "nbf": int(now)}
    token = read_token(jwt(signing_key, claims))
    assert token.audiences == ["sts.amazonaws.com"]
    verify_token(token, keys, now=now)

    def failure(text: str, keys=keys, at: float = now) -> tuple[str, str]:
        with pytest.raises(AwsError) as excinfo:
            verify_token(read_token(text), keys, now=at)
        return excinfo.value.code, excinfo.value.message

    assert failure(jwt(signing_key, claims), at=claims["exp"]) == (
        "ExpiredTokenException",
        f"Token expired: current date/time {claims['exp']} must be before the expiration date/time {claims['exp']}",
    )
    assert failure(jwt(signing_key, {**claims, "nbf": int(now) + 3600}))[0] == "InvalidIdentityToken"
    assert failure(jwt(signing_key, claims), keys=None)[1].startswith("Couldn't retrieve verification key")
    assert failure(jwt(signing_key, claims, kid="someone-else"))[1].startswith("Couldn't retrieve verification key")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert failure(jwt(other, claims, kid=key_id(signing_key.public_key())))[0] == "InvalidIdentityToken"
    header, payload, signature = jwt(signing_key, claims).split(".")
    assert failure(".".join([b64url(json.dumps({"alg": "none"}).encode()), payload, ""]))[0] == "InvalidIdentityToken"
    for malformed in ("a.b", "x.y.z", f"{header}.{b64url(b'[]')}.{signature}"):
        with pytest.raises(AwsError) as excinfo:
            read_token(malformed)
        assert excinfo.value.code == "InvalidIdentityToken"


def test_web_identity_tokens_with_odd_claims_are_invalid(signing_key):
    """A kid that is not a string, or an exp of Infinity or NaN (valid JSON for Python), is STS's
    InvalidIdentityToken, not an internal error."""
    keys = {key_id(signing_key.public_key()): signing_key.public_key()}
    claims = {"iss": "https://issuer", "sub": "s", "aud": "sts.amazonaws.com", "exp": int(time.time()) + 600}
    header, payload, signature = jwt(signing_key, claims).split(".")
    odd = [
        f"{b64url(json.dumps({'alg': 'RS256', 'kid': ['k']}).encode())}.{payload}.{signature}",
        f"{header}.{b64url(json.dumps({**claims, 'exp': float('inf')}).encode())}.{signature}",
        f"{header}.{b64url(json.dumps({**claims, 'exp': float('nan')}).encode())}.{signature}",
    ]
    for text in odd:
        with pytest.raises(AwsError) as excinfo:
            verify_token(read_token(text), keys)
        assert excinfo.value.code == "InvalidIdentityToken"


# --- the authorizer ----------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    return SqliteStore(tmp_path / "state.db")


def root_context() -> RequestContext:
    return RequestContext(ACCOUNT, "us-east-1", ROOT, "AKIAROOT", "r", principal=Principal(ACCOUNT, ROOT, ACCOUNT, "AKIAROOT"))


def user_context(arn: str, authorizer: Authorizer, region: str = "us-west-2") -> RequestContext:
    principal = Principal(ACCOUNT, arn, "AIDAEXAMPLE", "AKIAUSER")
    return RequestContext(ACCOUNT, region, arn, "AKIAUSER", "r", principal=principal, source_ip="10.1.2.3", authorizer=authorizer)


def test_policies_are_cached_until_iam_changes(store):
    iam = IamService(store, "AKIAROOT")
    authorizer = Authorizer(store)
    arn = iam.CreateUser(root_context(), {"UserName": "ann"})["User"]["Arn"]
    iam.PutUserPolicy(root_context(), {"UserName": "ann", "PolicyName": "p", "PolicyDocument": policy(
        {"Effect": "Allow", "Action": "eks:DescribeCluster", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}
    )})
    ctx = user_context(arn, authorizer)
    authorizer.authorize_call(ctx, "eks", "rest-json", "DescribeCluster", {"name": "c"})
    first = authorizer.permissions(arn)
    assert authorizer.permissions(arn) is first  # cached while IAM is unchanged
    with pytest.raises(AwsError) as excinfo:
        authorizer.authorize_call(ctx, "eks", "rest-json", "DeleteCluster", {"name": "c"})
    assert excinfo.value.message == (
        f"User: {arn} is not authorized to perform: eks:DeleteCluster on resource: "
        f"arn:aws:eks:us-west-2:{ACCOUNT}:cluster/c because no identity-based policy allows the eks:DeleteCluster action"
    )
    iam.DeleteUserPolicy(root_context(), {"UserName": "ann", "PolicyName": "p"})
    assert authorizer.permissions(arn) is not first
    with pytest.raises(AwsError):
        authorizer.authorize_call(ctx, "eks", "rest-json", "DescribeCluster", {"name": "c"})
    # A second Authorizer (another process) sees the same generation.
    assert Authorizer(store).permissions(arn).generation == authorizer.permissions(arn).generation


def test_resources_and_pass_role(store):
    iam = IamService(store, "AKIAROOT")
    authorizer = Authorizer(store)
    arn = iam.CreateUser(root_context(), {"UserName": "bob", "Path": "/eng/"})["User"]["Arn"]
    ctx = user_context(arn, authorizer)
    assert authorizer.resource_of(ctx, "iam", "GetUser", {"UserName": "bob"})[0] == arn
    assert authorizer.resource_of(ctx, "iam", "ListAccessKeys", {})[0] == arn
    assert authorizer.resource_of(ctx, "iam", "CreateRole", {"RoleName": "r", "Path": "/x/"})[0] == f"arn:aws:iam::{ACCOUNT}:role/x/r"
    assert authorizer.resource_of(ctx, "eks", "DescribeNodegroup", {"clusterName": "c", "nodegroupName": "n"})[0] == (
        f"arn:aws:eks:us-west-2:{ACCOUNT}:nodegroup/c/n/*"  # its UUID unknown until it exists
    )
    assert authorizer.resource_of(ctx, "eks", "DescribeClusterVersions", {})[0] == "*"
    assert authorizer.resource_of(ctx, "ec2", "DescribeVpcs", {})[0] == "*"

    role = f"arn:aws:iam::{ACCOUNT}:role/eks"
    with pytest.raises(AwsError) as excinfo:
        require_pass_role(ctx, role)
    assert (excinfo.value.code, excinfo.value.status) == ("AccessDeniedException", 403)
    assert "iam:PassRole on resource: " + role in excinfo.value.message
    iam.PutUserPolicy(root_context(), {"UserName": "bob", "PolicyName": "pass", "PolicyDocument": policy(
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role, "Condition": {"StringEquals": {"iam:PassedToService": "eks.amazonaws.com"}}}
    )})
    require_pass_role(ctx, role)
    with pytest.raises(AwsError):
        require_pass_role(ctx, role, service="ec2.amazonaws.com")
    require_pass_role(root_context(), role)  # the root is never checked


def test_group_membership_is_authorised_on_the_group(store):
    """AddUserToGroup and RemoveUserFromGroup act on the group: rights over one's own user must not
    let a user join the admins' group."""
    iam = IamService(store, "AKIAROOT")
    authorizer = Authorizer(store)
    arn = iam.CreateUser(root_context(), {"UserName": "mallory"})["User"]["Arn"]
    iam.CreateGroup(root_context(), {"GroupName": "admins"})
    iam.CreateGroup(root_context(), {"GroupName": "readers"})
    iam.PutUserPolicy(root_context(), {"UserName": "mallory", "PolicyName": "self", "PolicyDocument": policy(
        {"Effect": "Allow", "Action": "iam:*", "Resource": f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}"},
        {"Effect": "Allow", "Action": "iam:AddUserToGroup", "Resource": f"arn:aws:iam::{ACCOUNT}:group/readers"},
    )})
    ctx = user_context(arn, authorizer)
    assert authorizer.resource_of(ctx, "iam", "RemoveUserFromGroup", {"GroupName": "admins", "UserName": "mallory"})[0] == (
        f"arn:aws:iam::{ACCOUNT}:group/admins"
    )
    with pytest.raises(AwsError) as excinfo:
        authorizer.authorize_call(ctx, "iam", "query", "AddUserToGroup", {"GroupName": "admins", "UserName": "mallory"})
    assert excinfo.value.code == "AccessDenied"
    assert f"on resource: arn:aws:iam::{ACCOUNT}:group/admins" in excinfo.value.message
    authorizer.authorize_call(ctx, "iam", "query", "AddUserToGroup", {"GroupName": "readers", "UserName": "mallory"})


def test_sessions_carry_their_account(store):
    sessions = StsSessions(store)
    credentials = sessions.issue(ACCOUNT, "arn:aws:sts::111122223333:assumed-role/r/s", "AROAX:s", "arn:aws:iam::111122223333:role/r", 900)
    assert credentials["AccessKeyId"].startswith("ASIA") and account_of_session_key(credentials["AccessKeyId"]) == ACCOUNT
    secret, principal = sessions(credentials["AccessKeyId"])
    assert secret == credentials["SecretAccessKey"] and principal.session_token == credentials["SessionToken"]
    assert principal.expires_at == int(credentials["Expiration"].timestamp())
    assert sessions("ASIA" + "A" * 16) is None and sessions("AKIA" + credentials["AccessKeyId"][4:]) is None


def test_eks_tokens_of_role_sessions_need_their_security_token(store):
    """`aws eks get-token` with session credentials presigns X-Amz-Security-Token into the URL."""
    import boto3

    from moorage.gateway.webhooks import TokenRejected, verify_token
    from moorage.services.accounts import CredentialStore, RootAccount

    sessions = StsSessions(store)
    credentials = sessions.issue(ACCOUNT, f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s", "AROAX:s", f"arn:aws:iam::{ACCOUNT}:role/r", 900)
    store_credentials = CredentialStore(RootAccount(ACCOUNT, "AKIAROOTKEY000000000", "x" * 40), [sessions])

    def token(session_token: str) -> str:
        sts = boto3.client(
            "sts", region_name="us-west-2", endpoint_url="https://sts.us-west-2.amazonaws.com",
            aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=session_token,
        )
        sts.meta.events.register("before-sign.sts.GetCallerIdentity", lambda request, **_: request.headers.__setitem__("x-k8s-aws-id", "demo"))
        url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
        return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")

    assert verify_token(token(credentials["SessionToken"]), "demo", store_credentials).arn.endswith(":assumed-role/r/s")
    with pytest.raises(TokenRejected, match="InvalidClientTokenId"):
        verify_token(token("forged"), "demo", store_credentials)
