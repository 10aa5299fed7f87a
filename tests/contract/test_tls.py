"""`moorage up --tls`: the AWS endpoint over HTTPS with the Moorage CA, through real clients (boto3 with
verify=<CA bundle>, the AWS CLI with AWS_CA_BUNDLE and through the `moorage` profile's ca_bundle), plain
HTTP refused on the TLS port, and aws:SecureTransport true over HTTPS and false over HTTP."""

import http.client
import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from ..conftest import ACCESS_KEY_ID, ACCOUNT_ID, SECRET_ACCESS_KEY, kill_leftovers, start_moorage

AWS = str(Path(sys.executable).parent / "aws")
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/tls-eks-cluster"
# Allowed everything, except over plain HTTP: the policy AWS documents for "enforce encryption in transit".
SECURE_ONLY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["eks:*", "iam:ListUsers"], "Resource": "*"},
    {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
]})


@pytest.fixture(scope="module")
def tls_moorage(tmp_path_factory):
    root = tmp_path_factory.mktemp("moorage-tls")
    aws_files = {"AWS_CONFIG_FILE": str(root / "aws-config"), "AWS_SHARED_CREDENTIALS_FILE": str(root / "aws-credentials")}
    running = start_moorage(root / "data", args=["--tls", "--api-workers", "1"],
                            extra_env={"MOORAGE_TOOLCHAIN_DIR": str(root / "no-toolchain"), **aws_files})
    running.aws_files = aws_files
    yield running
    running.stop()
    kill_leftovers(root)


def secure_only_user(moorage, name: str, **client_args) -> tuple[str, str]:
    iam = moorage.client("iam", region="us-east-1", **client_args)
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="secure-transport-only", PolicyDocument=SECURE_ONLY)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def test_boto3_trusting_the_ca_bundle_describes_clusters_and_lists_users(tls_moorage):
    assert tls_moorage.url.startswith("https://")
    verify = str(tls_moorage.ca_bundle)
    ec2 = tls_moorage.client("ec2", verify=verify)
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    subnets = sorted(subnets, key=lambda s: s["AvailabilityZone"])[:2]
    eks = tls_moorage.client("eks", verify=verify)
    eks.create_cluster(name="tls-demo", roleArn=ROLE, resourcesVpcConfig={"subnetIds": [s["SubnetId"] for s in subnets]})
    cluster = eks.describe_cluster(name="tls-demo")["cluster"]
    assert cluster["name"] == "tls-demo"
    # The OIDC issuer is https, as kube-apiserver's service-account issuer discovery requires.
    assert cluster["identity"]["oidc"]["issuer"].startswith(f"{tls_moorage.url}/_moorage/oidc/id/")
    iam = tls_moorage.client("iam", region="us-east-1", verify=verify)
    assert "Users" in iam.list_users()


def test_start_prints_the_ca_bundle_and_the_profile_names_it(tls_moorage):
    assert f"trust the Moorage CA at {tls_moorage.ca_bundle}" in tls_moorage.log()
    config = Path(tls_moorage.aws_files["AWS_CONFIG_FILE"]).read_text()
    assert f"ca_bundle = {tls_moorage.ca_bundle}" in config
    assert f"endpoint_url = {tls_moorage.url}" in config


def test_an_untrusted_client_is_refused_by_verification(tls_moorage):
    iam = tls_moorage.client("iam", region="us-east-1")  # verifies against the system CAs only
    with pytest.raises(botocore.exceptions.SSLError):
        iam.list_users()


def test_aws_cli_with_aws_ca_bundle(tls_moorage):
    env = tls_moorage.env()
    assert env["AWS_CA_BUNDLE"] == str(tls_moorage.ca_bundle)
    result = subprocess.run([AWS, "iam", "list-users", "--region", "us-east-1"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Users" in json.loads(result.stdout)
    result = subprocess.run([AWS, "eks", "list-clusters"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    untrusted = {k: v for k, v in env.items() if k != "AWS_CA_BUNDLE"}
    result = subprocess.run([AWS, "eks", "list-clusters"], env=untrusted, capture_output=True, text=True)
    assert result.returncode != 0 and "SSL" in result.stderr


def test_aws_cli_through_the_moorage_profile_alone(tls_moorage):
    """The unmodified AWS CLI with only `--profile moorage`: endpoint, credentials and CA all from the files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(tls_moorage.aws_files)
    result = subprocess.run([AWS, "--profile", "moorage", "iam", "list-users"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_api_process_serves_tls(tls_moorage):
    """Fresh connections land on the main process or the API worker (SO_REUSEPORT): all speak TLS."""
    context = ssl.create_default_context(cafile=str(tls_moorage.ca_bundle))
    for _ in range(24):
        connection = http.client.HTTPSConnection("127.0.0.1", tls_moorage.port, context=context, timeout=5)
        connection.request("GET", "/_moorage/health")
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read())["status"] == "ok"
        connection.close()


def test_plain_http_to_the_tls_port_is_refused(tls_moorage):
    with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):
        urllib.request.urlopen(f"http://127.0.0.1:{tls_moorage.port}/_moorage/health", timeout=5).read()
    iam = boto3.client("iam", endpoint_url=f"http://127.0.0.1:{tls_moorage.port}", region_name="us-east-1",
                       aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY,
                       config=Config(retries={"max_attempts": 1}))
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        iam.list_users()


def test_secure_transport_false_denies_over_http_only(tls_moorage, moorage):
    verify = str(tls_moorage.ca_bundle)
    access_key, secret_key = secure_only_user(tls_moorage, "tls-secure-only", verify=verify)
    over_https = tls_moorage.client("iam", region="us-east-1", verify=verify, access_key=access_key, secret_key=secret_key)
    assert "Users" in over_https.list_users()
    tls_moorage.client("eks", verify=verify, access_key=access_key, secret_key=secret_key).list_clusters()

    access_key, secret_key = secure_only_user(moorage, "tls-secure-only")
    assert moorage.url.startswith("http://")
    over_http = moorage.client("iam", region="us-east-1", access_key=access_key, secret_key=secret_key)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        over_http.list_users()
    assert excinfo.value.response["Error"]["Code"] == "AccessDenied"
    assert "explicit deny" in excinfo.value.response["Error"]["Message"]
    # The transport decides, not what the client claims: a signed X-Forwarded-Proto: https changes nothing.
    over_http.meta.events.register("before-sign.iam.*", lambda request, **_: request.headers.__setitem__("X-Forwarded-Proto", "https"))
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        over_http.list_users()
    assert excinfo.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        moorage.client("eks", access_key=access_key, secret_key=secret_key, config=Config(retries={"max_attempts": 1})).list_clusters()
    assert excinfo.value.response["Error"]["Code"] == "AccessDeniedException"


def test_root_credentials_work_over_tls_with_the_test_keys(tls_moorage):
    sts = tls_moorage.client("sts", region="us-east-1", verify=str(tls_moorage.ca_bundle),
                             access_key=ACCESS_KEY_ID, secret_key=SECRET_ACCESS_KEY)
    assert sts.get_caller_identity()["Account"] == ACCOUNT_ID


def test_restart_reuses_the_ca_and_leaves_an_existing_profile_alone(tmp_path):
    aws_files = {"AWS_CONFIG_FILE": str(tmp_path / "aws-config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials")}
    env = {"MOORAGE_TOOLCHAIN_DIR": str(tmp_path / "no-toolchain"), **aws_files}
    plain = start_moorage(tmp_path / "data", extra_env=env)  # writes the profile for plain HTTP
    assert plain.stop() == 0
    profile = Path(aws_files["AWS_CONFIG_FILE"]).read_text()
    assert "ca_bundle" not in profile

    first = start_moorage(tmp_path / "data", extra_env=env, args=["--tls"])
    ca = first.ca_bundle.read_bytes()
    serving = (tmp_path / "data" / "tls" / "serving.crt").read_bytes()
    assert first.stop() == 0
    second = start_moorage(tmp_path / "data", extra_env=env, args=["--tls"], port=first.port)
    try:
        assert second.ca_bundle.read_bytes() == ca
        assert (tmp_path / "data" / "tls" / "serving.crt").read_bytes() == serving
        assert Path(aws_files["AWS_CONFIG_FILE"]).read_text() == profile
        assert f"already exists and was left as it is; for this endpoint it needs endpoint_url = {second.url} " \
               f"and ca_bundle = {second.ca_bundle}" in second.log()
        assert "Users" in second.client("iam", region="us-east-1", verify=str(second.ca_bundle)).list_users()
    finally:
        second.stop()
        kill_leftovers(tmp_path)
