"""EKS bearer tokens, made the way `aws eks get-token` makes them, checked by the token webhook."""

import base64
import unittest.mock
from datetime import datetime, timedelta, timezone

import boto3
import pytest

from moorage.gateway.webhooks import TokenRejected, verify_token
from moorage.services.accounts import CredentialStore, RootAccount

ROOT = RootAccount("111122223333", "AKIAMOORAGETESTROOT1", "moorage-test-secret-access-key-0123456789")
CREDENTIALS = CredentialStore(ROOT)


def make_token(cluster: str, secret: str = ROOT.secret_access_key, key: str = ROOT.access_key_id, when=None) -> str:
    """What awscli's `eks get-token` does: presign GetCallerIdentity with x-k8s-aws-id signed in."""
    sts = boto3.client(
        "sts", region_name="us-west-2", endpoint_url="https://sts.us-west-2.amazonaws.com",
        aws_access_key_id=key, aws_secret_access_key=secret,
    )

    def add_cluster_header(request, **kwargs):
        request.headers["x-k8s-aws-id"] = cluster

    sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_cluster_header)
    if when is None:
        url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    else:
        with unittest.mock.patch("botocore.auth.get_current_datetime", lambda: when.replace(tzinfo=None)):
            url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def test_valid_token_names_the_principal():
    principal = verify_token(make_token("demo"), "demo", CREDENTIALS)
    assert principal.arn == "arn:aws:iam::111122223333:root"
    assert principal.account_id == "111122223333"


def test_token_for_another_cluster_is_rejected():
    with pytest.raises(TokenRejected, match="SignatureDoesNotMatch"):
        verify_token(make_token("other"), "demo", CREDENTIALS)


def test_token_signed_with_a_wrong_secret_is_rejected():
    with pytest.raises(TokenRejected, match="SignatureDoesNotMatch"):
        verify_token(make_token("demo", secret="x" * 40), "demo", CREDENTIALS)


def test_token_of_an_unknown_key_is_rejected():
    with pytest.raises(TokenRejected, match="InvalidClientTokenId"):
        verify_token(make_token("demo", key="AKIAUNKNOWNUNKNOWN00"), "demo", CREDENTIALS)


def test_token_older_than_15_minutes_is_rejected():
    stale = make_token("demo", when=datetime.now(timezone.utc) - timedelta(minutes=16))
    with pytest.raises(TokenRejected, match="expired"):
        verify_token(stale, "demo", CREDENTIALS)


def test_token_14_minutes_old_is_still_valid():
    # STS ignores X-Amz-Expires=60 on these URLs and gives the 15-minute window (as EKS does).
    verify_token(make_token("demo", when=datetime.now(timezone.utc) - timedelta(minutes=14)), "demo", CREDENTIALS)


@pytest.mark.parametrize(
    "token, reason",
    [
        ("Bearer abc", "missing k8s-aws-v1. prefix"),
        ("k8s-aws-v1.!!!", "not valid base64url"),
        ("k8s-aws-v1." + "a" * 5000, "too large"),
        (
            "k8s-aws-v1." + base64.urlsafe_b64encode(b"https://sts.amazonaws.com/?Action=ListUsers").decode().rstrip("="),
            "not a GetCallerIdentity request",
        ),
        (
            "k8s-aws-v1." + base64.urlsafe_b64encode(b"https://[sts/?Action=GetCallerIdentity").decode().rstrip("="),
            "must be an STS URL",
        ),
    ],
)
def test_malformed_tokens_are_rejected(token, reason):
    with pytest.raises(TokenRejected, match=reason):
        verify_token(token, "demo", CREDENTIALS)
