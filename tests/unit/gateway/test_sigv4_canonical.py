"""SigV4 canonical forms as botocore computes them, and what the endpoint routes and reads from them:
the path signed is the path routed, '+' in a query is a plus, and an operation a model update marks
unsigned is still authenticated unless Moorage's own list names it (issue 12, findings 3 and 4)."""

from __future__ import annotations

import asyncio
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from botocore.utils import normalize_url_path

from moorage.gateway.aws import UNSIGNED_OPERATIONS, AwsEndpoint, aws_request, unsigned_operation
from moorage.gateway.protocols import AwsRequest, get_service_model, route
from moorage.gateway.sigv4 import canonical_query, canonical_uri, normalized_path
from moorage.services.accounts import CredentialStore, RootAccount

ROOT = RootAccount("111122223333", "AKIAMOORAGETESTROOT1", "moorage-test-secret-access-key-0123456789")

PATHS = [
    "", "/", "//", "/clusters/a", "/clusters/a/", "/clusters/a/addons/..", "/clusters/a/addons/../",
    "//clusters//a", "/clusters/./a", "/clusters/x/../a", "/../clusters/a", "/clusters/a/..", "/a/b/../../..",
    "/clusters/a%2F..", "/clusters/%2E%2E", "/tags/arn%3Aaws%3Aeks%3Aus-west-2%3A1%3Acluster%2Fa", "/./", "/a/.",
]


@pytest.mark.parametrize("path", PATHS)
def test_paths_normalize_as_botocore_signs_them(path):
    assert normalized_path(path) == normalize_url_path(path)
    assert canonical_uri(path) == canonical_uri(normalized_path(path))


@pytest.mark.parametrize(
    "raw, canonical",
    [
        ("UserName=a+b", "UserName=a%2Bb"),
        ("UserName=a%2Bb", "UserName=a%2Bb"),
        ("UserName=a%2bb", "UserName=a%2Bb"),
        ("UserName=a%20b", "UserName=a%20b"),
        ("UserName=a%252Bb", "UserName=a%252Bb"),
        ("v=%FF%FE", "v=%FF%FE"),  # bytes that are not UTF-8 sign as they came
        ("b=2&a=1&a=0", "a=0&a=1&b=2"),
        ("flag&x=", "flag=&x="),
        ("k=~-_.", "k=~-_."),
        ("k=%7E", "k=~"),
    ],
)
def test_query_canonical_form(raw, canonical):
    assert canonical_query(raw, drop_signature=False) == canonical


def test_a_plus_in_a_query_reads_as_a_plus():
    request = AwsRequest("GET", "/", "Action=GetUser&UserName=a+b&Other=a%2Bb&Space=a%20b")
    assert dict(request.query_params()) == {"Action": "GetUser", "UserName": "a+b", "Other": "a+b", "Space": "a b"}


def test_forms_in_bodies_keep_their_form_meaning():
    request = AwsRequest("POST", "/", headers={"content-type": "application/x-www-form-urlencoded"}, body="UserName=a+b")
    assert dict(request.form_params()) == {"UserName": "a b"}  # the body is hashed: no second meaning


def test_the_routed_operation_is_the_signed_path():
    wire = aws_request(mock.Mock(raw_path="/clusters/a/addons/..?x=1", method="GET", headers={}), b"")
    assert (wire.path, wire.query_string) == ("/clusters/a", "x=1")
    _, operation = route(wire)
    assert operation.name == "DescribeCluster"


# --- unsigned operations: Moorage's list, not the model alone --------------------------------------------------


def _call(service: str, operation: str, body: str):
    endpoint = AwsEndpoint({}, CredentialStore(ROOT))

    async def run():
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", endpoint.handle)
        async with TestClient(TestServer(app)) as client:
            response = await client.post("/", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
            return response.status, await response.text()

    return asyncio.run(run())


def test_an_operation_a_model_update_marks_unsigned_is_still_authenticated():
    model = get_service_model("iam").operation_model("CreateUser")
    assert not unsigned_operation(model)
    with mock.patch.object(model, "auth_type", "none"), mock.patch.object(model, "auth", ["smithy.api#noAuth"]):
        assert not unsigned_operation(model)
        status, text = _call("iam", "CreateUser", "Action=CreateUser&UserName=x&Version=2010-05-08")
    assert status == 403 and "<Code>MissingAuthenticationToken</Code>" in text


def test_only_listed_operations_that_the_model_marks_unsigned_skip_the_signature():
    assert UNSIGNED_OPERATIONS == {("sts", "AssumeRoleWithWebIdentity")}
    model = get_service_model("sts").operation_model("AssumeRoleWithWebIdentity")
    assert unsigned_operation(model)
    body = "Action=AssumeRoleWithWebIdentity&RoleArn=arn:aws:iam::111122223333:role/r&RoleSessionName=s" \
           "&WebIdentityToken=t&Version=2011-06-15"
    status, text = _call("sts", "AssumeRoleWithWebIdentity", body)
    assert "MissingAuthenticationToken" not in text  # past authentication (no STS service wired here)
    # The model no longer saying so is enough to require a signature.
    with mock.patch.object(model, "auth_type", None), mock.patch.object(model, "auth", ["aws.auth#sigv4"]):
        assert not unsigned_operation(model)
        status, text = _call("sts", "AssumeRoleWithWebIdentity", body)
    assert status == 403 and "<Code>MissingAuthenticationToken</Code>" in text
