"""The hostile-input suite: what an attacker on the wire or on the same host would send a running
Moorage. A signature captured for one request is replayed against altered ones (path, query
encoding, X-Amz-Target, content type, body, payload hash, time), webhooks are called without the
cluster's client certificate, and malformed requests are sent. Each gets AWS's error (never a 5xx)
and changes nothing; the original requests still work. The number of cases tried is printed in
the terminal summary (tests/contract/conftest.py)."""

from __future__ import annotations

import datetime
import hashlib
import http.client
import json
import re
import sqlite3
import time
from dataclasses import dataclass
from unittest import mock

import botocore.auth
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ..conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY

CREDENTIALS = Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
FORM = "application/x-www-form-urlencoded; charset=utf-8"
IAM_VERSION = "Version=2010-05-08"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def code(self) -> str:
        """The AWS error code, from whichever envelope the protocol uses ('' for a success)."""
        text = self.body.decode("utf-8", "replace")
        match = re.search(r"<Code>([^<]+)</Code>", text)
        if match:
            return match.group(1)
        if "x-amzn-errortype" in self.headers:
            return self.headers["x-amzn-errortype"].split(":")[0]
        try:
            document = json.loads(text)
        except ValueError:
            return ""
        return str(document.get("__type", "")).rpartition("#")[2] if isinstance(document, dict) else ""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def signed_headers(moorage, service: str, region: str, method: str, target: str, *, headers: dict | None = None,
                   body: bytes = b"", unsigned: tuple[str, ...] = ()) -> dict[str, str]:
    """The headers botocore's SigV4Auth puts on the request; headers named in `unsigned` are added
    after signing, so the signature does not cover them."""
    headers = dict(headers or {})
    late = {name: headers.pop(name) for name in list(headers) if name.lower() in {u.lower() for u in unsigned}}
    request = AWSRequest(method=method, url=moorage.url + target, data=body, headers=headers)
    SigV4Auth(CREDENTIALS, service, region).add_auth(request)
    return {**dict(request.headers.items()), **late}


def send(moorage, method: str, target: str, headers: dict[str, str], body: bytes = b"") -> Reply:
    """One request exactly as given: http.client neither normalizes the path nor re-encodes the query."""
    connection = http.client.HTTPConnection("127.0.0.1", moorage.port, timeout=30)
    try:
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def specs(moorage) -> list[tuple]:
    """Every record's desired state: what services write, so a refused request must leave it as it was."""
    with sqlite3.connect(moorage.data_dir / "state.db", timeout=30) as db:
        return db.execute("SELECT account, region, kind, name, spec FROM records ORDER BY 1, 2, 3, 4").fetchall()


class Refusals:
    """refused(reply, code, status): the reply is AWS's error, not a 5xx, and the store is as it was
    at the last mark() (the fixture marks on creation; a test marks again after its own set-up)."""

    def __init__(self, moorage, counter):
        self.moorage = moorage
        self.counter = counter
        self.mark()

    def mark(self) -> None:
        self.before = specs(self.moorage)

    def __call__(self, reply: Reply, code: str, status: int, family: str = "sigv4") -> Reply:
        self.counter[family] += 1
        assert reply.status < 500, reply.text
        assert (reply.code, reply.status) == (code, status), reply.text
        assert specs(self.moorage) == self.before
        return reply


@pytest.fixture
def refused(moorage, hostile_cases) -> Refusals:
    return Refusals(moorage, hostile_cases)


# --- the path that is signed is the path that is routed -------------------------------------------------


def test_a_signed_path_runs_only_the_operation_it_names(moorage, refused):
    target = "/clusters/hostile-none"
    headers = signed_headers(moorage, "eks", "us-west-2", "GET", target)
    original = send(moorage, "GET", target, headers)
    assert (original.code, original.status) == ("ResourceNotFoundException", 404)
    assert "No cluster found for name: hostile-none." in original.text
    # Paths that sign as /clusters/hostile-none (dot and empty segments removed, as botocore signs
    # them) are that path: DescribeCluster, never DescribeAddon(hostile-none, '..').
    for same in ("/clusters/hostile-none/addons/..", "//clusters/hostile-none", "/clusters/./hostile-none",
                 "/clusters/x/../hostile-none"):
        replay = refused(send(moorage, "GET", same, headers), "ResourceNotFoundException", 404)
        assert "No cluster found for name: hostile-none." in replay.text, same
    # Paths that name something else do not carry the signature.
    for other in ("/clusters/hostile-other", "/clusters/hostile-none/../hostile-other", "/clusters/hostile-none/addons/x",
                  "/clusters/hostile-none%2F..", "/clusters/HOSTILE-NONE"):
        refused(send(moorage, "GET", other, headers), "InvalidSignatureException", 403)


# --- '+' in a query string is a plus, as AWS signs and reads it -------------------------------------------


def test_plus_and_percent_2b_in_a_query_mean_a_plus(moorage, refused):
    iam = moorage.client("iam", region="us-east-1")
    iam.create_user(UserName="hostile+plus")
    refused.mark()
    target = f"/?Action=GetUser&UserName=hostile%2Bplus&{IAM_VERSION}"
    headers = signed_headers(moorage, "iam", "us-east-1", "GET", target)
    original = send(moorage, "GET", target, headers)
    assert original.status == 200 and "<UserName>hostile+plus</UserName>" in original.text
    # A literal '+' signs as %2B and means '+': the same request, never a space.
    replay = send(moorage, "GET", f"/?Action=GetUser&UserName=hostile+plus&{IAM_VERSION}", headers)
    assert replay.status == 200 and "<UserName>hostile+plus</UserName>" in replay.text, replay.text
    for other in ("hostile%20plus", "hostile%252Bplus", "hostile%2bplus%20"):
        refused(send(moorage, "GET", f"/?Action=GetUser&UserName={other}&{IAM_VERSION}", headers), "SignatureDoesNotMatch", 403)


# --- headers the request depends on are signed ------------------------------------------------------------


def test_x_amz_target_must_be_signed_and_cannot_be_swapped(moorage, refused):
    headers = {"X-Amz-Target": "Logs_20140328.DescribeLogGroups", "Content-Type": "application/x-amz-json-1.1"}
    signed = signed_headers(moorage, "logs", "us-west-2", "POST", "/", headers=headers, body=b"{}")
    original = send(moorage, "POST", "/", signed, b"{}")
    assert original.status < 500 and original.code not in ("InvalidSignatureException", "IncompleteSignatureException")
    swapped = {**signed, "X-Amz-Target": "Logs_20140328.DeleteLogGroup"}
    refused(send(moorage, "POST", "/", swapped, b'{"logGroupName":"x"}'), "InvalidSignatureException", 400)
    refused(send(moorage, "POST", "/", swapped, b"{}"), "InvalidSignatureException", 400)
    unsigned = signed_headers(moorage, "logs", "us-west-2", "POST", "/", headers=headers, body=b"{}", unsigned=("X-Amz-Target",))
    reply = refused(send(moorage, "POST", "/", unsigned, b"{}"), "IncompleteSignatureException", 400)
    assert "'X-Amz-Target' must be a 'SignedHeader'" in reply.text


def test_content_type_must_be_signed(moorage, refused):
    body = f"Action=CreateUser&UserName=hostile-ct&{IAM_VERSION}".encode()
    unsigned = signed_headers(moorage, "iam", "us-east-1", "POST", "/", headers={"Content-Type": FORM}, body=body,
                              unsigned=("Content-Type",))
    reply = refused(send(moorage, "POST", "/", unsigned, body), "IncompleteSignature", 400)
    assert "'Content-Type' must be a 'SignedHeader'" in reply.text
    signed = signed_headers(moorage, "iam", "us-east-1", "POST", "/", headers={"Content-Type": FORM}, body=body)
    refused(send(moorage, "POST", "/", {**signed, "Content-Type": "application/json"}, body), "SignatureDoesNotMatch", 403)


# --- the body is signed: UNSIGNED-PAYLOAD only where AWS accepts it (none of these services) ----------------


def test_an_altered_body_is_refused(moorage, refused):
    body = f"Action=CreateUser&UserName=hostile-body-a&{IAM_VERSION}".encode()
    signed = signed_headers(moorage, "iam", "us-east-1", "POST", "/", headers={"Content-Type": FORM}, body=body)
    other = f"Action=CreateUser&UserName=hostile-body-b&{IAM_VERSION}".encode()
    refused(send(moorage, "POST", "/", signed, other), "SignatureDoesNotMatch", 403)
    declared = {**signed, "X-Amz-Content-SHA256": hashlib.sha256(other).hexdigest()}
    refused(send(moorage, "POST", "/", declared, other), "SignatureDoesNotMatch", 403)
    assert send(moorage, "POST", "/", signed, body).status == 200  # the original still works


@pytest.mark.parametrize(
    "service, region, method, target, headers, body, code, status",
    [
        ("iam", "us-east-1", "POST", "/", {"Content-Type": FORM}, f"Action=CreateUser&UserName=hostile-up&{IAM_VERSION}",
         "SignatureDoesNotMatch", 403),
        ("sts", "us-east-1", "POST", "/", {"Content-Type": FORM}, "Action=GetCallerIdentity&Version=2011-06-15",
         "SignatureDoesNotMatch", 403),
        ("ec2", "us-west-2", "POST", "/", {"Content-Type": FORM}, "Action=CreateVpc&CidrBlock=10.9.0.0/16&Version=2016-11-15",
         "SignatureDoesNotMatch", 403),
        ("eks", "us-west-2", "POST", "/clusters/hostile-up/access-entries", {"Content-Type": "application/json"},
         '{"principalArn":"arn:aws:iam::111122223333:role/x"}', "InvalidSignatureException", 403),
    ],
)
def test_unsigned_payload_is_refused_with_authorization_headers(moorage, refused, service, region, method, target,
                                                                headers, body, code, status):
    headers = {**headers, "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    signed = signed_headers(moorage, service, region, method, target, headers=headers, body=body.encode())
    refused(send(moorage, method, target, signed, body.encode()), code, status)
    refused(send(moorage, method, target, signed, body.encode() + b"&UserName=x"), code, status)


# --- time ---------------------------------------------------------------------------------------------------


def test_stale_signatures_and_expired_presigned_urls(moorage, refused):
    body = f"Action=ListUsers&{IAM_VERSION}".encode()
    twenty_minutes_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=twenty_minutes_ago.replace(tzinfo=None)):
        stale = signed_headers(moorage, "iam", "us-east-1", "POST", "/", headers={"Content-Type": FORM}, body=body)
        request = AWSRequest(method="GET", url=f"{moorage.url}/?Action=GetCallerIdentity&Version=2011-06-15")
        SigV4QueryAuth(CREDENTIALS, "sts", "us-east-1", expires=60).add_auth(request)
    reply = refused(send(moorage, "POST", "/", stale, body), "SignatureDoesNotMatch", 403)
    assert "Signature expired" in reply.text
    target = request.url[len(moorage.url):]
    refused(send(moorage, "GET", target, {}), "SignatureDoesNotMatch", 403)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=20)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=future.replace(tzinfo=None)):
        early = signed_headers(moorage, "iam", "us-east-1", "POST", "/", headers={"Content-Type": FORM}, body=body)
    assert "Signature not yet current" in refused(send(moorage, "POST", "/", early, body), "SignatureDoesNotMatch", 403).text


# --- webhooks: only the cluster's own client certificate learns anything ------------------------------------


def _webhook_port(moorage) -> int:
    with sqlite3.connect(moorage.data_dir / "state.db", timeout=30) as db:
        (value,) = db.execute("SELECT value FROM settings WHERE name='webhook-endpoint'").fetchone()
    return json.loads(value)["port"]


def _cluster_id(moorage, name: str) -> str:
    eks = moorage.client("eks")
    try:
        return eks.describe_cluster(name=name)["cluster"]["id"]
    except eks.exceptions.ResourceNotFoundException:
        pass
    subnets = moorage.client("ec2").describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    iam = moorage.client("iam", region="us-east-1")
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }))["Role"]["Arn"]
    cluster_id = eks.create_cluster(name=name, roleArn=role, resourcesVpcConfig={"subnetIds": [s["SubnetId"] for s in subnets[:2]]})[
        "cluster"]["id"]
    # Without a toolchain the reconciler takes it to FAILED (after making its security group): wait for
    # that, so the store is still while the webhook cases run.
    deadline = time.monotonic() + 30
    while eks.describe_cluster(name=name)["cluster"]["status"] == "CREATING" and time.monotonic() < deadline:
        time.sleep(0.1)
    return cluster_id


def _https(port: int, path: str, body: dict, context) -> Reply:
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=context)
    try:
        connection.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


REVIEWS = {
    "authenticate": {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": "k8s-aws-v1.eA"}},
    "authorize": {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                  "spec": {"user": "arn:aws:iam::111122223333:root", "extra": {"canonicalArn": ["arn:aws:iam::111122223333:root"]},
                           "resourceAttributes": {"verb": "list", "resource": "secrets"}}},
    "fargate": {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "request": {"uid": "u", "kind": {"kind": "Pod"}, "operation": "CREATE", "namespace": "default",
                            "object": {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}}},
}


def test_webhooks_answer_nothing_without_the_clusters_client_certificate(moorage, hostile_cases, tmp_path):
    import ssl

    from moorage.infra.pki import ensure_cluster_pki, ensure_webhook_client

    cluster_id = _cluster_id(moorage, "hostile-webhooks")
    other_id = _cluster_id(moorage, "hostile-webhooks-2")
    before = specs(moorage)
    port = _webhook_port(moorage)
    ca = (moorage.data_dir / "webhooks" / "pki" / "ca.crt").read_text()
    no_certificate = ssl.create_default_context(cadata=ca)
    other_cluster = ssl.create_default_context(cadata=ca)
    issued = ensure_webhook_client(moorage.data_dir / "webhooks" / "pki", tmp_path / "other", other_id)
    other_cluster.load_cert_chain(str(issued.cert), str(issued.key))
    foreign = ensure_cluster_pki(tmp_path / "foreign", server_url="https://127.0.0.1:1", service_ip="10.100.0.1")
    foreign_ca = ssl.create_default_context(cadata=ca)
    foreign_ca.load_cert_chain(str(foreign.admin.cert), str(foreign.admin.key))
    for kind, review in REVIEWS.items():
        path = f"/_moorage/webhooks/{kind}/{cluster_id}"
        # The AWS endpoint does not serve them at all (plain HTTP, any caller on the host).
        hostile_cases["webhook"] += 1
        plain = send(moorage, "POST", path, {"Content-Type": "application/json"}, json.dumps(review).encode())
        assert (plain.status, json.loads(plain.body)) == (403, {"message": "Forbidden"})
        hostile_cases["webhook"] += 1
        reply = _https(port, path, review, no_certificate)
        assert (reply.status, json.loads(reply.body)) == (401, {"message": "Unauthorized"})
        hostile_cases["webhook"] += 1
        reply = _https(port, path, review, other_cluster)
        assert (reply.status, json.loads(reply.body)) == (403, {"message": "Forbidden"})
        hostile_cases["webhook"] += 1
        with pytest.raises((ssl.SSLError, ConnectionError)):  # not signed by the webhook CA: no handshake
            _https(port, path, review, foreign_ca)
        for garbage in (b"", b"{", b"[]", b"\xff" * 64):
            hostile_cases["webhook"] += 1
            reply = send(moorage, "POST", path, {"Content-Type": "application/json"}, garbage)
            assert reply.status == 403
    # The other cluster's own certificate, on its own path: answered (an unknown token is not authenticated).
    hostile_cases["webhook"] += 1
    reply = _https(port, f"/_moorage/webhooks/authenticate/{other_id}", REVIEWS["authenticate"], other_cluster)
    assert reply.status == 200 and json.loads(reply.body)["status"]["authenticated"] is False
    assert specs(moorage) == before


# --- malformed requests: AWS's error, never a 5xx -----------------------------------------------------------


def _iam(moorage, body: bytes, **overrides) -> tuple[dict, bytes]:
    headers = signed_headers(moorage, "iam", "us-east-1", "POST", "/", headers={"Content-Type": FORM}, body=body)
    return {**headers, **overrides}, body


MALFORMED = [
    # (what, method, target, headers-or-builder, body, code, status)
    ("no signature", "POST", "/", {"Content-Type": FORM}, f"Action=ListUsers&{IAM_VERSION}", "MissingAuthenticationToken", 403),
    # As AWS answers a bearer token sent to an IAM-authorized API: the parts SigV4 needs are missing.
    ("not AWS4", "POST", "/", {"Content-Type": FORM, "Authorization": "Basic Zm9vOmJhcg=="}, f"Action=ListUsers&{IAM_VERSION}",
     "IncompleteSignature", 400),
    ("unknown algorithm", "POST", "/", {"Content-Type": FORM, "Authorization": "AWS4-HMAC-SHA512 Credential=a/b/c/iam/e"},
     f"Action=ListUsers&{IAM_VERSION}", "IncompleteSignature", 400),
    ("no key=value", "POST", "/", {"Content-Type": FORM, "Authorization": "AWS4-HMAC-SHA256 Credential"},
     f"Action=ListUsers&{IAM_VERSION}", "IncompleteSignature", 400),
    ("short credential", "POST", "/", {"Content-Type": FORM, "X-Amz-Date": "20240101T000000Z",
     "Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/20240101/us-east-1, SignedHeaders=host, Signature=00"},
     f"Action=ListUsers&{IAM_VERSION}", "IncompleteSignature", 400),
    ("bad date", "POST", "/", {"Content-Type": FORM, "X-Amz-Date": "yesterday",
     "Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=00"},
     f"Action=ListUsers&{IAM_VERSION}", "IncompleteSignature", 400),
    ("unknown key", "POST", "/", {"Content-Type": FORM, "X-Amz-Date": "{now}",
     "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAUNKNOWNKEY000000/{today}/us-east-1/iam/aws4_request, "
                      "SignedHeaders=content-type;host;x-amz-date, Signature=" + "0" * 64},
     f"Action=ListUsers&{IAM_VERSION}", "InvalidClientTokenId", 403),
    ("host unsigned", "POST", "/", {"Content-Type": FORM, "X-Amz-Date": "{now}",
     "Authorization": f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/{{today}}/us-east-1/iam/aws4_request, "
                      "SignedHeaders=x-amz-date, Signature=" + "0" * 64},
     f"Action=ListUsers&{IAM_VERSION}", "IncompleteSignature", 400),
    ("non-hex signature", "POST", "/", {"Content-Type": FORM, "X-Amz-Date": "{now}",
     "Authorization": f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/{{today}}/us-east-1/iam/aws4_request, "
                      "SignedHeaders=content-type;host;x-amz-date, Signature=\u00e9\u00e9"},
     f"Action=ListUsers&{IAM_VERSION}", "SignatureDoesNotMatch", 403),
    ("wrong region", "POST", "/", {"Content-Type": FORM, "X-Amz-Date": "{now}",
     "Authorization": f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/{{today}}/mars-north-1/iam/aws4_request, "
                      "SignedHeaders=content-type;host;x-amz-date, Signature=" + "0" * 64},
     f"Action=ListUsers&{IAM_VERSION}", "SignatureDoesNotMatch", 403),
    ("presign forever", "GET", "/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256"
     f"&X-Amz-Credential={ACCESS_KEY_ID}%2F{{today}}%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date={{now}}"
     "&X-Amz-Expires=999999999&X-Amz-SignedHeaders=host&X-Amz-Signature=00", {}, "", "IncompleteSignature", 400),
    ("presign missing parts", "GET", "/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Signature=00", {}, "",
     "IncompleteSignature", 400),
    ("unknown service in scope", "POST", "/", {"Content-Type": FORM, "X-Amz-Date": "{now}",
     "Authorization": f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/{{today}}/us-east-1/s3/aws4_request, "
                      "SignedHeaders=host, Signature=00"}, "", "UnknownOperationException", 400),
]


@pytest.mark.parametrize("what, method, target, headers, body, code, status", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_authentication(moorage, refused, what, method, target, headers, body, code, status):
    now = datetime.datetime.now(datetime.timezone.utc)
    fill = {"now": now.strftime("%Y%m%dT%H%M%SZ"), "today": now.strftime("%Y%m%d")}
    headers = {name: value.format(**fill) if "{" in value else value for name, value in headers.items()}
    target = target.format(**fill) if "{today}" in target or "{now}" in target else target
    refused(send(moorage, method, target, headers, body.encode()), code, status, family="malformed")


SIGNED_MALFORMED = [
    ("iam body not UTF-8", "iam", "us-east-1", "POST", "/", {"Content-Type": FORM}, b"Action=CreateUser&UserName=\xff\xfe&" + IAM_VERSION.encode()),
    ("iam unknown action", "iam", "us-east-1", "POST", "/", {"Content-Type": FORM}, b"Action=PwnEverything&" + IAM_VERSION.encode()),
    ("iam huge name", "iam", "us-east-1", "POST", "/", {"Content-Type": FORM}, b"Action=CreateUser&UserName=" + b"a" * 5000 + b"&" + IAM_VERSION.encode()),
    ("eks json broken", "eks", "us-west-2", "POST", "/clusters", {"Content-Type": "application/json"}, b'{"name": '),
    ("eks json not object", "eks", "us-west-2", "POST", "/clusters", {"Content-Type": "application/json"}, b"[1, 2]"),
    ("eks wrong types", "eks", "us-west-2", "POST", "/clusters", {"Content-Type": "application/json"},
     b'{"name": 7, "roleArn": [], "resourcesVpcConfig": "x"}'),
    ("eks unknown path", "eks", "us-west-2", "GET", "/clusters/a/b/c/d/e", {}, b""),
    ("ec2 bad cidr", "ec2", "us-west-2", "POST", "/", {"Content-Type": FORM},
     b"Action=CreateVpc&CidrBlock=10.0.0.0/99&Version=2016-11-15"),
    ("ec2 bad boolean", "ec2", "us-west-2", "POST", "/", {"Content-Type": FORM},
     b"Action=DescribeVpcs&DryRun=maybe&Version=2016-11-15"),
    ("logs json broken", "logs", "us-west-2", "POST", "/",
     {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Logs_20140328.CreateLogGroup"}, b"{]"),
]


@pytest.mark.parametrize("what, service, region, method, target, headers, body", SIGNED_MALFORMED, ids=[m[0] for m in SIGNED_MALFORMED])
def test_malformed_signed_requests_get_client_errors(moorage, hostile_cases, what, service, region, method, target, headers, body):
    before = specs(moorage)
    reply = send(moorage, method, target, signed_headers(moorage, service, region, method, target, headers=headers, body=body), body)
    hostile_cases["malformed"] += 1
    assert 400 <= reply.status < 500 and reply.code, (reply.status, reply.text)
    assert specs(moorage) == before
