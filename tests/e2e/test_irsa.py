"""IRSA end to end: a real cluster's service-account token exchanged for role credentials through
STS AssumeRoleWithWebIdentity, with the cluster's OIDC issuer registered as an IAM OIDC provider."""

import base64
import json
import subprocess
import sys
import urllib.request

import botocore
import botocore.exceptions
import pytest
from botocore.config import Config
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..conftest import ACCOUNT_ID, kill_leftovers, start_moorage

pytestmark = pytest.mark.toolchain

ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-cluster"
FAST = {"Delay": 1, "MaxAttempts": 180}
AUDIENCE = "sts.amazonaws.com"


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def fetch_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def clusters(tmp_path_factory, kubectl):
    root = tmp_path_factory.mktemp("irsa")
    moorage = start_moorage(root / "data")
    try:
        eks = moorage.client("eks")
        subnets = [s["SubnetId"] for s in moorage.client("ec2").describe_subnets()["Subnets"]][:2]
        for name in ("irsa-a", "irsa-b"):
            eks.create_cluster(name=name, roleArn=ROLE, resourcesVpcConfig={"subnetIds": subnets})
        envs = {}
        for name in ("irsa-a", "irsa-b"):
            eks.get_waiter("cluster_active").wait(name=name, WaiterConfig=FAST)
            env = {**moorage.env(), "KUBECONFIG": str(root / f"{name}.kubeconfig")}
            subprocess.run([sys.executable, "-m", "awscli", "eks", "update-kubeconfig", "--name", name], env=env, check=True, capture_output=True)
            envs[name] = env
        yield moorage, eks, envs
    finally:
        moorage.stop()
        kill_leftovers(root)


def service_account_token(kubectl, env, name: str, audience: str = AUDIENCE) -> str:
    subprocess.run([kubectl, "create", "serviceaccount", name], env=env, capture_output=True, text=True, timeout=60)
    result = subprocess.run(
        [kubectl, "create", "token", name, "--audience", audience], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def error_of(excinfo):
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"].get("Message", "")


def test_irsa_exchange_and_its_refusals(clusters, kubectl):
    moorage, eks, envs = clusters
    iam = moorage.client("iam", region="us-east-1")
    sts = moorage.client("sts", config=Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 1}))
    issuer = eks.describe_cluster(name="irsa-a")["cluster"]["identity"]["oidc"]["issuer"]
    issuer_b = eks.describe_cluster(name="irsa-b")["cluster"]["identity"]["oidc"]["issuer"]
    assert issuer != issuer_b

    # The issuer publishes discovery and the key that signs the cluster's tokens.
    token = service_account_token(kubectl, envs["irsa-a"], "app")
    header, claims = (json.loads(b64url_decode(part)) for part in token.split(".")[:2])
    assert claims["iss"] == issuer and claims["aud"] == [AUDIENCE] and claims["sub"] == "system:serviceaccount:default:app"
    discovery = fetch_json(issuer + "/.well-known/openid-configuration")
    assert discovery["issuer"] == issuer
    keys = fetch_json(discovery["jwks_uri"])["keys"]
    key = next(k for k in keys if k["kid"] == header["kid"])
    public_key = rsa.RSAPublicNumbers(
        int.from_bytes(b64url_decode(key["e"]), "big"), int.from_bytes(b64url_decode(key["n"]), "big")
    ).public_key()
    signing_input, signature = token.rsplit(".", 1)
    public_key.verify(b64url_decode(signature), signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())

    # Register the issuer and a role trusting exactly this service account.
    host_path = issuer.split("://", 1)[1]
    provider = iam.create_open_id_connect_provider(Url=issuer, ClientIDList=[AUDIENCE])["OpenIDConnectProviderArn"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{host_path}:sub": "system:serviceaccount:default:app", f"{host_path}:aud": AUDIENCE}},
        }],
    }
    role = iam.create_role(RoleName="irsa-app", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    iam.put_role_policy(
        RoleName="irsa-app", PolicyName="vpcs",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:DescribeVpcs", "Resource": "*"}]}),
    )

    assumed = sts.assume_role_with_web_identity(RoleArn=role["Arn"], RoleSessionName="pod-1", WebIdentityToken=token)
    assert assumed["SubjectFromWebIdentityToken"] == "system:serviceaccount:default:app"
    assert assumed["Audience"] == AUDIENCE and assumed["Provider"] == issuer
    credentials = assumed["Credentials"]
    session = dict(access_key=credentials["AccessKeyId"], secret_key=credentials["SecretAccessKey"], aws_session_token=credentials["SessionToken"])
    assert moorage.client("sts", **session).get_caller_identity()["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/irsa-app/pod-1"
    assert moorage.client("ec2", **session).describe_vpcs()["Vpcs"]

    # The AWS CLI takes the same path (the call is unsigned there too).
    cli = subprocess.run(
        [sys.executable, "-m", "awscli", "sts", "assume-role-with-web-identity", "--role-arn", role["Arn"],
         "--role-session-name", "cli", "--web-identity-token", token],
        env=moorage.env(), capture_output=True, text=True, timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["AssumedRoleUser"]["Arn"].endswith(":assumed-role/irsa-app/cli")

    def refused(web_token: str) -> tuple:
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            sts.assume_role_with_web_identity(RoleArn=role["Arn"], RoleSessionName="pod-1", WebIdentityToken=web_token)
        return error_of(excinfo)

    # Wrong audience, wrong subject.
    assert refused(service_account_token(kubectl, envs["irsa-a"], "app", audience="other")) == (
        "InvalidIdentityToken", 400, "Incorrect token audience"
    )
    assert refused(service_account_token(kubectl, envs["irsa-a"], "intruder")) == (
        "AccessDenied", 403, "Not authorized to perform sts:AssumeRoleWithWebIdentity"
    )
    # A token from the second cluster: unknown issuer, then (registered) not trusted by the role.
    token_b = service_account_token(kubectl, envs["irsa-b"], "app")
    assert refused(token_b) == ("InvalidIdentityToken", 400, f"No OpenIDConnect provider found in your account for {issuer_b}")
    iam.create_open_id_connect_provider(Url=issuer_b, ClientIDList=[AUDIENCE])
    assert refused(token_b) == ("AccessDenied", 403, "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    # Forgeries: cluster B's signature over cluster A's claims; A's token with a changed subject.
    header_b, _, signature_b = token_b.split(".")
    assert refused(".".join([header_b, token.split(".")[1], signature_b]))[:2] == ("InvalidIdentityToken", 400)
    forged_claims = b64url(json.dumps({**claims, "sub": "system:serviceaccount:default:app", "exp": claims["exp"] + 3600}).encode())
    assert refused(".".join([token.split(".")[0], forged_claims, token.split(".")[2]])) == (
        "InvalidIdentityToken", 400,
        "The web identity token that was passed could not be validated by AWS. "
        "Get a new identity token from the identity provider and then retry the request.",
    )
    # The original still works: nothing above changed anything.
    assert sts.assume_role_with_web_identity(RoleArn=role["Arn"], RoleSessionName="pod-2", WebIdentityToken=token)["Credentials"]
