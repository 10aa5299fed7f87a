"""The instance-type catalog, EKS's max-pods and kubelet arithmetic, and EC2 DescribeInstanceTypes."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.compat import HTTPHeaders
from botocore.parsers import create_parser

from moorage.core.context import RequestContext
from moorage.gateway.protocols import AwsError, get_service_model, parse, route, serialize_error, serialize_response
from moorage.gateway.protocols import validate as validate_params
from moorage.services.ec2 import instance_types as it
from moorage.services.ec2.service import Ec2Service

from ..gateway.examples import botocore_request, to_aws_request

# The catalog's lines of awslabs/amazon-eks-ami templates/shared/runtime/eni-max-pods.txt, as published.
ENI_MAX_PODS_TXT = """
c5.12xlarge 234
c5.18xlarge 737
c5.24xlarge 737
c5.2xlarge 58
c5.4xlarge 234
c5.9xlarge 234
c5.large 29
c5.xlarge 58
c6i.12xlarge 234
c6i.16xlarge 737
c6i.24xlarge 737
c6i.2xlarge 58
c6i.4xlarge 234
c6i.8xlarge 234
c6i.large 29
c6i.xlarge 58
c7g.12xlarge 234
c7g.16xlarge 737
c7g.2xlarge 58
c7g.4xlarge 234
c7g.8xlarge 234
c7g.large 29
c7g.medium 8
c7g.xlarge 58
c7i.12xlarge 234
c7i.16xlarge 737
c7i.24xlarge 737
c7i.2xlarge 58
c7i.4xlarge 234
c7i.8xlarge 234
c7i.large 29
c7i.xlarge 58
m5.12xlarge 234
m5.16xlarge 737
m5.24xlarge 737
m5.2xlarge 58
m5.4xlarge 234
m5.8xlarge 234
m5.large 29
m5.xlarge 58
m6g.12xlarge 234
m6g.16xlarge 737
m6g.2xlarge 58
m6g.4xlarge 234
m6g.8xlarge 234
m6g.large 29
m6g.medium 8
m6g.xlarge 58
m6i.12xlarge 234
m6i.16xlarge 737
m6i.24xlarge 737
m6i.2xlarge 58
m6i.4xlarge 234
m6i.8xlarge 234
m6i.large 29
m6i.xlarge 58
m7g.12xlarge 234
m7g.16xlarge 737
m7g.2xlarge 58
m7g.4xlarge 234
m7g.8xlarge 234
m7g.large 29
m7g.medium 8
m7g.xlarge 58
m7i.12xlarge 234
m7i.16xlarge 737
m7i.24xlarge 737
m7i.2xlarge 58
m7i.4xlarge 234
m7i.8xlarge 234
m7i.large 29
m7i.xlarge 58
r5.12xlarge 234
r5.16xlarge 737
r5.24xlarge 737
r5.2xlarge 58
r5.4xlarge 234
r5.8xlarge 234
r5.large 29
r5.xlarge 58
r6i.12xlarge 234
r6i.16xlarge 737
r6i.24xlarge 737
r6i.2xlarge 58
r6i.4xlarge 234
r6i.8xlarge 234
r6i.large 29
r6i.xlarge 58
r7i.12xlarge 234
r7i.16xlarge 737
r7i.24xlarge 737
r7i.2xlarge 58
r7i.4xlarge 234
r7i.8xlarge 234
r7i.large 29
r7i.xlarge 58
t3.2xlarge 58
t3.large 35
t3.medium 17
t3.micro 4
t3.nano 4
t3.small 11
t3.xlarge 58
"""
ENI_MAX_PODS = {name: int(value) for name, value in (line.split() for line in ENI_MAX_PODS_TXT.split("\n") if line)}

CTX = RequestContext("111122223333", "us-west-2", "arn:aws:iam::111122223333:root", "AKIAEXAMPLE", "rid")
EC2_MODEL = get_service_model("ec2")
DESCRIBE = EC2_MODEL.operation_model("DescribeInstanceTypes")
GIB = 1 << 30
MIB = 1 << 20


# --- catalog --------------------------------------------------------------------------------------


def test_catalog_covers_the_common_families_and_sizes():
    x86 = ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge")
    graviton = ("medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")
    expected = {f"t3.{s}" for s in ("nano", "micro", "small", "medium", "large", "xlarge", "2xlarge")}
    expected |= {f"{f}.{s}" for f in ("m5", "m6i", "m7i", "c6i", "c7i", "r5", "r6i", "r7i") for s in x86}
    expected |= {f"c5.{s}" for s in ("large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "12xlarge", "18xlarge", "24xlarge")}
    expected |= {f"{f}.{s}" for f in ("m6g", "m7g", "c7g") for s in graviton}
    assert expected <= set(it.CATALOG)
    assert all(name == entry.name and name.startswith(entry.family + ".") for name, entry in it.CATALOG.items())


@pytest.mark.parametrize(
    ("name", "enis", "ips"),
    [
        ("m5.large", 3, 10),
        ("t3.medium", 3, 6),
        ("t3.nano", 2, 2),
        ("t3.small", 3, 4),
        ("t3.large", 3, 12),
        ("m5.xlarge", 4, 15),
        ("m5.4xlarge", 8, 30),
        ("c5.large", 3, 10),
        ("c5.9xlarge", 8, 30),
        ("m5.24xlarge", 15, 50),
        ("m6g.medium", 2, 4),
        ("c7g.16xlarge", 15, 50),
    ],
)
def test_eni_limits_are_aws_numbers(name, enis, ips):
    entry = it.CATALOG[name]
    assert (entry.max_enis, entry.ipv4_per_eni) == (enis, ips)


def test_every_catalog_entry_matches_eni_max_pods_txt():
    assert set(it.CATALOG) == set(ENI_MAX_PODS)
    assert {name: it.eni_max_pods(name) for name in it.CATALOG} == ENI_MAX_PODS


@pytest.mark.parametrize(
    ("name", "vcpus", "memory_mib", "arch"),
    [
        ("t3.nano", 2, 512, "x86_64"),
        ("t3.2xlarge", 8, 32768, "x86_64"),
        ("m5.large", 2, 8192, "x86_64"),
        ("c5.9xlarge", 36, 73728, "x86_64"),
        ("r5.24xlarge", 96, 786432, "x86_64"),
        ("c7i.4xlarge", 16, 32768, "x86_64"),
        ("m6g.medium", 1, 4096, "arm64"),
        ("m7g.16xlarge", 64, 262144, "arm64"),
        ("c7g.large", 2, 4096, "arm64"),
    ],
)
def test_shapes(name, vcpus, memory_mib, arch):
    entry = it.get(name)
    assert (entry.vcpus, entry.memory_mib, entry.arch) == (vcpus, memory_mib, arch)
    assert entry.kubernetes_arch == ("amd64" if arch == "x86_64" else "arm64")
    assert entry.cores * entry.threads_per_core == entry.vcpus


def test_graviton_is_arm64_with_one_thread_per_core():
    graviton = [e for e in it.CATALOG.values() if e.family in ("m6g", "m7g", "c7g")]
    assert graviton and all(e.arch == "arm64" and e.threads_per_core == 1 for e in graviton)
    assert all(e.arch == "x86_64" for e in it.CATALOG.values() if e.family not in ("m6g", "m7g", "c7g"))


def test_unknown_type_is_a_key_error():
    with pytest.raises(KeyError):
        it.get("m5.huge")
    assert not it.is_known("m5.huge")


# --- max pods -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("m5.large", 29),
        ("t3.medium", 17),
        ("m5.xlarge", 58),
        ("c5.large", 29),
        ("m5.24xlarge", 250),  # 737 from the ENIs, 96 vCPUs > 30: capped at 250
        ("t3.nano", 4),
        ("t3.micro", 4),
        ("t3.small", 11),
        ("t3.large", 35),
        ("m5.2xlarge", 58),
        ("m5.4xlarge", 110),  # 234, 16 vCPUs: capped at 110
        ("m5.8xlarge", 234),  # 32 vCPUs: ceiling 250, not reached
        ("c5.9xlarge", 234),
        ("m5.16xlarge", 250),
        ("m6g.medium", 8),
        ("c7g.16xlarge", 250),
        ("r7i.12xlarge", 234),
    ],
)
def test_max_pods(name, expected):
    assert it.max_pods(name) == expected


def test_max_pods_options_follow_the_calculator():
    assert it.max_pods("m5.large", prefix_delegation=True) == 110  # 3 x 9 x 16 + 2 = 434, capped
    assert it.max_pods("m5.large", custom_networking=True) == 20  # (3 - 1) x 9 + 2
    assert it.max_pods("t3.nano", prefix_delegation=True) == 34  # 2 x 1 x 16 + 2
    assert it.max_pods("m5.24xlarge", prefix_delegation=True) == 250
    assert it.max_pods("m5.xlarge", max_enis=2) == 30  # --cni-max-eni 2
    assert it.max_pods(it.CATALOG["m5.large"]) == 29  # an InstanceType works as well as its name


def test_eni_max_pods_is_uncapped():
    assert it.eni_max_pods("m5.24xlarge") == 737
    assert it.eni_max_pods("m5.4xlarge") == 234


# --- kubelet reservations and node resources ------------------------------------------------------


@pytest.mark.parametrize(
    ("vcpus", "millicores"),
    [(1, 60), (2, 70), (4, 80), (8, 90), (16, 110), (32, 150), (36, 160), (48, 190), (64, 230), (96, 310)],
)
def test_kube_reserved_cpu(vcpus, millicores):
    assert it.kube_reserved_cpu_millicores(vcpus) == millicores


@pytest.mark.parametrize(("pods", "mib"), [(29, 574), (17, 442), (4, 299), (110, 1465), (250, 3005)])
def test_kube_reserved_memory(pods, mib):
    assert it.kube_reserved_memory_mib(pods) == mib


def test_m5_large_node_resources():
    resources = it.node_resources("m5.large")
    capacity, allocatable = resources["capacity"], resources["allocatable"]
    # 8192 MiB less Karpenter's 7.5% estimate: 8192 - ceil(614.4) = 7577 MiB.
    assert capacity == {
        "cpu": "2",
        "ephemeral-storage": "20Gi",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": "7577Mi",
        "pods": "29",
    }
    # cpu 2000m - 70m; memory 7577Mi - 574Mi kube-reserved - 100Mi eviction;
    # disk 20Gi - 1Gi kube-reserved - int(20Gi x float32(0.1)).
    assert allocatable == {
        "cpu": "1930m",
        "ephemeral-storage": str(20 * GIB - GIB - 2147483680),
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": f"{7577 - 574 - 100}Mi",
        "pods": "29",
    }


def test_node_resources_with_nominal_memory_and_options():
    resources = it.node_resources("m5.xlarge", 50, memory_overhead_percent=0)
    assert resources["capacity"]["memory"] == "16Gi"
    assert resources["allocatable"]["memory"] == f"{16384 - 893 - 100}Mi"
    assert resources["allocatable"]["cpu"] == "3920m"
    assert resources["capacity"]["ephemeral-storage"] == "50Gi"

    assert it.node_resources("m5.large", pods=110)["allocatable"]["memory"] == f"{7577 - 1465 - 100}Mi"
    assert it.node_resources("m5.large", prefix_delegation=True)["capacity"]["pods"] == "110"
    arm = it.node_resources("m7g.large")["capacity"]
    assert {"hugepages-32Mi", "hugepages-64Ki"} <= set(arm)


def test_ephemeral_storage_matches_a_real_al2_node():
    # A 20 GiB AL2 node reports capacity 20959212Ki and allocatable 18242267924: the kubelet takes
    # 10% as a float32 (2146223340, not ...308) and AL2 reserves 1Gi.
    capacity = 20959212 * 1024
    assert it.percentage_of(capacity, 0.1) == 2146223340
    assert capacity - it.percentage_of(capacity, 0.1) - GIB == 18242267924


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (512, "512"),
        (1024, "1Ki"),
        (7949508 * 1024, "7949508Ki"),
        (8 * GIB, "8Gi"),
        (7577 * MIB, "7577Mi"),
        (18242267924, "18242267924"),
        (20 * GIB, "20Gi"),
    ],
)
def test_binary_quantities_are_canonical(value, text):
    assert it.format_binary_quantity(value) == text


@pytest.mark.parametrize(("millicores", "text"), [(2000, "2"), (1930, "1930m"), (96000, "96"), (60, "60m")])
def test_cpu_quantities(millicores, text):
    assert it.format_cpu(millicores) == text


# --- DescribeInstanceTypes ------------------------------------------------------------------------


def _member_names_are_in_the_model(value, shape, path="InstanceTypeInfo"):
    if shape.type_name == "structure":
        assert isinstance(value, dict), path
        unknown = set(value) - set(shape.members)
        assert not unknown, f"{path}: {sorted(unknown)} are not members"
        for key, item in value.items():
            _member_names_are_in_the_model(item, shape.members[key], f"{path}.{key}")
    elif shape.type_name == "list":
        for index, item in enumerate(value):
            _member_names_are_in_the_model(item, shape.member, f"{path}[{index}]")
    elif getattr(shape, "enum", None):
        assert value in shape.enum, f"{path}: {value!r} not in {shape.enum}"


def test_instance_type_info_uses_the_model_member_names():
    shape = botocore.session.get_session().get_service_model("ec2").shape_for("InstanceTypeInfo")
    for name in it.CATALOG:
        _member_names_are_in_the_model(it.instance_type_info(name), shape)
    info = it.instance_type_info("m5.large")
    assert info["ProcessorInfo"]["SupportedArchitectures"] == ["x86_64"]
    assert info["VCpuInfo"] == {"DefaultVCpus": 2, "DefaultCores": 1, "DefaultThreadsPerCore": 2}
    assert info["MemoryInfo"] == {"SizeInMiB": 8192}
    assert info["NetworkInfo"]["MaximumNetworkInterfaces"] == 3
    assert info["NetworkInfo"]["Ipv4AddressesPerInterface"] == 10
    assert info["NetworkInfo"]["Ipv6AddressesPerInterface"] == 10
    assert info["NetworkInfo"]["NetworkPerformance"] == "Up to 10 Gigabit"
    assert info["Hypervisor"] == "nitro"


def _describe(**params) -> dict:
    return Ec2Service().handler("DescribeInstanceTypes")(CTX, params)


def _names(result: dict) -> list[str]:
    return [i["InstanceType"] for i in result["InstanceTypes"]]


def test_describe_by_name_keeps_order_and_drops_duplicates():
    result = _describe(InstanceTypes=["m5.large", "c7g.medium", "m5.large"])
    assert _names(result) == ["m5.large", "c7g.medium"]
    assert "NextToken" not in result


def test_describe_unknown_type_is_invalid_instance_type():
    with pytest.raises(AwsError) as caught:
        _describe(InstanceTypes=["m5.large", "m5.huge", "x9.nope"])
    assert caught.value.code == "InvalidInstanceType"
    assert caught.value.message == "The following supplied instance types do not exist: [m5.huge, x9.nope]"


def test_describe_filters():
    names = _names(_describe(Filters=[{"Name": "instance-type", "Values": ["m5.*", "t3.n*"]}]))
    assert set(names) == {n for n in it.CATALOG if n.startswith("m5.")} | {"t3.nano"}

    arm = _names(_describe(Filters=[{"Name": "processor-info.supported-architecture", "Values": ["arm64"]}]))
    assert set(arm) == {n for n, e in it.CATALOG.items() if e.arch == "arm64"} and len(arm) == 24

    two_vcpu_8g = _names(
        _describe(
            Filters=[
                {"Name": "vcpu-info.default-vcpus", "Values": ["2"]},
                {"Name": "memory-info.size-in-mib", "Values": ["8192"]},
                {"Name": "current-generation", "Values": ["true"]},
            ]
        )
    )
    assert set(two_vcpu_8g) == {"t3.large", "m5.large", "m6i.large", "m7i.large", "m6g.large", "m7g.large"}

    assert _names(_describe(Filters=[{"Name": "current-generation", "Values": ["false"]}])) == []
    burstable = _describe(Filters=[{"Name": "burstable-performance-supported", "Values": ["true"]}])
    assert {n.split(".")[0] for n in _names(burstable)} == {"t3"}
    clock = _names(_describe(Filters=[{"Name": "processor-info.sustained-clock-speed-in-ghz", "Values": ["2.6"]}]))
    assert {n.split(".")[0] for n in clock} == {"m7g", "c7g"}


def test_describe_unknown_filter_is_an_error():
    with pytest.raises(AwsError) as caught:
        _describe(Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    assert caught.value.code == "InvalidParameterValue"


def test_describe_pages_through_everything_once():
    seen, token, pages = [], None, 0
    while True:
        params = {"MaxResults": 7}
        if token:
            params["NextToken"] = token
        result = _describe(**params)
        assert len(result["InstanceTypes"]) <= 7
        seen += _names(result)
        pages += 1
        token = result.get("NextToken")
        if not token:
            break
    assert seen == list(it.CATALOG)
    assert pages == -(-len(it.CATALOG) // 7)
    # Without MaxResults a page holds 100.
    first = _describe()
    assert len(first["InstanceTypes"]) == 100 and "NextToken" in first
    assert len(_describe(NextToken=first["NextToken"])["InstanceTypes"]) == len(it.CATALOG) - 100


def test_describe_pages_apply_after_filters():
    filters = [{"Name": "instance-type", "Values": ["c7g.*"]}]
    first = _describe(Filters=filters, MaxResults=5)
    second = _describe(Filters=filters, MaxResults=5, NextToken=first["NextToken"])
    assert _names(first) + _names(second) == [n for n in it.CATALOG if n.startswith("c7g.")]
    assert "NextToken" not in second


@pytest.mark.parametrize("token", ["garbage", "eyJvZmZzZXQiOiA5OTk5fQ=="])  # the second decodes to offset 9999
def test_describe_invalid_token(token):
    with pytest.raises(AwsError) as caught:
        _describe(NextToken=token)
    assert caught.value.code == "InvalidParameterValue"
    assert caught.value.message == f"Value ( {token} ) for parameter NextToken is invalid. The token is invalid."


def test_describe_dry_run():
    with pytest.raises(AwsError) as caught:
        _describe(DryRun=True)
    assert (caught.value.code, caught.value.status) == ("DryRunOperation", 412)


def _botocore_parse(shape, status, headers, body) -> dict:
    http_headers = HTTPHeaders()
    for name, value in headers.items():
        http_headers[name] = value
    response = {"status_code": status, "headers": http_headers, "body": body, "context": {}}
    parsed = create_parser("ec2").parse(response, shape)
    parsed.pop("ResponseMetadata", None)
    return parsed


def test_describe_output_survives_our_serializer_and_botocore_parser():
    result = _describe(MaxResults=100)
    status, headers, body = serialize_response(DESCRIBE, result, "rid-1")
    assert status == 200
    assert _botocore_parse(DESCRIBE.output_shape, status, headers, body) == result

    arm = _describe(InstanceTypes=["m7g.large", "t3.nano"])
    _, headers, body = serialize_response(DESCRIBE, arm, "rid-2")
    assert _botocore_parse(DESCRIBE.output_shape, 200, headers, body) == arm


def test_invalid_instance_type_error_survives_the_wire():
    try:
        _describe(InstanceTypes=["m5.huge"])
    except AwsError as error:
        status, headers, body = serialize_error(EC2_MODEL, error, "rid")
    assert status == 400
    parsed = _botocore_parse(DESCRIBE.output_shape, status, headers, body)
    assert parsed["Error"] == {"Code": "InvalidInstanceType", "Message": "The following supplied instance types do not exist: [m5.huge]"}


def test_request_from_botocore_reaches_the_handler():
    params = {
        "InstanceTypes": ["m5.large", "m6g.large", "c5.large"],
        "Filters": [{"Name": "processor-info.supported-architecture", "Values": ["x86_64"]}],
        "MaxResults": 5,
    }
    request = to_aws_request(botocore_request(DESCRIBE, params))
    _, operation = route(request)
    parsed = parse(operation, request)
    validate_params(operation, parsed)
    assert parsed == params
    assert _names(Ec2Service().DescribeInstanceTypes(CTX, parsed)) == ["m5.large", "c5.large"]


def test_max_results_below_the_model_minimum_is_rejected_by_the_gateway():
    with pytest.raises(AwsError):
        validate_params(DESCRIBE, {"MaxResults": 2})
