"""EC2 launch templates: versions ($Latest, $Default, numbers), SourceVersion merges, default version
rules, EC2's errors, tags, pages, and resolve_launch_template (what EKS node groups use).
"""

import base64

import pytest

from moorage.core.context import RequestContext
from moorage.core.errors import AwsError
from moorage.services.ec2.launch_templates import resolve_launch_template
from moorage.services.ec2.service import Ec2Service
from moorage.store import SqliteStore

ACCOUNT, REGION = "111122223333", "us-west-2"
USER_DATA = base64.b64encode(b"#!/bin/bash\necho hello\n").decode()


@pytest.fixture
def ec2(tmp_path):
    return Ec2Service(SqliteStore(tmp_path / "state.db"))


@pytest.fixture
def ctx():
    return RequestContext(ACCOUNT, REGION, f"arn:aws:iam::{ACCOUNT}:user/alice", "AKIDEXAMPLE", "request-1")


def call(ec2, ctx, operation, **params):
    return ec2.handler(operation)(ctx, params)


def error_of(excinfo):
    return excinfo.value.code, excinfo.value.message


@pytest.fixture
def template(ec2, ctx):
    return call(ec2, ctx, "CreateLaunchTemplate", LaunchTemplateName="nodes", VersionDescription="first",
                LaunchTemplateData={"InstanceType": "t3.medium", "ImageId": "ami-0abc", "UserData": USER_DATA,
                                    "SecurityGroupIds": ["sg-1"],
                                    "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 40}}]},
                TagSpecifications=[{"ResourceType": "launch-template", "Tags": [{"Key": "team", "Value": "core"}]}])["LaunchTemplate"]


def test_create_answers_the_template_with_version_one_default_and_latest(template, ctx):
    assert template["LaunchTemplateId"].startswith("lt-") and len(template["LaunchTemplateId"]) == 20
    assert (template["DefaultVersionNumber"], template["LatestVersionNumber"]) == (1, 1)
    assert template["CreatedBy"] == ctx.principal_arn and template["Tags"] == [{"Key": "team", "Value": "core"}]


def test_the_data_is_answered_as_given(ec2, ctx, template):
    version = call(ec2, ctx, "DescribeLaunchTemplateVersions", LaunchTemplateId=template["LaunchTemplateId"])["LaunchTemplateVersions"][0]
    assert version["LaunchTemplateData"]["BlockDeviceMappings"] == [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 40}}]
    assert version["LaunchTemplateData"]["UserData"] == USER_DATA
    assert version["VersionDescription"] == "first" and version["DefaultVersion"] is True


def test_new_versions_inherit_their_source_and_override_what_they_give(ec2, ctx, template):
    second = call(ec2, ctx, "CreateLaunchTemplateVersion", LaunchTemplateName="nodes", SourceVersion="1",
                  LaunchTemplateData={"InstanceType": "m5.large"})["LaunchTemplateVersion"]
    assert second["VersionNumber"] == 2 and second["DefaultVersion"] is False
    assert second["LaunchTemplateData"]["InstanceType"] == "m5.large"
    assert second["LaunchTemplateData"]["ImageId"] == "ami-0abc" and second["LaunchTemplateData"]["UserData"] == USER_DATA
    bare = call(ec2, ctx, "CreateLaunchTemplateVersion", LaunchTemplateId=template["LaunchTemplateId"],
                LaunchTemplateData={"InstanceType": "c5.large"})["LaunchTemplateVersion"]
    assert bare["LaunchTemplateData"] == {"InstanceType": "c5.large"}  # no SourceVersion: nothing inherited
    from_latest = call(ec2, ctx, "CreateLaunchTemplateVersion", LaunchTemplateName="nodes", SourceVersion="$Latest",
                       LaunchTemplateData={"KeyName": "ops"})["LaunchTemplateVersion"]
    assert from_latest["LaunchTemplateData"] == {"InstanceType": "c5.large", "KeyName": "ops"}
    described = call(ec2, ctx, "DescribeLaunchTemplates", LaunchTemplateNames=["nodes"])["LaunchTemplates"][0]
    assert (described["DefaultVersionNumber"], described["LatestVersionNumber"]) == (1, 4)


def test_versions_are_chosen_by_number_alias_and_range(ec2, ctx, template):
    for size in ("m5.large", "m5.xlarge", "m5.2xlarge"):
        call(ec2, ctx, "CreateLaunchTemplateVersion", LaunchTemplateName="nodes", LaunchTemplateData={"InstanceType": size})
    numbers = lambda **p: [v["VersionNumber"] for v in call(ec2, ctx, "DescribeLaunchTemplateVersions", LaunchTemplateName="nodes", **p)["LaunchTemplateVersions"]]  # noqa: E731
    assert numbers() == [4, 3, 2, 1]
    assert numbers(Versions=["$Latest", "$Default", "2"]) == [4, 2, 1]
    assert numbers(MinVersion="2", MaxVersion="3") == [3, 2]
    assert numbers(Filters=[{"Name": "instance-type", "Values": ["m5.*large"]}]) == [4, 3, 2]
    assert numbers(Filters=[{"Name": "is-default-version", "Values": ["true"]}]) == [1]
    page = call(ec2, ctx, "DescribeLaunchTemplateVersions", LaunchTemplateName="nodes", MaxResults=3)
    rest = call(ec2, ctx, "DescribeLaunchTemplateVersions", LaunchTemplateName="nodes", MaxResults=3, NextToken=page["NextToken"])
    assert [v["VersionNumber"] for v in page["LaunchTemplateVersions"] + rest["LaunchTemplateVersions"]] == [4, 3, 2, 1]
    with pytest.raises(AwsError) as excinfo:
        numbers(Versions=["9"])
    assert error_of(excinfo) == ("InvalidLaunchTemplateId.VersionNotFound",
                                 f"Could not find the specified version 9 for the launch template with ID {template['LaunchTemplateId']}.")


def test_latest_and_default_of_every_template_without_naming_one(ec2, ctx, template):
    call(ec2, ctx, "CreateLaunchTemplate", LaunchTemplateName="other", LaunchTemplateData={"InstanceType": "t3.small"})
    versions = call(ec2, ctx, "DescribeLaunchTemplateVersions", Versions=["$Latest"])["LaunchTemplateVersions"]
    assert sorted(v["LaunchTemplateName"] for v in versions) == ["nodes", "other"]
    with pytest.raises(AwsError):
        call(ec2, ctx, "DescribeLaunchTemplateVersions", Versions=["1"])


def test_modify_sets_the_default_and_the_default_version_cannot_be_deleted(ec2, ctx, template):
    call(ec2, ctx, "CreateLaunchTemplateVersion", LaunchTemplateName="nodes", LaunchTemplateData={"InstanceType": "m5.large"})
    modified = call(ec2, ctx, "ModifyLaunchTemplate", LaunchTemplateName="nodes", DefaultVersion="2")["LaunchTemplate"]
    assert modified["DefaultVersionNumber"] == 2
    assert resolve_launch_template(ec2.store, ACCOUNT, REGION, "nodes")["LaunchTemplateData"]["InstanceType"] == "m5.large"
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "ModifyLaunchTemplate", LaunchTemplateName="nodes", DefaultVersion="5")
    assert excinfo.value.code == "InvalidLaunchTemplateId.VersionNotFound"
    result = call(ec2, ctx, "DeleteLaunchTemplateVersions", LaunchTemplateName="nodes", Versions=["2", "1", "8"])
    assert [v["VersionNumber"] for v in result["SuccessfullyDeletedLaunchTemplateVersions"]] == [1]
    errors = {v["VersionNumber"]: v["ResponseError"]["Code"] for v in result["UnsuccessfullyDeletedLaunchTemplateVersions"]}
    assert errors == {2: "unexpectedError", 8: "launchTemplateVersionDoesNotExist"}
    # Numbers are not reused: the next version is 3 though 1 is gone.
    third = call(ec2, ctx, "CreateLaunchTemplateVersion", LaunchTemplateName="nodes", LaunchTemplateData={})["LaunchTemplateVersion"]
    assert third["VersionNumber"] == 3


def test_names_are_unique_and_well_formed(ec2, ctx, template):
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "CreateLaunchTemplate", LaunchTemplateName="nodes", LaunchTemplateData={})
    assert error_of(excinfo) == ("InvalidLaunchTemplateName.AlreadyExistsException", "Launch template name already in use.")
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "CreateLaunchTemplate", LaunchTemplateName="no spaces", LaunchTemplateData={})
    assert excinfo.value.code == "InvalidLaunchTemplateName.MalformedException"


def test_a_client_token_makes_create_idempotent(ec2, ctx):
    first = call(ec2, ctx, "CreateLaunchTemplate", LaunchTemplateName="once", ClientToken="t-1", LaunchTemplateData={})
    again = call(ec2, ctx, "CreateLaunchTemplate", LaunchTemplateName="once", ClientToken="t-1", LaunchTemplateData={})
    assert first == again
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "CreateLaunchTemplate", LaunchTemplateName="twice", ClientToken="t-1", LaunchTemplateData={})
    assert excinfo.value.code == "IdempotentParameterMismatch"


def test_user_data_must_be_base64(ec2, ctx):
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "CreateLaunchTemplate", LaunchTemplateName="bad-data", LaunchTemplateData={"UserData": "#!/bin/bash"})
    assert error_of(excinfo) == ("InvalidUserData.Malformed", "Invalid BASE64 encoding of user data.")


def test_not_found_by_id_and_by_name(ec2, ctx, template):
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "DescribeLaunchTemplates", LaunchTemplateIds=["lt-0123456789abcdef0"])
    assert error_of(excinfo) == ("InvalidLaunchTemplateId.NotFound",
                                 "The specified launch template, with template ID lt-0123456789abcdef0, does not exist.")
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "DeleteLaunchTemplate", LaunchTemplateName="missing")
    assert error_of(excinfo) == ("InvalidLaunchTemplateName.NotFoundException",
                                 "At least one of the launch templates specified in the request does not exist.")
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "ModifyLaunchTemplate", LaunchTemplateName="nodes", LaunchTemplateId=template["LaunchTemplateId"], DefaultVersion="1")
    assert excinfo.value.code == "InvalidParameterCombination"


def test_describe_filters_pages_and_tags(ec2, ctx, template):
    for name in ("a-one", "a-two", "b-three"):
        call(ec2, ctx, "CreateLaunchTemplate", LaunchTemplateName=name, LaunchTemplateData={})
    names = lambda **p: [t["LaunchTemplateName"] for t in call(ec2, ctx, "DescribeLaunchTemplates", **p)["LaunchTemplates"]]  # noqa: E731
    assert names(Filters=[{"Name": "launch-template-name", "Values": ["a-*"]}]) == ["a-one", "a-two"]
    assert names(Filters=[{"Name": "tag:team", "Values": ["core"]}]) == ["nodes"]
    assert names(Filters=[{"Name": "create-time", "Values": ["20*"]}]) == ["nodes", "a-one", "a-two", "b-three"]
    first = call(ec2, ctx, "DescribeLaunchTemplates", MaxResults=2)
    second = call(ec2, ctx, "DescribeLaunchTemplates", MaxResults=2, NextToken=first["NextToken"])
    assert len(first["LaunchTemplates"]) == 2 and "NextToken" not in second and len(second["LaunchTemplates"]) == 2
    call(ec2, ctx, "CreateTags", Resources=[template["LaunchTemplateId"]], Tags=[{"Key": "stage", "Value": "prod"}])
    tags = call(ec2, ctx, "DescribeTags", Filters=[{"Name": "resource-type", "Values": ["launch-template"]}])["Tags"]
    assert {t["Key"] for t in tags} == {"team", "stage"}


def test_delete_takes_every_version_and_the_name_is_free_again(ec2, ctx, template):
    deleted = call(ec2, ctx, "DeleteLaunchTemplate", LaunchTemplateId=template["LaunchTemplateId"])["LaunchTemplate"]
    assert deleted["LaunchTemplateName"] == "nodes"
    assert call(ec2, ctx, "DescribeLaunchTemplates")["LaunchTemplates"] == []
    call(ec2, ctx, "CreateLaunchTemplate", LaunchTemplateName="nodes", LaunchTemplateData={})


def test_resolve_launch_template_by_id_or_name_and_version(ec2, ctx, template):
    call(ec2, ctx, "CreateLaunchTemplateVersion", LaunchTemplateName="nodes", SourceVersion="1", LaunchTemplateData={"InstanceType": "m5.large"})
    by_id = resolve_launch_template(ec2.store, ACCOUNT, REGION, template["LaunchTemplateId"], "$Latest")
    assert by_id["VersionNumber"] == 2 and by_id["LaunchTemplateData"]["InstanceType"] == "m5.large"
    assert resolve_launch_template(ec2.store, ACCOUNT, REGION, "nodes")["VersionNumber"] == 1  # the default
    assert resolve_launch_template(ec2.store, ACCOUNT, REGION, "nodes", 2)["LaunchTemplateName"] == "nodes"
    for id_or_name, version, code in (("lt-0123456789abcdef0", None, "InvalidLaunchTemplateId.NotFound"),
                                      ("other", None, "InvalidLaunchTemplateName.NotFoundException"),
                                      ("nodes", "7", "InvalidLaunchTemplateId.VersionNotFound")):
        with pytest.raises(AwsError) as excinfo:
            resolve_launch_template(ec2.store, ACCOUNT, REGION, id_or_name, version)
        assert excinfo.value.code == code


def test_get_launch_template_data_of_an_unknown_instance_is_not_found(ec2, ctx):
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "GetLaunchTemplateData", InstanceId="i-0123456789abcdef0")
    assert excinfo.value.code == "InvalidInstanceID.NotFound"


def test_run_instances_from_a_template_takes_its_data_under_the_request(ec2, ctx, template):
    call(ec2, ctx, "CreateKeyPair", KeyName="ops")
    call(ec2, ctx, "CreateLaunchTemplateVersion", LaunchTemplateName="nodes", SourceVersion="1",
         LaunchTemplateData={"KeyName": "ops", "ImageId": "ami-0123456789abcdef0",
                             "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "app", "Value": "web"},
                                                                                         {"Key": "tier", "Value": "a"}]}]})
    launched = call(ec2, ctx, "RunInstances", MinCount=1, MaxCount=1, InstanceType="t3.small",
                    LaunchTemplate={"LaunchTemplateName": "nodes", "Version": "$Latest"},
                    TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "tier", "Value": "b"}]}])
    instance = launched["Instances"][0]
    assert instance["ImageId"] == "ami-0123456789abcdef0" and instance["KeyName"] == "ops"
    assert instance["InstanceType"] == "t3.small"  # the request's, over the template's t3.medium
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags == {"app": "web", "tier": "b", "aws:ec2launchtemplate:id": template["LaunchTemplateId"],
                    "aws:ec2launchtemplate:version": "2"}
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "RunInstances", MinCount=1, MaxCount=1, LaunchTemplate={"LaunchTemplateId": "lt-0123456789abcdef0"})
    assert excinfo.value.code == "InvalidLaunchTemplateId.NotFound"
    with pytest.raises(AwsError) as excinfo:  # version 1 has the template's AMI "ami-0abc", which is malformed
        call(ec2, ctx, "RunInstances", MinCount=1, MaxCount=1, LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"]})
    assert excinfo.value.code == "InvalidAMIID.Malformed"


def test_a_client_token_makes_create_version_idempotent(ec2, ctx, template):
    first = call(ec2, ctx, "CreateLaunchTemplateVersion", LaunchTemplateName="nodes", ClientToken="v-1",
                 LaunchTemplateData={"InstanceType": "m5.large"})["LaunchTemplateVersion"]
    again = call(ec2, ctx, "CreateLaunchTemplateVersion", LaunchTemplateName="nodes", ClientToken="v-1",
                 LaunchTemplateData={"InstanceType": "m5.large"})["LaunchTemplateVersion"]
    assert first == again and first["VersionNumber"] == 2
    assert call(ec2, ctx, "DescribeLaunchTemplates")["LaunchTemplates"][0]["LatestVersionNumber"] == 2
