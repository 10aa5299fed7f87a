"""Bad input gets the AWS error the real service family gives, as a 4xx, never an exception."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from moorage.gateway.protocols import AwsError, AwsRequest, decode_request, get_service_model, serialize_error
from moorage.gateway.protocols.validate import compiled_pattern

from .examples import botocore_parse, botocore_request, example_value, to_aws_request

FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
LOGS = {"X-Amz-Target": "Logs_20140328.CreateLogGroup", "Content-Type": "application/x-amz-json-1.1"}


def _form(body, headers=FORM) -> AwsRequest:
    return AwsRequest("POST", "/", "", headers, body)


def _eks(method: str, path: str, body: bytes = b"", query: str = "") -> AwsRequest:
    return AwsRequest(method, path, query, {}, body)


def _error(request: AwsRequest) -> tuple[int, str, str]:
    """(status, code, message) as a boto3 client would see them."""
    with pytest.raises(AwsError) as caught:
        decode_request(request)
    error = caught.value
    status, headers, body = serialize_error(None, error, "rid")
    assert 400 <= status < 500
    protocol = error.service_model.protocol if error.service_model is not None else "rest-json"
    parsed = botocore_parse(protocol, None, status, headers, body)
    return status, parsed["Error"]["Code"], parsed["Error"]["Message"]


# --- query (IAM, STS, Auto Scaling) ------------------------------------------------------------------


def test_iam_pattern_mismatch():
    status, code, message = _error(
        _form("Action=CreateRole&Version=2010-05-08&RoleName=bad name!&AssumeRolePolicyDocument=x")
    )
    assert (status, code) == (400, "ValidationError")
    assert message == (
        "1 validation error detected: Value 'bad name!' at 'roleName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\w+=,.@-]+"
    )


def test_iam_missing_required_members_are_all_listed():
    _, code, message = _error(_form("Action=CreateRole&Version=2010-05-08"))
    assert code == "ValidationError"
    assert message == (
        "2 validation errors detected: "
        "Value null at 'roleName' failed to satisfy constraint: Member must not be null; "
        "Value null at 'assumeRolePolicyDocument' failed to satisfy constraint: Member must not be null"
    )


def test_iam_too_long_and_out_of_range():
    long_name = "r" * 65
    _, code, message = _error(
        _form(f"Action=CreateRole&Version=2010-05-08&RoleName={long_name}"
                   "&AssumeRolePolicyDocument=x&MaxSessionDuration=99999")
    )
    assert code == "ValidationError"
    assert message.startswith("2 validation errors detected: ")
    assert (
        f"Value '{long_name}' at 'roleName' failed to satisfy constraint: "
        "Member must have length less than or equal to 64"
    ) in message
    assert (
        "Value '99999' at 'maxSessionDuration' failed to satisfy constraint: "
        "Member must have value less than or equal to 43200"
    ) in message


def test_sts_nested_list_member_paths():
    body = (
        "Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::123456789012:role/r&RoleSessionName=session"
        f"&Tags.member.1.Key=k1&Tags.member.1.Value=v&Tags.member.2.Key=k2&Tags.member.2.Value={'v' * 257}"
    )
    _, code, message = _error(_form(body))
    assert code == "ValidationError"
    assert message == (
        f"1 validation error detected: Value '{'v' * 257}' at 'tags.2.member.value' failed to satisfy constraint: "
        "Member must have length less than or equal to 256"
    )


def test_query_bad_enum():
    _, code, message = _error(
        _form("Action=ListPolicies&Version=2010-05-08&Scope=Everyone")
    )
    assert code == "ValidationError"
    assert message.endswith(
        "Value 'Everyone' at 'scope' failed to satisfy constraint: "
        "Member must satisfy enum value set: [All, AWS, Local]"
    )


def test_query_wrong_type():
    status, code, message = _error(_form("Action=ListRoles&Version=2010-05-08&MaxItems=ten"))
    assert (status, code) == (400, "InvalidParameterValue")
    assert message == "Value (ten) for parameter MaxItems is invalid. Expected an integer."


def test_query_unknown_action_and_missing_action():
    assert _error(_form("Action=CreateRoll&Version=2010-05-08"))[1:] == (
        "InvalidAction",
        "Could not find operation CreateRoll for version 2010-05-08",
    )
    scoped = {**FORM, "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sts/aws4_request, x"}
    assert _error(_form("Version=2011-06-15", scoped))[1] == "MissingAction"


def test_query_body_that_is_not_utf8():
    status, code, _ = _error(_form(b"Action=ListRoles&Version=2010-05-08&PathPrefix=%FF%FE"))
    assert (status, code) == (400, "MalformedQueryString")


# --- ec2 ---------------------------------------------------------------------------------------------


def test_ec2_missing_parameter():
    assert _error(_form("Action=RunInstances&Version=2016-11-15&MinCount=1"))[1:] == (
        "MissingParameter",
        "The request must contain the parameter MaxCount",
    )


def test_ec2_invalid_value_and_unknown_action():
    assert _error(_form("Action=RunInstances&Version=2016-11-15&MinCount=1&MaxCount=x"))[1] == (
        "InvalidParameterValue"
    )
    assert _error(_form("Action=DescribeFoo&Version=2016-11-15"))[1:] == (
        "InvalidAction",
        "The action DescribeFoo is not valid for this web service.",
    )


# --- rest-json (EKS) ---------------------------------------------------------------------------------


def test_eks_missing_required_members():
    status, code, message = _error(_eks("POST", "/clusters", b"{}"))
    assert (status, code) == (400, "InvalidParameterException")
    assert message == (
        "3 validation errors detected: "
        "Value null at 'name' failed to satisfy constraint: Member must not be null; "
        "Value null at 'roleArn' failed to satisfy constraint: Member must not be null; "
        "Value null at 'resourcesVpcConfig' failed to satisfy constraint: Member must not be null"
    )


def test_eks_too_long_bad_enum_and_pattern():
    body = (
        b'{"name": "' + b"a" * 101 + b'", "roleArn": "r", "resourcesVpcConfig": {},'
        b' "kubernetesNetworkConfig": {"ipFamily": "ipv5"}}'
    )
    _, code, message = _error(_eks("POST", "/clusters", body))
    assert code == "InvalidParameterException"
    assert "Member must have length less than or equal to 100" in message
    assert (
        "Value 'ipv5' at 'kubernetesNetworkConfig.ipFamily' failed to satisfy constraint: "
        "Member must satisfy enum value set: [ipv4, ipv6]"
    ) in message

    _, _, message = _error(_eks("POST", "/clusters", b'{"name": "-bad", "roleArn": "r", "resourcesVpcConfig": {}}'))
    assert message == (
        "1 validation error detected: Value '-bad' at 'name' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ^[0-9A-Za-z][A-Za-z0-9\\-_]*"
    )


def test_eks_out_of_range_query_parameter():
    status, code, message = _error(_eks("GET", "/clusters", query="maxResults=1000"))
    assert (status, code) == (400, "InvalidParameterException")
    assert message.endswith(
        "Value '1000' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 100"
    )


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (_eks("POST", "/clusters", b'{"name": "x"'), None),
        (_eks("POST", "/clusters", b"\xff\xfe"), None),
        (_eks("POST", "/clusters", b"[1, 2]"), "Start of list found where not expected."),
        (_eks("POST", "/clusters", b'{"name": 5}'), "NUMBER_VALUE can not be converted to a String"),
        (_eks("POST", "/clusters", b'{"name": {"a": 1}}'), "Start of structure or map found where not expected."),
        (_eks("POST", "/clusters/c/node-groups", b'{"scalingConfig": {"minSize": "1"}}'),
         "STRING_VALUE can not be converted to an Integer"),
        (_eks("POST", "/clusters/c/node-groups", b'{"scalingConfig": {"minSize": 1.5}}'),
         "NUMBER_VALUE can not be converted to an Integer"),
        (_eks("POST", "/clusters/c/node-groups", b'{"scalingConfig": {"minSize": 99999999999}}'),
         "Numeric value (99999999999) out of range of int"),
        (_eks("POST", "/clusters", b'{"bootstrapSelfManagedAddons": "yes"}'),
         "STRING_VALUE can not be converted to a Boolean"),
        (_eks("GET", "/clusters", query="maxResults=ten"), "STRING_VALUE can not be converted to an Integer"),
    ],
)
def test_eks_malformed_or_mistyped_input(request_, message):
    status, code, got = _error(request_)
    assert (status, code) == (400, "SerializationException")
    if message is not None:
        assert got == message


def test_unknown_rest_path_is_404():
    assert _error(AwsRequest("GET", "/clusterz"))[:2] == (404, "UnknownOperationException")


def test_unserved_service_in_scope():
    headers = {"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/s3/aws4_request, x"}
    status, code, message = _error(AwsRequest("GET", "/bucket", "", headers))
    assert (status, code) == (400, "UnknownOperationException")
    assert "'s3'" in message


# --- json (Logs) ---------------------------------------------------------------------------------------


def test_logs_pattern_and_unknown_target():
    _, code, message = _error(_form(b'{"logGroupName": "bad name"}', LOGS))
    assert code == "InvalidParameterException"
    assert message == (
        "1 validation error detected: Value 'bad name' at 'logGroupName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
    )
    unknown = {**LOGS, "X-Amz-Target": "Logs_20140328.CreateLogGrope"}
    assert _error(_form(b"{}", unknown))[:2] == (400, "UnknownOperationException")


def test_logs_malformed_json():
    assert _error(_form(b"{nope", LOGS))[1] == "SerializationException"
    assert _error(_form(b'"just a string"', LOGS))[1] == "SerializationException"


def test_sensitive_values_are_not_echoed():
    body = "Action=ChangePassword&Version=2010-05-08&OldPassword=secret%E2%9C%93&NewPassword=x"
    _, code, message = _error(_form(body))
    assert code == "ValidationError"
    assert message == (
        "1 validation error detected: Value at 'oldPassword' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+"
    )


def test_java_only_patterns_are_skipped_not_fatal():
    assert compiled_pattern("[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*") is None
    assert compiled_pattern("[\\w-_]*") is None
    # IAM tag values use such a pattern: any value passes the (skipped) pattern check.
    request = _form("Action=TagRole&Version=2010-05-08&RoleName=r&Tags.member.1.Key=k&Tags.member.1.Value=ü ✓")
    _, operation, params = decode_request(request)
    assert params["Tags"] == [{"Key": "k", "Value": "ü ✓"}]


def test_absurdly_deep_json_is_a_client_error():
    assert _error(_eks("POST", "/clusters", b"[" * 100_000 + b"]" * 100_000))[1] == "SerializationException"


# --- robustness: every operation, every top-level member, every wrong kind of value --------------------

_WRONG_JSON_VALUES = [{}, [], "text", 7, 1.5, True, None, {"nested": ["x"]}, [{"a": 1}], -(2**70)]


def _outcome(request: AwsRequest) -> str:
    try:
        decode_request(request)
    except AwsError as error:
        status, _, _ = serialize_error(None, error, "rid")
        assert 400 <= status < 500, (error.code, error.message)
        return error.code
    return "ok"


@pytest.mark.parametrize("service", ["eks", "logs"])
def test_json_services_never_fail_with_anything_but_a_4xx(service):
    model = get_service_model(service)
    codes = set()
    for name in model.operation_names:
        operation = model.operation_model(name)
        if operation.input_shape is None:
            continue
        request = to_aws_request(botocore_request(operation, example_value(operation.input_shape)))
        document = json.loads(request.body or b"{}")
        for key in list(document) or ["unknown"]:
            for wrong in _WRONG_JSON_VALUES:
                mutated = {**document, key: wrong}
                body = json.dumps(mutated).encode()
                mutated_request = AwsRequest(request.method, request.path, request.query_string, request.headers, body)
                codes.add(_outcome(mutated_request))
    assert "SerializationException" in codes and "ok" in codes


@pytest.mark.parametrize("service", ["iam", "sts", "autoscaling", "ec2"])
def test_query_services_never_fail_with_anything_but_a_4xx(service):
    model = get_service_model(service)
    names = model.operation_names if service != "ec2" else model.operation_names[::10]
    codes = set()
    for name in names:
        operation = model.operation_model(name)
        params = example_value(operation.input_shape) if operation.input_shape is not None else {}
        request = to_aws_request(botocore_request(operation, params))
        pairs = request.form_params()
        for index, (key, _) in enumerate(pairs):
            if key in ("Action", "Version"):
                continue
            for wrong in ("", "x", "-1", "9" * 30, "NaN", "%FF"):
                mutated = [(k, wrong if i == index else v) for i, (k, v) in enumerate(pairs)]
                body = urlencode(mutated).replace("%25FF", "%FF").encode()
                codes.add(_outcome(AwsRequest("POST", "/", "", request.headers, body)))
    assert "ok" in codes and codes - {"ok"}


def test_odd_list_indices_are_ignored():
    body = "Action=TagRole&Version=2010-05-08&RoleName=r&Tags.member.².Key=k&Tags.member." + "9" * 5000 + ".Key=k"
    assert _outcome(_form(body)) == "ValidationError"  # no usable Tags entry: the required member is missing
