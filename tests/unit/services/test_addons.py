"""EKS add-on rules in-process: the catalogue as data, configurationValues against the schemas, the
seven operations' answers and errors, add-on Updates, tags by ARN, and add-on-owned Pod Identity."""

import json

import jsonschema
import pytest

from moorage.core.context import RequestContext
from moorage.core.errors import AwsError
from moorage.core.kinds import ADDON
from moorage.services.ec2.network import default_subnets
from moorage.services.eks.addon_manifests import IRSA_ANNOTATION, registry, render
from moorage.services.eks.addon_versions import CATALOG_DIR, catalog, default_version, find_version, parse_version_file
from moorage.services.eks.addons import addon_state
from moorage.services.eks.service import EksService
from moorage.services.iam.service import IamService
from moorage.store import SqliteStore

ACCOUNT = "111122223333"
CTX = RequestContext(ACCOUNT, "us-west-2", f"arn:aws:iam::{ACCOUNT}:root", "AKIAMOORAGETESTROOT1", "req-1")
IAM_CTX = RequestContext(ACCOUNT, "us-east-1", f"arn:aws:iam::{ACCOUNT}:root", "AKIAMOORAGETESTROOT1", "req-2")
REQUIRED = ["vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver", "aws-efs-csi-driver",
            "metrics-server", "amazon-cloudwatch-observability", "snapshot-controller"]
CLUSTER_INPUTS = {"name": "demo", "endpoint": "https://127.0.0.1:6443", "serviceCidr": "10.100.0.0/16"}


@pytest.fixture
def store(tmp_path):
    return SqliteStore(tmp_path / "state.db")


@pytest.fixture
def eks(store):
    service = EksService(store, "http://127.0.0.1:1")
    subnets = [s["SubnetId"] for s in default_subnets(CTX.account, CTX.region)][:2]
    service.CreateCluster(CTX, {"name": "demo", "version": "1.36", "roleArn": f"arn:aws:iam::{ACCOUNT}:role/eks",
                                "resourcesVpcConfig": {"subnetIds": subnets}})
    return service


def error_of(call, *args, **kwargs) -> AwsError:
    with pytest.raises(AwsError) as raised:
        call(*args, **kwargs)
    return raised.value


def create(eks, **params) -> dict:
    return eks.CreateAddon(CTX, {"clusterName": "demo", **params})["addon"]


def settle(store, name: str, status: str = "ACTIVE") -> None:
    """Play the reconciler: the add-on's objects applied and ready."""
    record = store.get(next(k for k in store.all_keys(ADDON) if k.name == f"demo/{name}"))
    store.merge_status(record, status=status, appliedUpdate=record.spec.get("_pendingUpdate"))


# The catalogue

def test_the_catalogue_has_every_add_on_of_the_issue_with_files_named_after_their_versions():
    assert set(REQUIRED) <= set(catalog())
    for path in CATALOG_DIR.glob("*/*.yaml"):
        entry = parse_version_file(path)
        assert (path.parent.name, path.stem) == (entry.name, entry.version)


@pytest.mark.parametrize("name", REQUIRED)
def test_every_version_renders_and_its_defaults_pass_its_schema(name):
    for version in catalog()[name]:
        jsonschema.validators.validator_for(version.schema).check_schema(version.schema)
        jsonschema.validate(version.defaults, version.schema)
        objects = render(version, region="us-west-2", cluster=CLUSTER_INPUTS, values=None)
        assert all("{{" not in json.dumps(o) for o in objects)
        assert all(o["metadata"]["name"] for o in objects)
        images = [c["image"] for o in objects for c in _containers(o)]
        assert all(image.startswith("602401143452.dkr.ecr.us-west-2.amazonaws.com/") for image in images)
        # metrics-server registers no APIService that nothing would serve
        assert not any(o["kind"] == "APIService" for o in objects)


def _containers(obj: dict) -> list[dict]:
    pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def test_defaults_per_cluster_minor_and_registries():
    assert default_version("coredns", "1.36").version == "v1.14.3-eksbuild.3"
    assert default_version("kube-proxy", "1.36").version == "v1.36.0-eksbuild.14"
    assert default_version("kube-proxy", "1.35").version == "v1.35.3-eksbuild.13"
    assert default_version("coredns", "1.30") is None
    assert registry("af-south-1") == "877085696533.dkr.ecr.af-south-1.amazonaws.com"
    assert registry("cn-north-1") == "918309763551.dkr.ecr.cn-north-1.amazonaws.com.cn"


def test_configuration_values_reach_the_objects():
    coredns = find_version("coredns", "v1.14.3-eksbuild.3")
    objects = {o["kind"]: o for o in render(coredns, region="us-west-2", cluster=CLUSTER_INPUTS, values={"replicaCount": 3})}
    assert objects["Deployment"]["spec"]["replicas"] == 3
    assert objects["Service"]["spec"]["clusterIP"] == "10.100.0.10"
    assert "kubernetes cluster.local" in objects["ConfigMap"]["data"]["Corefile"]
    cni = find_version("vpc-cni", "v1.20.1-eksbuild.3")
    daemonset = next(o for o in render(cni, region="us-west-2", cluster=CLUSTER_INPUTS, values={"env": {"WARM_IP_TARGET": "5"}},
                                       service_account_role_arn=f"arn:aws:iam::{ACCOUNT}:role/cni") if o["kind"] == "DaemonSet")
    env = {e["name"]: e["value"] for e in daemonset["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["WARM_IP_TARGET"] == "5" and env["WARM_ENI_TARGET"] == "1"  # merged over the defaults
    account = next(o for o in render(cni, region="us-west-2", cluster=CLUSTER_INPUTS, values=None,
                                     service_account_role_arn=f"arn:aws:iam::{ACCOUNT}:role/cni") if o["kind"] == "ServiceAccount")
    assert account["metadata"]["annotations"][IRSA_ANNOTATION] == f"arn:aws:iam::{ACCOUNT}:role/cni"


# DescribeAddonVersions and DescribeAddonConfiguration

def test_describe_addon_versions_filters_and_pages(eks):
    everything = eks.DescribeAddonVersions(CTX, {})["addons"]
    assert [a["addonName"] for a in everything] == sorted(a["addonName"] for a in everything)
    coredns = eks.DescribeAddonVersions(CTX, {"kubernetesVersion": "1.36", "addonName": "coredns"})["addons"]
    assert len(coredns) == 1 and coredns[0]["owner"] == "aws" and coredns[0]["publisher"] == "eks"
    versions = coredns[0]["addonVersions"]
    assert [v["addonVersion"] for v in versions] == ["v1.14.3-eksbuild.3", "v1.14.2-eksbuild.4"]  # 1.13 is for 1.34
    assert versions[0]["compatibilities"] == [{"clusterVersion": "1.36", "platformVersions": ["*"], "defaultVersion": True}]
    assert versions[1]["compatibilities"][0]["defaultVersion"] is False
    assert "amd64" in versions[0]["architecture"] and "ec2" in versions[0]["computeTypes"]
    community = eks.DescribeAddonVersions(CTX, {"owners": ["community"]})["addons"]
    assert [a["addonName"] for a in community] == ["metrics-server"]
    storage = {a["addonName"] for a in eks.DescribeAddonVersions(CTX, {"types": ["storage"]})["addons"]}
    assert storage == {"aws-ebs-csi-driver", "aws-efs-csi-driver", "snapshot-controller"}
    assert eks.DescribeAddonVersions(CTX, {"addonName": "no-such-addon"})["addons"] == []
    pages, token = [], None
    while True:
        page = eks.DescribeAddonVersions(CTX, {"maxResults": 4, **({"nextToken": token} if token else {})})
        pages.append([a["addonName"] for a in page["addons"]])
        token = page.get("nextToken")
        if not token:
            break
    assert sum(pages, []) == [a["addonName"] for a in everything] and all(len(p) <= 4 for p in pages)


def test_describe_addon_configuration(eks):
    answer = eks.DescribeAddonConfiguration(CTX, {"addonName": "aws-ebs-csi-driver", "addonVersion": "v1.57.1-eksbuild.1"})
    schema = json.loads(answer["configurationSchema"])
    assert schema["type"] == "object" and "controller" in schema["properties"]
    assert answer["podIdentityConfiguration"] == [{
        "serviceAccount": "ebs-csi-controller-sa",
        "recommendedManagedPolicies": ["arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"]}]
    assert error_of(eks.DescribeAddonConfiguration, CTX, {"addonName": "nope", "addonVersion": "v1.0.0-eksbuild.1"}).message == \
        "Addon specified is not supported"
    assert error_of(eks.DescribeAddonConfiguration, CTX, {"addonName": "coredns", "addonVersion": "v0.0.1-eksbuild.1"}).message == \
        "Addon version specified is not supported"


# CreateAddon, DescribeAddon, ListAddons

def test_create_describe_list(eks):
    addon = create(eks, addonName="coredns", configurationValues='{"replicaCount":3}', tags={"team": "dns"})
    assert addon["status"] == "CREATING" and addon["addonVersion"] == "v1.14.3-eksbuild.3"
    assert addon["addonArn"].startswith(f"arn:aws:eks:us-west-2:{ACCOUNT}:addon/demo/coredns/")
    assert addon["configurationValues"] == '{"replicaCount":3}' and addon["tags"] == {"team": "dns"}
    described = eks.DescribeAddon(CTX, {"clusterName": "demo", "addonName": "coredns"})["addon"]
    assert described["addonArn"] == addon["addonArn"] and described["health"] == {"issues": []}
    create(eks, addonName="kube-proxy")
    create(eks, addonName="vpc-cni")
    assert eks.ListAddons(CTX, {"clusterName": "demo"})["addons"] == ["coredns", "kube-proxy", "vpc-cni"]
    first = eks.ListAddons(CTX, {"clusterName": "demo", "maxResults": 2})
    assert first["addons"] == ["coredns", "kube-proxy"]
    assert eks.ListAddons(CTX, {"clusterName": "demo", "nextToken": first["nextToken"]})["addons"] == ["vpc-cni"]


def test_tags_by_addon_arn(eks):
    arn = create(eks, addonName="coredns", tags={"a": "1"})["addonArn"]
    eks.TagResource(CTX, {"resourceArn": arn, "tags": {"b": "2"}})
    assert eks.ListTagsForResource(CTX, {"resourceArn": arn})["tags"] == {"a": "1", "b": "2"}
    eks.UntagResource(CTX, {"resourceArn": arn, "tagKeys": ["a"]})
    assert eks.DescribeAddon(CTX, {"clusterName": "demo", "addonName": "coredns"})["addon"]["tags"] == {"b": "2"}
    assert error_of(eks.ListTagsForResource, CTX, {"resourceArn": arn[:-4] + "0000"}).code == "NotFoundException"


def test_create_errors_in_eks_words(eks):
    unknown = error_of(create, eks, addonName="kube-dns")
    assert (unknown.code, unknown.message, unknown.resolved_status(None)) == ("InvalidParameterException", "Addon specified is not supported", 400)
    assert error_of(create, eks, addonName="coredns", addonVersion="v9.9.9-eksbuild.1").message == "Addon version specified is not supported"
    incompatible = error_of(create, eks, addonName="coredns", addonVersion="v1.13.2-eksbuild.11")
    assert incompatible.message == "Addon version specified is not supported for cluster version 1.36"
    prefix = "ConfigurationValue provided in request is not supported: Json schema validation failed with error: "
    assert error_of(create, eks, addonName="coredns", configurationValues='{"podAnnotations2": {}}').message == \
        prefix + "[$.podAnnotations2: is not defined in the schema and the schema does not allow additional properties]"
    assert error_of(create, eks, addonName="coredns", configurationValues="null").message == prefix + "[$: null found, object expected]"
    assert error_of(create, eks, addonName="coredns", configurationValues='{"replicaCount": "3"}').message == \
        prefix + "[$.replicaCount: string found, integer expected]"
    assert error_of(create, eks, addonName="coredns", configurationValues="{not json: [").message == \
        "ConfigurationValue is not in valid JSON or YAML format."
    refused = error_of(create, eks, addonName="metrics-server")
    assert refused.code == "InvalidParameterException" and "APIService" in refused.message
    assert error_of(create, eks, addonName="coredns", serviceAccountRoleArn="arn:aws:iam::1:user/x").code == "InvalidParameterException"
    assert error_of(create, eks, addonName="coredns", namespaceConfig={"namespace": "dns"}).code == "InvalidParameterException"
    assert eks.ListAddons(CTX, {"clusterName": "demo"})["addons"] == []  # nothing recorded by a refusal
    create(eks, addonName="coredns", configurationValues="replicaCount: 4")  # YAML is accepted too
    duplicate = error_of(create, eks, addonName="coredns")
    assert (duplicate.code, duplicate.message) == ("ResourceInUseException", "Addon already exists.")
    missing = error_of(eks.DescribeAddon, CTX, {"clusterName": "demo", "addonName": "vpc-cni"})
    assert (missing.code, missing.message) == ("ResourceNotFoundException", "No addon: vpc-cni found in cluster: demo")
    assert error_of(create, eks, clusterName="nope", addonName="coredns").code == "ResourceNotFoundException"


def test_client_request_token_makes_create_idempotent(eks):
    first = create(eks, addonName="coredns", clientRequestToken="t-1")
    assert create(eks, addonName="coredns", clientRequestToken="t-1")["addonArn"] == first["addonArn"]


# UpdateAddon and its Update records

def test_update_makes_an_addon_update(eks, store):
    create(eks, addonName="coredns", addonVersion="v1.14.2-eksbuild.4")
    busy = error_of(eks.UpdateAddon, CTX, {"clusterName": "demo", "addonName": "coredns", "addonVersion": "v1.14.3-eksbuild.3"})
    assert busy.code == "ResourceInUseException"
    settle(store, "coredns")
    update = eks.UpdateAddon(CTX, {"clusterName": "demo", "addonName": "coredns", "addonVersion": "v1.14.3-eksbuild.3",
                                   "configurationValues": '{"replicaCount":3}', "resolveConflicts": "OVERWRITE"})["update"]
    assert update["type"] == "AddonUpdate" and update["status"] == "InProgress"
    assert {p["type"]: p["value"] for p in update["params"]} == {
        "AddonVersion": "v1.14.3-eksbuild.3", "ConfigurationValues": '{"replicaCount":3}', "ResolveConflicts": "OVERWRITE"}
    addon = eks.DescribeAddon(CTX, {"clusterName": "demo", "addonName": "coredns"})["addon"]
    assert addon["status"] == "UPDATING" and addon["addonVersion"] == "v1.14.3-eksbuild.3"
    assert eks.ListUpdates(CTX, {"name": "demo", "addonName": "coredns"})["updateIds"] == [update["id"]]
    assert eks.ListUpdates(CTX, {"name": "demo"})["updateIds"] == []  # the cluster's own updates only
    described = eks.DescribeUpdate(CTX, {"name": "demo", "updateId": update["id"], "addonName": "coredns"})["update"]
    assert described["id"] == update["id"]
    assert error_of(eks.DescribeUpdate, CTX, {"name": "demo", "updateId": update["id"]}).code == "ResourceNotFoundException"
    settle(store, "coredns")
    bad = error_of(eks.UpdateAddon, CTX, {"clusterName": "demo", "addonName": "coredns", "configurationValues": '{"x": 1}'})
    assert bad.code == "InvalidParameterException"


def test_update_keeps_configuration_when_omitted_and_resets_with_empty_object(eks, store):
    create(eks, addonName="coredns", configurationValues='{"replicaCount":3}')
    settle(store, "coredns")
    eks.UpdateAddon(CTX, {"clusterName": "demo", "addonName": "coredns", "resolveConflicts": "PRESERVE"})
    assert eks.DescribeAddon(CTX, {"clusterName": "demo", "addonName": "coredns"})["addon"]["configurationValues"] == '{"replicaCount":3}'
    settle(store, "coredns")
    eks.UpdateAddon(CTX, {"clusterName": "demo", "addonName": "coredns", "configurationValues": "{}"})
    assert eks.DescribeAddon(CTX, {"clusterName": "demo", "addonName": "coredns"})["addon"]["configurationValues"] == "{}"


def test_delete_marks_deleting_and_remembers_preserve(eks, store):
    create(eks, addonName="coredns")
    deleted = eks.DeleteAddon(CTX, {"clusterName": "demo", "addonName": "coredns", "preserve": True})["addon"]
    assert deleted["status"] == "DELETING"
    record = store.get(next(iter(store.all_keys(ADDON))))
    assert record.deleting and record.spec["_preserve"] is True and addon_state(record) == "DELETING"
    assert eks.DeleteAddon(CTX, {"clusterName": "demo", "addonName": "coredns"})["addon"]["status"] == "DELETING"
    assert error_of(eks.DeleteAddon, CTX, {"clusterName": "demo", "addonName": "vpc-cni"}).code == "ResourceNotFoundException"


# Pod Identity associations owned by the add-on

POD_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
                                                                "Action": ["sts:AssumeRole", "sts:TagSession"]}]})


def test_pod_identity_associations_are_owned_by_the_addon(eks, store):
    role = IamService(store, "AKIAMOORAGETESTROOT1").CreateRole(
        IAM_CTX, {"RoleName": "ebs", "AssumeRolePolicyDocument": POD_TRUST})["Role"]["Arn"]
    wrong = error_of(create, eks, addonName="aws-ebs-csi-driver", podIdentityAssociations=[{"serviceAccount": "default", "roleArn": role}])
    assert wrong.code == "InvalidParameterException" and "ebs-csi-controller-sa" in wrong.message
    assert error_of(create, eks, addonName="coredns", podIdentityAssociations=[{"serviceAccount": "coredns", "roleArn": role}]).code == \
        "InvalidParameterException"
    missing_role = error_of(create, eks, addonName="aws-ebs-csi-driver",
                            podIdentityAssociations=[{"serviceAccount": "ebs-csi-controller-sa", "roleArn": f"arn:aws:iam::{ACCOUNT}:role/none"}])
    assert missing_role.message == "Role provided in the request does not exist."
    assert eks.ListAddons(CTX, {"clusterName": "demo"})["addons"] == []
    addon = create(eks, addonName="aws-ebs-csi-driver", podIdentityAssociations=[{"serviceAccount": "ebs-csi-controller-sa", "roleArn": role}])
    (arn,) = addon["podIdentityAssociations"]
    (summary,) = eks.ListPodIdentityAssociations(CTX, {"clusterName": "demo"})["associations"]
    assert summary["associationArn"] == arn and summary["ownerArn"] == addon["addonArn"]
    assert (summary["namespace"], summary["serviceAccount"]) == ("kube-system", "ebs-csi-controller-sa")
    settle(store, "aws-ebs-csi-driver")
    eks.UpdateAddon(CTX, {"clusterName": "demo", "addonName": "aws-ebs-csi-driver", "podIdentityAssociations": []})
    assert eks.ListPodIdentityAssociations(CTX, {"clusterName": "demo"})["associations"] == []


def test_bootstrap_self_managed_addons_is_kept_but_not_shown(eks, store):
    subnets = [s["SubnetId"] for s in default_subnets(CTX.account, CTX.region)][:2]
    cluster = eks.CreateCluster(CTX, {"name": "bare", "roleArn": f"arn:aws:iam::{ACCOUNT}:role/eks", "bootstrapSelfManagedAddons": False,
                                      "resourcesVpcConfig": {"subnetIds": subnets}})["cluster"]
    assert "bootstrapSelfManagedAddons" not in cluster  # not a member of EKS's Cluster shape
    assert eks.clusters.get(CTX, "bare").spec["_bootstrapSelfManagedAddons"] is False  # what the bootstrap reads
