"""SigV4 verification against requests signed by botocore itself."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.credentials import Credentials

from moorage.gateway.protocols import AwsError, AwsRequest, Headers, get_service_model
from moorage.gateway.sigv4 import verify

from .examples import botocore_request, to_aws_request

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEYS = {ACCESS_KEY: SECRET}


def lookup(access_key_id: str) -> str | None:
    return KEYS.get(access_key_id)


def _signed_at(request: AwsRequest) -> datetime:
    return datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)


def _botocore(service: str, operation: str, params: dict, *, secret=SECRET, region="us-east-1",
              token=None, before_signing=None) -> AwsRequest:
    model = get_service_model(service).operation_model(operation)
    request = botocore_request(model, params, endpoint=f"https://{service}.{region}.amazonaws.com")
    if before_signing:
        before_signing(request)
    SigV4Auth(Credentials(ACCESS_KEY, secret, token), model.service_model.signing_name, region).add_auth(request)
    return to_aws_request(request)


def _presigned(expires: int = 60, region: str = "us-east-1") -> AwsRequest:
    # What `aws eks get-token` builds: a presigned STS GetCallerIdentity GET carrying x-k8s-aws-id.
    model = get_service_model("sts").operation_model("GetCallerIdentity")
    request = botocore_request(model, {}, endpoint=f"https://sts.{region}.amazonaws.com")
    request.method = "GET"
    request.headers["x-k8s-aws-id"] = "demo"
    SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET), "sts", region, expires=expires).add_auth(request)
    return to_aws_request(request)


def _presigned_at(request: AwsRequest) -> datetime:
    value = dict(request.query_params())["X-Amz-Date"]
    return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)


def _fails(request: AwsRequest, protocol="query", **kwargs) -> AwsError:
    if "now" not in kwargs:
        kwargs["now"] = _when(request)
    with pytest.raises(AwsError) as caught:
        verify(request, lookup, protocol=protocol, **kwargs)
    return caught.value


def _when(request: AwsRequest) -> datetime:
    if "X-Amz-Date" in request.headers:
        return _signed_at(request) + timedelta(seconds=5)
    return _presigned_at(request) + timedelta(seconds=5)


EKS_CREATE = {
    "name": "demo",
    "roleArn": "arn:aws:iam::123456789012:role/eks",
    "resourcesVpcConfig": {"subnetIds": ["s-1"]},
}


def _rewrite_header(request: AwsRequest, header: str, change) -> None:
    """Change one header the way a man in the middle would."""
    headers = Headers()
    for name, value in request.headers.items():
        headers.add(name, change(value) if name.lower() == header else value)
    request.headers = headers


# --- success -----------------------------------------------------------------------------------------


def test_header_signature_from_botocore_verifies():
    request = _botocore("eks", "CreateCluster", EKS_CREATE, region="eu-west-1")
    identity = verify(request, lookup, protocol="rest-json", service="eks", now=_when(request))
    assert (identity.access_key_id, identity.region, identity.service) == (ACCESS_KEY, "eu-west-1", "eks")
    assert identity.signed_at == _signed_at(request)
    assert identity.session_token is None


def test_percent_encoded_path_and_query_verify():
    arn = "arn:aws:eks:us-east-1:123456789012:cluster/demo"
    request = _botocore("eks", "UntagResource", {"resourceArn": arn, "tagKeys": ["a b", "c/d"]})
    assert "%3A" in request.path and request.query_string
    verify(request, lookup, protocol="rest-json", now=_when(request))


@pytest.mark.parametrize(
    ("service", "operation", "params"),
    [
        ("sts", "GetCallerIdentity", {}),
        ("iam", "CreateRole", {"RoleName": "r", "AssumeRolePolicyDocument": "{}"}),
        ("ec2", "DescribeVpcs", {"VpcIds": ["vpc-1"]}),
        ("autoscaling", "DescribeAutoScalingGroups", {}),
        ("logs", "CreateLogGroup", {"logGroupName": "/aws/eks/demo/cluster"}),
    ],
)
def test_every_protocol_verifies(service, operation, params):
    request = _botocore(service, operation, params)
    assert verify(request, lookup, service=service, now=_when(request)).service == service


def test_session_token_is_returned():
    request = _botocore("sts", "GetCallerIdentity", {}, token="FwoGZXIvYXdzEXAMPLE")
    assert verify(request, lookup, now=_when(request)).session_token == "FwoGZXIvYXdzEXAMPLE"


def test_date_header_instead_of_x_amz_date():
    def use_date_header(request):
        request.headers["Date"] = "placeholder; botocore rewrites it"

    request = _botocore("sts", "GetCallerIdentity", {}, before_signing=use_date_header)
    assert "X-Amz-Date" not in request.headers
    when = parsedate_to_datetime(request.headers["Date"]).replace(tzinfo=timezone.utc)
    assert verify(request, lookup, now=when).signed_at == when


def test_unsigned_payload_only_where_the_operation_allows_it():
    def unsigned(request):
        request.context["payload_signing_enabled"] = False

    request = _botocore("logs", "CreateLogGroup", {"logGroupName": "g"}, before_signing=unsigned)
    assert request.headers["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"
    request.body = b'{"logGroupName": "another"}'
    # Not an operation AWS lets opt out of body signing: the body would be anyone's to change.
    assert _fails(request, protocol="json").code == "InvalidSignatureException"
    verify(request, lookup, protocol="json", now=_when(request), unsigned_payload=True)


def test_presigned_url_verifies():
    request = _presigned(expires=60)
    assert request.headers.get("authorization") is None
    identity = verify(request, lookup, service="sts", now=_presigned_at(request) + timedelta(seconds=30))
    assert (identity.service, identity.region) == ("sts", "us-east-1")


def test_presigned_url_without_honouring_expires_gets_fifteen_minutes():
    request = _presigned(expires=60)
    later = _presigned_at(request) + timedelta(minutes=10)
    verify(request, lookup, now=later, honour_expires=False)
    error = _fails(request, now=_presigned_at(request) + timedelta(minutes=16), honour_expires=False)
    assert error.code == "SignatureDoesNotMatch"
    assert error.message.startswith("Signature expired: ")


# --- failures --------------------------------------------------------------------------------------------

MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


def test_wrong_secret():
    request = _botocore("sts", "GetCallerIdentity", {}, secret="not-the-secret")
    error = _fails(request)
    assert (error.code, error.status, error.message) == ("SignatureDoesNotMatch", 403, MISMATCH)
    error = _fails(request, protocol="rest-json")
    assert (error.code, error.status) == ("InvalidSignatureException", 403)


def test_unknown_access_key():
    request = _botocore("sts", "GetCallerIdentity", {})
    KEYS.pop(ACCESS_KEY)
    try:
        error = _fails(request)
        assert (error.code, error.status, error.message) == (
            "InvalidClientTokenId",
            403,
            "The security token included in the request is invalid.",
        )
        assert _fails(request, protocol="rest-json").code == "UnrecognizedClientException"
        error = _fails(request, protocol="ec2")
        assert (error.code, error.status, error.message) == (
            "AuthFailure",
            401,
            "AWS was not able to validate the provided access credentials",
        )
    finally:
        KEYS[ACCESS_KEY] = SECRET


def test_tampered_body():
    request = _botocore("eks", "CreateCluster", EKS_CREATE)
    request.body = request.body.replace(b"demo", b"evil")
    assert _fails(request, protocol="rest-json").code == "InvalidSignatureException"


def test_tampered_signed_header():
    request = _botocore("logs", "CreateLogGroup", {"logGroupName": "g"})
    _rewrite_header(request, "x-amz-target", lambda _: "Logs_20140328.DeleteLogGroup")
    error = _fails(request, protocol="json")
    assert (error.code, error.message) == ("InvalidSignatureException", MISMATCH)


def test_tampered_query_string():
    request = _botocore("eks", "ListClusters", {"maxResults": 5})
    request.query_string = request.query_string.replace("maxResults=5", "maxResults=50")
    assert _fails(request, protocol="rest-json").code == "InvalidSignatureException"

    presigned = _presigned()
    presigned.query_string = presigned.query_string.replace("GetCallerIdentity", "GetSessionToken")
    assert _fails(presigned).code == "SignatureDoesNotMatch"


def test_declared_payload_hash_must_match_the_body():
    def declare_hash(request):
        request.headers["X-Amz-Content-SHA256"] = "0" * 64

    request = _botocore("sts", "GetCallerIdentity", {}, before_signing=declare_hash)
    assert _fails(request).message == MISMATCH


def test_signature_sixteen_minutes_old():
    request = _botocore("sts", "GetCallerIdentity", {})
    signed = _signed_at(request)
    now = signed + timedelta(minutes=16)
    error = _fails(request, now=now)
    stamp = "%Y%m%dT%H%M%SZ"
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    assert error.message == (
        f"Signature expired: {signed.strftime(stamp)} is now earlier than "
        f"{(now - timedelta(minutes=15)).strftime(stamp)} ({now.strftime(stamp)} - 15 min.)"
    )
    assert _fails(request, protocol="rest-json", now=now).code == "InvalidSignatureException"
    error = _fails(request, protocol="ec2", now=now)
    assert (error.code, error.status, error.message) == ("RequestExpired", 400, "Request has expired.")


def test_signature_from_the_future():
    request = _botocore("sts", "GetCallerIdentity", {})
    error = _fails(request, now=_signed_at(request) - timedelta(minutes=16))
    assert error.message.startswith("Signature not yet current: ")
    assert error.message.endswith("+ 15 min.)")


def test_expired_presigned_url():
    request = _presigned(expires=60)
    error = _fails(request, now=_presigned_at(request) + timedelta(seconds=61))
    assert (error.code, error.message) == ("SignatureDoesNotMatch", "Request has expired.")


def test_scope_date_must_match_request_date():
    request = _botocore("sts", "GetCallerIdentity", {})
    signed = _signed_at(request)
    next_day = (signed + timedelta(days=1)).strftime("%Y%m%dT%H%M%SZ")
    _rewrite_header(request, "x-amz-date", lambda _: next_day)
    error = _fails(request, now=signed + timedelta(days=1))
    assert error.code == "SignatureDoesNotMatch"
    assert error.message == (
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        f"'{signed:%Y%m%d}' != '{next_day[:8]}', from '{next_day}'."
    )


def test_scope_region_service_and_terminator():
    request = _botocore("sts", "GetCallerIdentity", {}, region="aws-global")
    assert _fails(request).message == "Credential should be scoped to a valid region, not 'aws-global'."
    request = _botocore("sts", "GetCallerIdentity", {}, region="us-west-2")
    assert _fails(request, regions=["us-east-1"]).message == (
        "Credential should be scoped to a valid region, not 'us-west-2'."
    )
    assert _fails(request, service="iam").message == "Credential should be scoped to correct service: 'iam'."

    request = _botocore("sts", "GetCallerIdentity", {})
    _rewrite_header(request, "authorization", lambda value: value.replace("/aws4_request", "/aws5_request"))
    assert _fails(request).message == (
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."
    )


def test_unsigned_request():
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    request = AwsRequest("POST", "/", "", form, b"Action=GetCallerIdentity")
    error = _fails(request, now=datetime.now(timezone.utc))
    assert (error.code, error.status, error.message) == (
        "MissingAuthenticationToken",
        403,
        "Request is missing Authentication Token",
    )
    error = _fails(AwsRequest("GET", "/clusters"), protocol="rest-json", now=datetime.now(timezone.utc))
    assert (error.code, error.status, error.message) == (
        "MissingAuthenticationTokenException",
        403,
        "Missing Authentication Token",
    )


def test_malformed_authorization_header():
    request = AwsRequest("GET", "/clusters", "", {"Authorization": "Bearer abc", "X-Amz-Date": "20240101T000000Z"})
    error = _fails(request, protocol="rest-json", now=datetime(2024, 1, 1, tzinfo=timezone.utc))
    assert error.code == "IncompleteSignatureException"
    assert error.message == (
        "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. "
        "Authorization header requires 'SignedHeaders' parameter. Authorization=Bearer abc"
    )
    authorization = "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=x"
    no_date = AwsRequest("GET", "/", "", {"Authorization": authorization})
    error = _fails(no_date, now=datetime.now(timezone.utc))
    assert "requires existence of either a 'X-Amz-Date' or a 'Date' header" in error.message


def test_host_must_be_signed():
    request = _botocore("sts", "GetCallerIdentity", {})
    _rewrite_header(request, "authorization", lambda value: value.replace("host;", ""))
    assert _fails(request).code == "IncompleteSignature"


def test_non_ascii_signature_is_a_mismatch_not_a_crash():
    request = _botocore("sts", "GetCallerIdentity", {})
    _rewrite_header(request, "authorization", lambda value: value[:-3] + "äöü")
    assert _fails(request).message == MISMATCH


def test_empty_authorization_header_counts_as_missing():
    request = AwsRequest("GET", "/clusters", "", {"Authorization": ""})
    assert _fails(request, protocol="rest-json", now=datetime.now(timezone.utc)).code == (
        "MissingAuthenticationTokenException"
    )
