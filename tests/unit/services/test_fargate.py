"""Fargate: pod sizing, selector matching, the admission patch, address placement, and the profile rules."""

from __future__ import annotations

import base64
import ipaddress
import json
from fractions import Fraction

import pytest

from moorage.controllers.fargate import place_fargate_address
from moorage.core.context import RequestContext
from moorage.core.errors import AwsError
from moorage.core.kinds import CLUSTER
from moorage.gateway.admission import fargate_patch, review_response
from moorage.services.ec2.service import Ec2Service
from moorage.services.eks.clusters import Clusters
from moorage.services.eks.fargate import FargateProfiles
from moorage.services.eks.fargate_pods import (
    fargate_node_name,
    fargate_size,
    matching_profile,
    parse_quantity,
    selector_matches,
    size_pod,
)
from moorage.store import Key, SqliteStore

GIB = 1024**3
MIB = 1024**2


def pod_spec(*containers: tuple, init: tuple = (), limits_only: bool = False) -> dict:
    """A pod spec from (cpu, memory[, extra fields]) per container; None leaves a resource out."""

    def container(name: str, cpu: str | None, memory: str | None, extra: dict | None = None) -> dict:
        amounts = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
        return {"name": name, "image": "nginx", "resources": {"limits" if limits_only else "requests": amounts}, **(extra or {})}

    return {
        "containers": [container(f"c{i}", *c) for i, c in enumerate(containers)],
        "initContainers": [container(f"i{i}", *c) for i, c in enumerate(init)],
    }


# --- quantities and sizing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("250m", Fraction(1, 4)), ("0.5", Fraction(1, 2)), ("2", Fraction(2)), ("512Mi", 512 * MIB), ("1Gi", GIB),
     ("1G", 10**9), ("1e9", 10**9), ("128974848", 128974848), ("1.5Gi", 3 * GIB // 2), ("100k", 100_000)],
)
def test_quantities(text, value):
    assert parse_quantity(text) == value


def test_bad_quantity_is_refused():
    with pytest.raises(ValueError):
        parse_quantity("lots")


@pytest.mark.parametrize(
    ("containers", "expected"),
    [
        ([(None, None)], "0.25vCPU 0.5GB"),  # no requests: the smallest size
        ([("250m", "256Mi")], "0.25vCPU 0.5GB"),  # 256 Mi + 256 Mi fits 0.5 GB exactly
        ([("250m", "257Mi")], "0.25vCPU 1GB"),  # one MiB more: the next memory step
        ([("1", "8Gi")], "2vCPU 9GB"),  # the documented example: no 1 vCPU / 9 GB size
        ([("1", "7Gi")], "1vCPU 8GB"),
        ([("0.5", "4Gi")], "1vCPU 5GB"),  # 4 GB + 256 MB is over 0.5 vCPU's 4 GB cap
        ([("300m", None)], "0.5vCPU 1GB"),  # CPU rounds up; 0.5 vCPU starts at 1 GB
        ([("3", "1Gi")], "4vCPU 8GB"),  # 4 vCPU starts at 8 GB
        ([("4", "30Gi")], "8vCPU 32GB"),  # 30 GB + 256 MB: 8 vCPU, memory in 4 GB steps
        ([("8", "60Gi")], "16vCPU 64GB"),  # 16 vCPU: 8 GB steps
        ([("16", "119Gi")], "16vCPU 120GB"),  # the largest size
        ([("250m", "128Mi"), ("250m", "128Mi")], "0.5vCPU 1GB"),  # app containers add up
    ],
)
def test_sizing_table(containers, expected):
    assert size_pod(pod_spec(*containers)).annotation == expected


def test_init_containers_count_by_the_largest_not_the_sum():
    # max(largest init 2 vCPU / 1 Gi, sum of apps 0.5 vCPU / 3 Gi) = 2 vCPU / 3 Gi (+256 Mi) -> 2 vCPU 4 GB
    spec = pod_spec(("250m", "1536Mi"), ("250m", "1536Mi"), init=(("2", "1Gi"), ("1", "512Mi")))
    assert size_pod(spec).annotation == "2vCPU 4GB"


def test_sidecar_init_containers_run_alongside_and_add_up():
    spec = pod_spec(("1", "1Gi"), init=(("1", "1Gi", {"restartPolicy": "Always"}),))
    assert size_pod(spec).annotation == "2vCPU 4GB"


def test_limits_stand_in_for_missing_requests():
    assert size_pod(pod_spec(("1", "8Gi"), limits_only=True)).annotation == "2vCPU 9GB"


@pytest.mark.parametrize(("cpu", "memory"), [("17", None), ("16", "120Gi"), (None, "121Gi")])
def test_too_big_for_fargate(cpu, memory):
    assert size_pod(pod_spec((cpu, memory))) is None


def test_size_quantities_for_the_node():
    size = fargate_size(Fraction(1), 8 * GIB)
    assert (size.cpu_quantity, size.memory_quantity) == ("2", "9Gi")
    small = fargate_size(Fraction(0), Fraction(0))
    assert (small.cpu_quantity, small.memory_quantity) == ("250m", "512Mi")


# --- matching ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "namespace", "labels", "matches"),
    [
        ({"namespace": "serverless"}, "serverless", {}, True),
        ({"namespace": "serverless"}, "default", {}, False),
        ({"namespace": "prod*"}, "prod-metrics", {}, True),
        ({"namespace": "prod*"}, "prod", {}, True),
        ({"namespace": "dev-?"}, "dev-1", {}, True),
        ({"namespace": "dev-?"}, "dev-12", {}, False),
        ({"namespace": "web", "labels": {"app": "api"}}, "web", {"app": "api", "tier": "x"}, True),
        ({"namespace": "web", "labels": {"app": "api", "tier": "front"}}, "web", {"app": "api"}, False),
        ({"namespace": "web", "labels": {"app": "api"}}, "web", {"app": "apis"}, False),
        ({"namespace": "web", "labels": {"app": "api-*"}}, "web", {"app": "api-v2"}, True),
        ({"namespace": "web", "labels": {"team/*": "a"}}, "web", {"team/name": "a"}, True),
        ({"namespace": "a[b]"}, "a[b]", {}, True),  # brackets are literal, not a character class
    ],
)
def test_selector_matching(selector, namespace, labels, matches):
    assert selector_matches(selector, namespace, labels) is matches


PROFILES = [
    {"fargateProfileName": "zeta", "selectors": [{"namespace": "serverless"}]},
    {"fargateProfileName": "alpha", "selectors": [{"namespace": "other"}, {"namespace": "serverless", "labels": {"app": "web"}}]},
]


def test_first_matching_profile_by_name_wins():
    assert matching_profile(PROFILES, "serverless", {"app": "web"})["fargateProfileName"] == "alpha"
    assert matching_profile(PROFILES, "serverless", {"app": "db"})["fargateProfileName"] == "zeta"
    assert matching_profile(PROFILES, "default", {"app": "web"}) is None


def test_a_pod_can_name_its_profile():
    labels = {"app": "web", "eks.amazonaws.com/fargate-profile": "zeta"}
    assert matching_profile(PROFILES, "serverless", labels)["fargateProfileName"] == "zeta"
    # ... but must still match one of that profile's selectors
    assert matching_profile(PROFILES, "other", {"eks.amazonaws.com/fargate-profile": "zeta"}) is None


# --- the admission patch -----------------------------------------------------------------------------------


def apply_patch(document: dict, patch: list[dict]) -> dict:
    """A small RFC 6902 'add' for the test (the only operation the webhook uses)."""
    result = json.loads(json.dumps(document))
    for op in patch:
        assert op["op"] == "add"
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        target = result
        for part in parts[:-1]:
            target = target[part]
        if parts[-1] == "-":
            target.append(op["value"])
        else:
            target[parts[-1]] = op["value"]
    return result


def test_patch_sends_a_matching_pod_to_fargate():
    pod = {"metadata": {"generateName": "web-"}, "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1", "memory": "8Gi"}}}]}}
    patch = fargate_patch(pod, "serverless", PROFILES)
    patched = apply_patch(pod, patch)
    assert patched["metadata"]["labels"] == {"eks.amazonaws.com/fargate-profile": "zeta"}
    assert patched["metadata"]["annotations"] == {"CapacityProvisioned": "2vCPU 9GB"}
    assert patched["spec"]["schedulerName"] == "fargate-scheduler"
    assert patched["spec"]["tolerations"] == [
        {"key": "eks.amazonaws.com/compute-type", "operator": "Equal", "value": "fargate", "effect": "NoSchedule"}
    ]


def test_patch_keeps_existing_labels_annotations_and_tolerations():
    pod = {
        "metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}},
        "spec": {"schedulerName": "default-scheduler", "containers": [{"name": "c"}], "tolerations": [{"key": "x", "operator": "Exists"}]},
    }
    patched = apply_patch(pod, fargate_patch(pod, "serverless", PROFILES))
    assert patched["metadata"]["labels"] == {"app": "web", "eks.amazonaws.com/fargate-profile": "alpha"}
    assert patched["metadata"]["annotations"] == {"a": "b", "CapacityProvisioned": "0.25vCPU 0.5GB"}
    assert len(patched["spec"]["tolerations"]) == 2


@pytest.mark.parametrize(
    "pod",
    [
        {"metadata": {}, "spec": {"containers": [{"name": "c"}], "nodeName": "ip-10-0-0-1"}},  # already placed
        {"metadata": {}, "spec": {"containers": [{"name": "c"}], "schedulerName": "my-scheduler"}},  # someone else's
        {"metadata": {"ownerReferences": [{"kind": "DaemonSet", "name": "ds"}]}, "spec": {"containers": [{"name": "c"}]}},
    ],
)
def test_pods_left_alone(pod):
    assert fargate_patch(pod, "serverless", PROFILES) is None


def test_review_response_carries_a_base64_json_patch():
    review = {"apiVersion": "admission.k8s.io/v1", "request": {"uid": "u1"}}
    answer = review_response(review, [{"op": "add", "path": "/spec/schedulerName", "value": "fargate-scheduler"}])
    assert answer["response"]["uid"] == "u1" and answer["response"]["allowed"] is True
    assert json.loads(base64.b64decode(answer["response"]["patch"]))[0]["value"] == "fargate-scheduler"
    assert "patch" not in review_response(review, None)["response"]


# --- the Fargate node --------------------------------------------------------------------------------------


def test_node_names():
    assert fargate_node_name("10.0.1.9", "us-west-2") == "fargate-ip-10-0-1-9.us-west-2.compute.internal"
    assert fargate_node_name("10.0.1.9", "us-east-1") == "fargate-ip-10-0-1-9.ec2.internal"


def test_addresses_from_the_bottom_past_taken_ones_and_pod_blocks():
    taken: set[str] = set()
    addresses = []
    for _ in range(3):
        address = place_fargate_address("10.0.8.0/24", taken, [])
        taken.add(address)
        addresses.append(address)
    assert addresses == ["10.0.8.4", "10.0.8.5", "10.0.8.6"]  # .0-.3 are AWS's
    # inside an EC2 node's pod block is not free either
    assert place_fargate_address("10.0.8.0/24", taken, [ipaddress.ip_network("10.0.8.0/29")]) == "10.0.8.8"


def test_full_subnet_has_no_address():
    assert place_fargate_address("10.0.9.0/28", set(), [ipaddress.ip_network("10.0.9.0/28")]) is None
    assert place_fargate_address("10.0.9.0/29", {"10.0.9.4", "10.0.9.5", "10.0.9.6"}, []) is None  # .7 is AWS's


# --- profile rules against a store (no processes) ----------------------------------------------------------


@pytest.fixture
def api(tmp_path):
    store = SqliteStore(tmp_path / "state.db")
    ctx = RequestContext("111122223333", "us-west-2", "arn:aws:iam::111122223333:root", "AKIA", "req")
    ec2 = Ec2Service(store)
    vpc = next(v for v in ec2.DescribeVpcs(ctx, {})["Vpcs"] if v["IsDefault"])
    table = ec2.CreateRouteTable(ctx, {"VpcId": vpc["VpcId"]})["RouteTable"]  # no internet route: private
    private = []
    for cidr, zone in (("172.31.128.0/20", "us-west-2a"), ("172.31.144.0/20", "us-west-2b")):
        subnet = ec2.CreateSubnet(ctx, {"VpcId": vpc["VpcId"], "CidrBlock": cidr, "AvailabilityZone": zone})["Subnet"]
        ec2.AssociateRouteTable(ctx, {"RouteTableId": table["RouteTableId"], "SubnetId": subnet["SubnetId"]})
        private.append(subnet["SubnetId"])
    public = [s["SubnetId"] for s in ec2.DescribeSubnets(ctx, {})["Subnets"] if s.get("DefaultForAz")]
    clusters = Clusters(store, "http://127.0.0.1:1")
    clusters.create(ctx, {"name": "demo", "roleArn": "arn:aws:iam::111122223333:role/c", "resourcesVpcConfig": {"subnetIds": public[:2] + private}})
    record = store.require(Key(ctx.account, ctx.region, CLUSTER, "demo"))
    store.merge_status(record, status="ACTIVE")
    return store, ctx, FargateProfiles(store, clusters), private, public


ROLE = "arn:aws:iam::111122223333:role/pod-execution"


def create(profiles, ctx, name, **extra):
    return profiles.create(ctx, {"clusterName": "demo", "fargateProfileName": name, "podExecutionRoleArn": ROLE,
                                 "selectors": [{"namespace": name}], **extra})


def test_subnets_default_to_the_clusters_private_ones(api):
    store, ctx, profiles, private, public = api
    profile = create(profiles, ctx, "fp")
    assert profile["subnets"] == private and profile["status"] == "CREATING"
    assert profile["fargateProfileArn"].startswith("arn:aws:eks:us-west-2:111122223333:fargateprofile/demo/fp/")


def test_public_subnets_are_refused(api):
    store, ctx, profiles, private, public = api
    with pytest.raises(AwsError) as excinfo:
        create(profiles, ctx, "fp", subnets=[public[0]])
    assert excinfo.value.code == "InvalidParameterException"
    assert excinfo.value.message == f"Subnet {public[0]} provided in Fargate Profile is not a private subnet"


def test_one_profile_changes_at_a_time(api):
    store, ctx, profiles, private, public = api
    create(profiles, ctx, "first")
    with pytest.raises(AwsError) as excinfo:
        create(profiles, ctx, "second")
    assert excinfo.value.code == "ResourceInUseException"
    assert excinfo.value.message == "Cannot create Fargate Profile second because cluster demo currently has Fargate profile first in status CREATING"
    first = store.require(Key(ctx.account, ctx.region, "fargateprofile", "demo/first"))
    store.merge_status(first, status="ACTIVE")
    create(profiles, ctx, "second")
    with pytest.raises(AwsError) as excinfo:
        profiles.delete(ctx, "demo", "first")
    assert "currently has Fargate profile second in status CREATING" in excinfo.value.message
    second = store.require(Key(ctx.account, ctx.region, "fargateprofile", "demo/second"))
    store.merge_status(second, status="ACTIVE")
    assert profiles.delete(ctx, "demo", "first")["status"] == "DELETING"
    with pytest.raises(AwsError) as excinfo:
        profiles.delete(ctx, "demo", "second")
    assert excinfo.value.message == "Cannot Delete Fargate Profile second because cluster demo currently has Fargate profile first in status DELETING"


def test_ten_profiles_per_cluster(api):
    store, ctx, profiles, private, public = api
    for n in range(10):
        create(profiles, ctx, f"fp{n}")
        store.merge_status(store.require(Key(ctx.account, ctx.region, "fargateprofile", f"demo/fp{n}")), status="ACTIVE")
    with pytest.raises(AwsError) as excinfo:
        create(profiles, ctx, "eleventh")
    assert excinfo.value.code == "ResourceLimitExceededException"
    assert sorted(profiles.list(ctx, {"clusterName": "demo", "maxResults": 4})["fargateProfileNames"]) == ["fp0", "fp1", "fp2", "fp3"]


# --- the HTTPS listener kube-apiserver calls ---------------------------------------------------------------


def test_webhook_listener_serves_reviews_over_tls_and_keeps_its_port(api, tmp_path):
    import asyncio
    import ssl

    import aiohttp

    from moorage.controllers.fargate_webhook import FargateWebhookConfigurations
    from moorage.gateway.clusters_by_id import ClustersById
    from moorage.gateway.webhook_listener import WebhookServer

    store, ctx, profiles, private, public = api
    create(profiles, ctx, "serverless")
    store.merge_status(store.require(Key(ctx.account, ctx.region, "fargateprofile", "demo/serverless")), status="ACTIVE")
    cluster_id = store.require(Key(ctx.account, ctx.region, CLUSTER, "demo")).spec["id"]
    review = {
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "r1", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE",
                    "namespace": "serverless", "object": {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}},
    }

    async def serve_once() -> tuple[int, dict, dict]:
        clusters = ClustersById(store)
        clusters.load()
        server = WebhookServer(store, tmp_path / "data", clusters.get)
        await server.start()
        try:
            config = FargateWebhookConfigurations(store, server).configuration(cluster_id)
            tls = ssl.create_default_context(cadata=base64.b64decode(config["webhooks"][0]["clientConfig"]["caBundle"]).decode())
            url = config["webhooks"][0]["clientConfig"]["url"]
            async with aiohttp.ClientSession() as session:
                async with session.post(url, json=review, ssl=tls) as response:
                    assert response.status == 401  # only the cluster's own kube-apiserver is answered
                client = server.review_client(tmp_path / "cluster-pki", cluster_id)
                tls = ssl.create_default_context(cadata=server.ca_pem.decode())
                tls.load_cert_chain(str(client.cert.cert), str(client.cert.key))
                async with session.post(url, json=review, ssl=tls) as response:
                    return server.port, config, await response.json()
        finally:
            await server.stop()

    port, config, answer = asyncio.run(serve_once())
    assert config["metadata"]["name"] == "0500-amazon-eks-fargate-mutation.amazonaws.com"
    assert config["webhooks"][0]["failurePolicy"] == "Ignore"
    assert answer["response"]["allowed"] and answer["response"]["uid"] == "r1"
    patch = json.loads(base64.b64decode(answer["response"]["patch"]))
    assert {"op": "add", "path": "/spec/schedulerName", "value": "fargate-scheduler"} in patch
    again, _, _ = asyncio.run(serve_once())
    assert again == port  # chosen once, kept in the store's settings


def test_profiles_are_tagged_by_their_arn(api):
    store, ctx, profiles, private, public = api
    arn = create(profiles, ctx, "tagged", tags={"team": "web"})["fargateProfileArn"]
    clusters = profiles.clusters
    assert clusters.list_tags(ctx, arn) == {"tags": {"team": "web"}}
    clusters.tag(ctx, arn, {"env": "dev"})
    clusters.untag(ctx, arn, ["team"])
    assert clusters.list_tags(ctx, arn) == {"tags": {"env": "dev"}}
    assert profiles.describe(ctx, "demo", "tagged")["tags"] == {"env": "dev"}
    from moorage.core.errors import AwsError
    with pytest.raises(AwsError) as excinfo:
        clusters.list_tags(ctx, arn.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000")
    assert excinfo.value.code == "NotFoundException"
