"""botocore on one side, our protocol layer on the other: every operation must survive the trip.

Inputs: botocore serializes an example input, we route + parse it and must get it back unchanged.
Outputs: we serialize an example output, botocore's parser must read back the same thing.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from moorage.gateway.protocols import (
    SUPPORTED_SERVICES,
    AwsError,
    get_service_model,
    parse,
    route,
    serialize_error,
    serialize_response,
    validate,
)

from .examples import botocore_parse, botocore_request, example_value, strip_metadata, to_aws_request

# Every operation of every service we serve; EC2's 800-odd operations included, it takes a second.
ALL_OPERATIONS = [
    (service, name)
    for service in SUPPORTED_SERVICES
    for name in get_service_model(service).operation_names
]


def _has_event_stream(shape) -> bool:
    return shape is not None and any(m.serialization.get("eventstream") for m in shape.members.values())


@pytest.mark.parametrize(("service", "name"), ALL_OPERATIONS, ids=[f"{s}.{n}" for s, n in ALL_OPERATIONS])
def test_botocore_request_routes_parses_and_validates(service, name):
    operation = get_service_model(service).operation_model(name)
    params = example_value(operation.input_shape) if operation.input_shape is not None else {}
    request = to_aws_request(botocore_request(operation, params))

    routed_service, routed_operation = route(request)
    assert (routed_service.service_name, routed_operation.name) == (service, name)
    parsed = parse(routed_operation, request)
    assert parsed == params
    validate(routed_operation, parsed)  # generated inputs satisfy the model, so nothing is raised


@pytest.mark.parametrize(("service", "name"), ALL_OPERATIONS, ids=[f"{s}.{n}" for s, n in ALL_OPERATIONS])
def test_response_parses_back_with_botocore(service, name):
    service_model = get_service_model(service)
    operation = service_model.operation_model(name)
    shape = operation.output_shape
    if _has_event_stream(shape):
        pytest.skip("event-stream output (Logs StartLiveTail, GetLogObject) is not served by this layer")
    result = example_value(shape) if shape is not None else {}

    status, headers, body = serialize_response(operation, result, "req-123")

    assert status == operation.http.get("responseCode", 200)
    parsed = botocore_parse(service_model.protocol, shape, status, headers, body)
    assert parsed["ResponseMetadata"]["RequestId"] == "req-123"
    assert strip_metadata(parsed) == result


@pytest.mark.parametrize("service", list(SUPPORTED_SERVICES))
def test_error_parses_back_with_botocore(service):
    service_model = get_service_model(service)
    operation = service_model.operation_model(service_model.operation_names[0])
    error = AwsError("SomethingWrong", "It went <wrong> & stayed wrong", status=409)

    status, headers, body = serialize_error(service_model, error, "req-err")

    assert status == 409
    parsed = botocore_parse(service_model.protocol, operation.output_shape, status, headers, body)
    assert parsed["Error"]["Code"] == "SomethingWrong"
    assert parsed["Error"]["Message"] == "It went <wrong> & stayed wrong"
    assert parsed["ResponseMetadata"]["RequestId"] == "req-err"


def test_modelled_error_takes_status_and_fields_from_the_model():
    eks = get_service_model("eks")
    error = AwsError(
        "ResourceNotFoundException", "No cluster found for name: demo.", extra_fields={"clusterName": "demo"}
    )

    status, headers, body = serialize_error(eks, error, "rid")

    assert status == 404  # from the model's httpStatusCode
    assert headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert headers["x-amzn-RequestId"] == "rid"
    shape = eks.shape_for_error_code("ResourceNotFoundException")
    parsed = botocore_parse("rest-json", shape, status, headers, body)
    assert parsed == {"clusterName": "demo", "message": "No cluster found for name: demo."}


def test_query_error_envelope_and_fault_type():
    iam = get_service_model("iam")
    error = AwsError("NoSuchEntity", "The role with name x cannot be found.")
    status, headers, body = serialize_error(iam, error, "rid")
    assert status == 404
    text = body.decode()
    assert text.startswith('<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">')
    assert "<Type>Sender</Type><Code>NoSuchEntity</Code>" in text
    assert text.endswith("<RequestId>rid</RequestId></ErrorResponse>")

    _, _, body = serialize_error(iam, AwsError("ServiceFailure", "boom", status=500), "rid")
    assert "<Type>Receiver</Type>" in body.decode()


def test_ec2_envelopes():
    ec2 = get_service_model("ec2")
    _, _, body = serialize_error(ec2, AwsError("InvalidVpcID.NotFound", "The vpc ID 'vpc-1' does not exist"), "rid")
    assert body.decode().endswith(
        "<Response><Errors><Error><Code>InvalidVpcID.NotFound</Code>"
        "<Message>The vpc ID 'vpc-1' does not exist</Message></Error></Errors>"
        "<RequestID>rid</RequestID></Response>"
    )
    operation = ec2.operation_model("DescribeVpcs")
    _, _, body = serialize_response(operation, {"Vpcs": [{"VpcId": "vpc-1"}]}, "rid")
    text = body.decode()
    assert '<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>rid</requestId>' in text
    assert "<vpcSet><item><vpcId>vpc-1</vpcId></item></vpcSet>" in text


def test_query_response_envelope():
    operation = get_service_model("sts").operation_model("GetCallerIdentity")
    result = {"UserId": "AIDA", "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/a"}
    status, headers, body = serialize_response(operation, result, "rid")
    assert (status, headers["Content-Type"]) == (200, "text/xml")
    assert body.decode() == (
        '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        "<GetCallerIdentityResult><UserId>AIDA</UserId><Account>123456789012</Account>"
        "<Arn>arn:aws:iam::123456789012:user/a</Arn></GetCallerIdentityResult>"
        "<ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
    )


def test_rest_json_timestamps_are_epoch_seconds_with_milliseconds():
    operation = get_service_model("eks").operation_model("DescribeCluster")
    created = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    _, _, body = serialize_response(operation, {"cluster": {"name": "demo", "createdAt": created}}, "rid")
    assert body == b'{"cluster": {"name": "demo", "createdAt": 1704164645.678}}'
    parsed = botocore_parse("rest-json", operation.output_shape, 200, {}, body)
    assert parsed["cluster"]["createdAt"] == created


def test_whole_second_timestamps_are_still_floats():
    operation = get_service_model("eks").operation_model("DescribeCluster")
    created = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    _, _, body = serialize_response(operation, {"cluster": {"createdAt": created}}, "rid")
    assert body == b'{"cluster": {"createdAt": 1704164645.0}}'


def test_ec2_timestamps_always_show_milliseconds():
    operation = get_service_model("ec2").operation_model("DescribeVolumes")
    created = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    _, _, body = serialize_response(operation, {"Volumes": [{"CreateTime": created}]}, "rid")
    assert b"<createTime>2024-01-02T03:04:05.000Z</createTime>" in body


def test_naive_datetimes_are_taken_as_utc():
    operation = get_service_model("iam").operation_model("GetUser")
    user = {"Path": "/", "UserName": "a", "UserId": "AIDA", "Arn": "arn", "CreateDate": datetime(2024, 1, 2, 3, 4, 5)}
    _, _, body = serialize_response(operation, {"User": user}, "rid")
    assert b"<CreateDate>2024-01-02T03:04:05Z</CreateDate>" in body


def test_unknown_output_member_is_a_programming_error():
    operation = get_service_model("eks").operation_model("DescribeCluster")
    with pytest.raises(TypeError, match="no member"):
        serialize_response(operation, {"cluster": {"nmae": "typo"}}, "rid")


def test_every_response_and_error_carries_a_request_id():
    for service in SUPPORTED_SERVICES:
        service_model = get_service_model(service)
        operation = service_model.operation_model(service_model.operation_names[0])
        _, headers, body = serialize_response(operation, {}, "the-id")
        assert headers.get("x-amzn-RequestId") == "the-id" or b"the-id" in body
        _, headers, body = serialize_error(service_model, AwsError("X", "y"), "the-id")
        assert b"the-id" in body or headers.get("x-amzn-RequestId") == "the-id"
