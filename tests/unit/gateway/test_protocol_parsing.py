"""Routing and parsing cases the generated round trips do not reach: odd characters, every
rest-json location (through a small synthetic model), list/map encodings of the query dialects."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from botocore.model import ServiceModel

from moorage.gateway.protocols import AwsError, AwsRequest, get_service_model, parse, route, serialize_response

from .examples import botocore_parse, botocore_request, to_aws_request


def _roundtrip(service: str, operation: str, params: dict) -> tuple[str, dict]:
    model = get_service_model(service).operation_model(operation)
    request = to_aws_request(botocore_request(model, params))
    _, routed = route(request)
    return routed.name, parse(routed, request)


# --- rest-json (EKS) -------------------------------------------------------------------------------------


def test_eks_arn_label_with_colons_and_slashes():
    arn = "arn:aws:eks:us-west-2:123456789012:cluster/my cluster+ü"
    name, params = _roundtrip("eks", "TagResource", {"resourceArn": arn, "tags": {"team": "a b&c"}})
    assert name == "TagResource"
    assert params == {"resourceArn": arn, "tags": {"team": "a b&c"}}


def test_eks_querystring_members_and_list():
    name, params = _roundtrip(
        "eks", "ListClusters", {"maxResults": 7, "nextToken": "t/=+", "include": ["all", "x y"]}
    )
    assert (name, params) == ("ListClusters", {"maxResults": 7, "nextToken": "t/=+", "include": ["all", "x y"]})


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        ("GET", "/clusters", "ListClusters"),
        ("POST", "/clusters", "CreateCluster"),
        ("GET", "/clusters/demo", "DescribeCluster"),
        ("GET", "/clusters/demo/", "DescribeCluster"),
        ("DELETE", "/clusters/demo", "DeleteCluster"),
        ("GET", "/clusters/demo/updates", "ListUpdates"),
        ("POST", "/clusters/demo/updates", "UpdateClusterVersion"),
        ("GET", "/clusters/demo/updates/u-1", "DescribeUpdate"),
        ("POST", "/clusters/demo/node-groups/ng/update-config", "UpdateNodegroupConfig"),
        ("GET", "/clusters/demo/insights/i-1", "DescribeInsight"),
        ("GET", "/clusters/demo/insights-refresh", "DescribeInsightsRefresh"),
    ],
)
def test_eks_uri_routing(method, path, operation):
    headers = {"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/eks/aws4_request, x"}
    service, routed = route(AwsRequest(method, path, "", headers, b""))
    assert (service.service_name, routed.name) == ("eks", operation)


def test_eks_routes_without_credential_scope_too():
    service, routed = route(AwsRequest("GET", "/clusters/demo/node-groups/ng"))
    assert (service.service_name, routed.name) == ("eks", "DescribeNodegroup")
    assert parse(routed, AwsRequest("GET", "/clusters/demo/node-groups/ng")) == {
        "clusterName": "demo",
        "nodegroupName": "ng",
    }


# --- every rest-json location, through a synthetic model --------------------------------------------------

SYNTHETIC = ServiceModel(
    {
        "metadata": {
            "apiVersion": "2020-01-01",
            "endpointPrefix": "synth",
            "protocol": "rest-json",
            "serviceId": "Synth",
            "signatureVersion": "v4",
        },
        "operations": {
            "PutThing": {
                "name": "PutThing",
                "http": {"method": "PUT", "requestUri": "/things/{Bucket}/{Key+}", "responseCode": 201},
                "input": {"shape": "PutThingInput"},
                "output": {"shape": "PutThingOutput"},
            },
            "Upload": {
                "name": "Upload",
                "http": {"method": "POST", "requestUri": "/blobs/{Id}"},
                "input": {"shape": "UploadInput"},
                "output": {"shape": "UploadOutput"},
            },
        },
        "shapes": {
            "PutThingInput": {
                "type": "structure",
                "required": ["Bucket", "Key"],
                "members": {
                    "Bucket": {"shape": "String", "location": "uri", "locationName": "Bucket"},
                    "Key": {"shape": "String", "location": "uri", "locationName": "Key"},
                    "Since": {"shape": "Timestamp", "location": "header", "locationName": "x-since"},
                    "Labels": {"shape": "StringList", "location": "header", "locationName": "x-labels"},
                    "Meta": {"shape": "StringMap", "location": "headers", "locationName": "x-meta-"},
                    "Doc": {"shape": "String", "location": "header", "locationName": "x-doc", "jsonvalue": True},
                    "Limit": {"shape": "Integer", "location": "querystring", "locationName": "limit"},
                    "Ids": {"shape": "StringList", "location": "querystring", "locationName": "id"},
                    "At": {"shape": "Timestamp", "location": "querystring", "locationName": "at"},
                    "Flag": {"shape": "Boolean", "location": "querystring", "locationName": "flag"},
                    "Extra": {"shape": "StringMap", "location": "querystring"},
                    "Inner": {"shape": "Inner"},
                    "Data": {"shape": "Blob"},
                    "When": {"shape": "Timestamp"},
                    "WhenIso": {"shape": "IsoTimestamp"},
                    "Ratio": {"shape": "Double"},
                    "Renamed": {"shape": "String", "locationName": "renamed_on_wire"},
                },
            },
            "PutThingOutput": {
                "type": "structure",
                "members": {
                    "Status": {"shape": "Integer", "location": "statusCode"},
                    "ETag": {"shape": "String", "location": "header", "locationName": "ETag"},
                    "Expires": {"shape": "Timestamp", "location": "header", "locationName": "x-expires"},
                    "Meta": {"shape": "StringMap", "location": "headers", "locationName": "x-meta-"},
                    "Inner": {"shape": "Inner"},
                    "When": {"shape": "Timestamp"},
                },
            },
            "UploadInput": {
                "type": "structure",
                "required": ["Id"],
                "members": {
                    "Id": {"shape": "String", "location": "uri", "locationName": "Id"},
                    "Content": {"shape": "Blob"},
                },
                "payload": "Content",
            },
            "UploadOutput": {"type": "structure", "members": {"Result": {"shape": "Inner"}}, "payload": "Result"},
            "Inner": {
                "type": "structure",
                "members": {
                    "Name": {"shape": "String"},
                    "Nested": {"shape": "InnerList"},
                    "Count": {"shape": "Long"},
                },
            },
            "InnerList": {"type": "list", "member": {"shape": "Inner"}},
            "StringList": {"type": "list", "member": {"shape": "String"}},
            "StringMap": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "String"}},
            "String": {"type": "string"},
            "Integer": {"type": "integer"},
            "Long": {"type": "long"},
            "Double": {"type": "double"},
            "Boolean": {"type": "boolean"},
            "Blob": {"type": "blob"},
            "Timestamp": {"type": "timestamp"},
            "IsoTimestamp": {"type": "timestamp", "timestampFormat": "iso8601"},
        },
    },
    service_name="synth",
)
WHEN = datetime(2024, 2, 3, 4, 5, 6, tzinfo=timezone.utc)


def test_every_rest_json_request_location():
    operation = SYNTHETIC.operation_model("PutThing")
    params = {
        "Bucket": "b u/c",
        "Key": "dir/sub dir/file.txt",
        "Since": WHEN,
        "Labels": ["a", "b,c", 'd"e'],
        "Meta": {"owner": "me"},
        "Doc": {"k": [1, 2]},
        "Limit": 5,
        "Ids": ["1", "2"],
        "At": WHEN,
        "Flag": False,
        "Extra": {"free": "form"},
        "Inner": {"Name": "n", "Nested": [{"Name": "m", "Count": 2**40}]},
        "Data": b"\x00\xff",
        "When": WHEN,
        "WhenIso": WHEN,
        "Ratio": 0.25,
        "Renamed": "r",
    }
    request = to_aws_request(botocore_request(operation, params))
    assert request.method == "PUT"
    assert parse(operation, request) == params


def test_rest_json_blob_payload():
    operation = SYNTHETIC.operation_model("Upload")
    request = to_aws_request(botocore_request(operation, {"Id": "x", "Content": b"\x01raw bytes"}))
    assert parse(operation, request) == {"Id": "x", "Content": b"\x01raw bytes"}


def test_rest_json_response_locations():
    operation = SYNTHETIC.operation_model("PutThing")
    result = {
        "Status": 202,
        "ETag": '"abc"',
        "Expires": WHEN,
        "Meta": {"a": "1"},
        "Inner": {"Name": "x"},
        "When": WHEN,
    }
    status, headers, body = serialize_response(operation, result, "rid")
    assert status == 202
    assert headers["x-expires"] == "Sat, 03 Feb 2024 04:05:06 GMT"
    parsed = botocore_parse("rest-json", operation.output_shape, status, headers, body)
    parsed.pop("ResponseMetadata")
    assert parsed == result

    status, _, _ = serialize_response(operation, {}, "rid")
    assert status == 201  # the operation's responseCode

    upload = SYNTHETIC.operation_model("Upload")
    status, headers, body = serialize_response(upload, {"Result": {"Name": "done"}}, "rid")
    assert botocore_parse("rest-json", upload.output_shape, status, headers, body)["Result"] == {"Name": "done"}


# --- query and ec2 ----------------------------------------------------------------------------------------


def test_iam_values_with_reserved_characters():
    params = {
        "RoleName": "role+name=@,.-",
        "AssumeRolePolicyDocument": '{"Statement": [{"Effect": "Allow", "Action": "sts:*"}]} & ü',
        "Tags": [{"Key": "k 1", "Value": "v&=1"}, {"Key": "k2", "Value": ""}],
        "MaxSessionDuration": 3600,
    }
    assert _roundtrip("iam", "CreateRole", params) == ("CreateRole", params)


def test_query_empty_list_and_flattened_forms():
    assert _roundtrip("autoscaling", "DescribeAutoScalingGroups", {"AutoScalingGroupNames": []}) == (
        "DescribeAutoScalingGroups",
        {"AutoScalingGroupNames": []},
    )


def test_query_list_indices_may_be_sparse_and_unordered():
    body = "Action=DescribeAutoScalingGroups&Version=2011-01-01&AutoScalingGroupNames.member.10=c" \
           "&AutoScalingGroupNames.member.2=b&AutoScalingGroupNames.member.1=a"
    request = AwsRequest("POST", "/", "", {"Content-Type": "application/x-www-form-urlencoded"}, body)
    service, operation = route(request)
    assert service.service_name == "autoscaling"
    assert parse(operation, request) == {"AutoScalingGroupNames": ["a", "b", "c"]}


def test_query_get_with_parameters_in_query_string():
    request = AwsRequest("GET", "/", "Action=GetRole&Version=2010-05-08&RoleName=admin")
    service, operation = route(request)
    assert (service.service_name, operation.name) == ("iam", "GetRole")
    assert parse(operation, request) == {"RoleName": "admin"}


def test_ec2_filters_and_flat_lists():
    params = {
        "Filters": [{"Name": "tag:Name", "Values": ["a", "b c"]}, {"Name": "vpc-id", "Values": ["vpc-1"]}],
        "SubnetIds": ["subnet-1", "subnet-2"],
        "DryRun": True,
        "MaxResults": 10,
    }
    request = to_aws_request(botocore_request(get_service_model("ec2").operation_model("DescribeSubnets"), params))
    assert b"Filter.1.Value.2=b+c" in request.body
    assert b"SubnetId.2=subnet-2" in request.body
    _, operation = route(request)
    assert parse(operation, request) == params


def test_action_and_version_tell_ec2_and_autoscaling_apart():
    for version, expected in (("2016-11-15", "ec2"), ("2011-01-01", "autoscaling")):
        request = AwsRequest("POST", "/", "", {"Content-Type": "application/x-www-form-urlencoded"},
                             f"Action=DescribeTags&Version={version}")
        assert route(request)[0].service_name == expected


def test_logs_target_routing_and_json_parsing():
    operation = get_service_model("logs").operation_model("PutLogEvents")
    params = {
        "logGroupName": "/aws/eks/demo/cluster",
        "logStreamName": "kube-apiserver-ü",
        "logEvents": [{"timestamp": 1700000000000, "message": "line \"1\"\n"}],
    }
    request = to_aws_request(botocore_request(operation, params))
    assert request.headers["X-Amz-Target"] == "Logs_20140328.PutLogEvents"
    service, routed = route(request)
    assert (service.service_name, routed.name) == ("logs", "PutLogEvents")
    assert parse(routed, request) == params


def test_json_empty_body_is_an_empty_input():
    request = AwsRequest("POST", "/", "", {"X-Amz-Target": "Logs_20140328.DescribeLogGroups"}, b"")
    _, operation = route(request)
    assert parse(operation, request) == {}


def test_route_error_keeps_the_service_for_serialization():
    request = AwsRequest("POST", "/", "", {"X-Amz-Target": "Logs_20140328.NoSuchThing"}, b"{}")
    with pytest.raises(AwsError) as caught:
        route(request)
    assert caught.value.code == "UnknownOperationException"
    assert caught.value.service_model.service_name == "logs"
