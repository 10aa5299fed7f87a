"""IAM policy documents: validation with IAM's messages, and IAM's single-account evaluation logic."""

from __future__ import annotations

import json
import time

import pytest

from moorage.services.iam.policy import denial_message, evaluate, explain, trust_allows
from moorage.services.iam.policy_language import (
    GROUP_INLINE_POLICIES_MAX_CHARS,
    MANAGED_POLICY_MAX_CHARS,
    ROLE_INLINE_POLICIES_MAX_CHARS,
    TRUST_POLICY_MAX_CHARS,
    USER_INLINE_POLICIES_MAX_CHARS,
    Decision,
    MalformedPolicy,
    PolicyTooLarge,
    policy_size,
)
from moorage.services.iam.policy_matching import AuthRequest
from moorage.services.iam.policy_validation import parse_policy

ACCOUNT = "111122223333"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
CLUSTER = f"arn:aws:eks:us-west-2:{ACCOUNT}:cluster/demo"
ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = Decision.ALLOW, Decision.EXPLICIT_DENY, Decision.IMPLICIT_DENY


def policy(*statements: dict, version: str = "2012-10-17", kind: str = "identity"):
    return parse_policy({"Version": version, "Statement": list(statements)}, kind)


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def request(action="eks:DescribeCluster", resource=CLUSTER, principal=ALICE, **context) -> AuthRequest:
    return AuthRequest(principal, action, resource, context)


def decide(statements: list[dict], action="eks:DescribeCluster", resource=CLUSTER, **context) -> Decision:
    return evaluate(request(action, resource, **context), [policy(*statements)])


# --------------------------------------------------------------------------- allow, deny, Not*, wildcards


@pytest.mark.parametrize(
    ("statements", "action", "resource", "expected"),
    [
        ([allow("eks:DescribeCluster", CLUSTER)], "eks:DescribeCluster", CLUSTER, ALLOW),
        ([allow("eks:DescribeCluster", CLUSTER)], "eks:CreateCluster", CLUSTER, IMPLICIT_DENY),
        ([allow("eks:*"), deny("eks:DeleteCluster")], "eks:DeleteCluster", CLUSTER, EXPLICIT_DENY),
        ([allow("eks:*"), deny("eks:DeleteCluster")], "eks:DescribeCluster", CLUSTER, ALLOW),
        ([deny("eks:DeleteCluster")], "eks:DescribeCluster", CLUSTER, IMPLICIT_DENY),
        ([allow("*")], "iam:CreateUser", "*", ALLOW),
        # action names are case-insensitive, with * and ? wildcards
        ([allow("EKS:describecluster")], "eks:DescribeCluster", CLUSTER, ALLOW),
        ([allow("eks:Describe*")], "eks:DescribeNodegroup", CLUSTER, ALLOW),
        ([allow("eks:Describe*")], "eks:ListClusters", CLUSTER, IMPLICIT_DENY),
        ([allow("eks:*Cluster")], "eks:DeleteCluster", CLUSTER, ALLOW),
        ([allow("eks:Describe?luster")], "eks:DescribeCluster", CLUSTER, ALLOW),
        ([allow("ec2:Describe*")], "eks:DescribeCluster", CLUSTER, IMPLICIT_DENY),
        ([allow(["ec2:RunInstances", "eks:List*"])], "eks:ListNodegroups", CLUSTER, ALLOW),
        # resources are case-sensitive, ARN-aware: a wildcard stays inside its field
        ([allow("eks:*", f"arn:aws:eks:*:{ACCOUNT}:cluster/*")], "eks:DescribeCluster", CLUSTER, ALLOW),
        ([allow("eks:*", f"arn:aws:eks:*:{ACCOUNT}:cluster/Demo")], "eks:DescribeCluster", CLUSTER, IMPLICIT_DENY),
        ([allow("eks:*", "arn:aws:eks:us-west-2:*:cluster/de?o")], "eks:DescribeCluster", CLUSTER, ALLOW),
        ([allow("eks:*", "arn:aws:eks:us-*:*:*")], "eks:DescribeCluster", CLUSTER, ALLOW),
        ([allow("eks:*", "arn:aws:eks:eu-*:*:*")], "eks:DescribeCluster", CLUSTER, IMPLICIT_DENY),
        ([allow("eks:*", "arn:aws:eks:*:*:nodegroup/*")], "eks:DescribeCluster", CLUSTER, IMPLICIT_DENY),
        # "*" inside the region field cannot run across a colon into the next field
        ([allow("eks:*", f"arn:aws:eks:*:{ACCOUNT}:cluster/demo")], "eks:DescribeCluster",
         f"arn:aws:eks:us:west:{ACCOUNT}:cluster/demo", IMPLICIT_DENY),
        # the last field given absorbs the rest (resource ids may hold colons and slashes)
        ([allow("eks:*", "arn:aws:eks*")], "eks:DescribeCluster", CLUSTER, ALLOW),
        ([allow("eks:*", "arn:aws:ec2*")], "eks:DescribeCluster", CLUSTER, IMPLICIT_DENY),
        ([allow("eks:*", f"arn:aws:eks:us-west-2:{ACCOUNT}:*")], "eks:DescribeNodegroup",
         f"arn:aws:eks:us-west-2:{ACCOUNT}:nodegroup/demo/ng/1a2b", ALLOW),
        ([allow("eks:*", [f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/x", CLUSTER])], "eks:DescribeCluster", CLUSTER, ALLOW),
        # a request on "*" (an action without resource-level permissions) needs Resource "*"
        ([allow("eks:ListClusters", f"arn:aws:eks:*:{ACCOUNT}:cluster/*")], "eks:ListClusters", "*", IMPLICIT_DENY),
        ([allow("eks:ListClusters", "*")], "eks:ListClusters", "*", ALLOW),
        # NotAction / NotResource
        ([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}], "eks:CreateCluster", CLUSTER, ALLOW),
        ([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}], "iam:CreateUser", "*", IMPLICIT_DENY),
        ([allow("*"), {"Effect": "Deny", "NotAction": ["eks:Describe*", "eks:List*"], "Resource": "*"}],
         "eks:DeleteCluster", CLUSTER, EXPLICIT_DENY),
        ([allow("*"), {"Effect": "Deny", "NotAction": ["eks:Describe*", "eks:List*"], "Resource": "*"}],
         "eks:DescribeCluster", CLUSTER, ALLOW),
        ([{"Effect": "Allow", "Action": "eks:*", "NotResource": "arn:aws:eks:*:*:cluster/prod-*"}],
         "eks:DescribeCluster", CLUSTER, ALLOW),
        ([{"Effect": "Allow", "Action": "eks:*", "NotResource": "arn:aws:eks:*:*:cluster/prod-*"}],
         "eks:DescribeCluster", f"arn:aws:eks:us-west-2:{ACCOUNT}:cluster/prod-1", IMPLICIT_DENY),
        ([allow("*"), {"Effect": "Deny", "Action": "eks:*", "NotResource": CLUSTER}],
         "eks:DescribeCluster", f"arn:aws:eks:us-west-2:{ACCOUNT}:cluster/other", EXPLICIT_DENY),
        ([allow("*"), {"Effect": "Deny", "Action": "eks:*", "NotResource": CLUSTER}], "eks:DescribeCluster", CLUSTER, ALLOW),
    ],
)
def test_actions_resources_and_effects(statements, action, resource, expected):
    assert decide(statements, action, resource) is expected


def test_deny_in_any_policy_beats_allow_in_another():
    allowing, denying = policy(allow("eks:*")), policy(deny("eks:DeleteCluster", CLUSTER))
    assert evaluate(request("eks:DeleteCluster"), [allowing, denying]) is EXPLICIT_DENY
    assert evaluate(request("eks:DeleteCluster"), [denying, allowing]) is EXPLICIT_DENY
    assert evaluate(request("eks:DescribeCluster"), [denying, allowing]) is ALLOW
    assert evaluate(request("eks:DescribeCluster"), []) is IMPLICIT_DENY


# --------------------------------------------------------------------------- conditions, one operator family at a time

TAGGED = {"aws:ResourceTag/team": "blue", "aws:PrincipalTag/team": "blue"}


@pytest.mark.parametrize(
    ("condition", "context", "expected"),
    [
        # String
        ({"StringEquals": {"aws:RequestedRegion": "us-west-2"}}, {"aws:RequestedRegion": "us-west-2"}, True),
        ({"StringEquals": {"aws:RequestedRegion": "us-west-2"}}, {"aws:RequestedRegion": "US-WEST-2"}, False),
        ({"StringEquals": {"aws:RequestedRegion": ["eu-west-1", "us-west-2"]}}, {"aws:RequestedRegion": "us-west-2"}, True),
        ({"StringEquals": {"aws:RequestedRegion": "us-*"}}, {"aws:RequestedRegion": "us-west-2"}, False),
        ({"StringEquals": {"aws:RequestedRegion": "us-west-2"}}, {}, False),
        ({"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "eu-west-2"]}}, {"aws:RequestedRegion": "us-west-2"}, True),
        ({"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "us-west-2"]}}, {"aws:RequestedRegion": "us-west-2"}, False),
        ({"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}}, {}, True),  # negated: a missing key matches
        ({"StringEqualsIgnoreCase": {"aws:ResourceTag/env": "PROD"}}, {"aws:ResourceTag/env": "prod"}, True),
        ({"StringNotEqualsIgnoreCase": {"aws:ResourceTag/env": "PROD"}}, {"aws:ResourceTag/env": "prod"}, False),
        ({"StringLike": {"aws:ResourceTag/env": "pr?d-*"}}, {"aws:ResourceTag/env": "prod-eu"}, True),
        ({"StringLike": {"aws:ResourceTag/env": "prod-*"}}, {"aws:ResourceTag/env": "Prod-eu"}, False),
        ({"StringNotLike": {"aws:ResourceTag/env": "prod-*"}}, {"aws:ResourceTag/env": "dev"}, True),
        # condition keys are case-insensitive, values are not
        ({"StringEquals": {"AWS:requestedregion": "us-west-2"}}, {"aws:RequestedRegion": "us-west-2"}, True),
        ({"StringEquals": {"aws:ResourceTag/Team": "blue"}}, {"aws:resourcetag/team": "blue"}, True),
        # Numeric
        ({"NumericLessThan": {"eks:nodes": "10"}}, {"eks:nodes": "9"}, True),
        ({"NumericLessThan": {"eks:nodes": 10}}, {"eks:nodes": "10"}, False),
        ({"NumericLessThanEquals": {"eks:nodes": "10"}}, {"eks:nodes": "10"}, True),
        ({"NumericGreaterThan": {"eks:nodes": "2.5"}}, {"eks:nodes": "3"}, True),
        ({"NumericGreaterThanEquals": {"eks:nodes": "3"}}, {"eks:nodes": "2"}, False),
        ({"NumericEquals": {"eks:nodes": "3"}}, {"eks:nodes": "3.0"}, True),
        ({"NumericNotEquals": {"eks:nodes": "3"}}, {"eks:nodes": "4"}, True),
        ({"NumericEquals": {"eks:nodes": "3"}}, {"eks:nodes": "three"}, False),
        # Date (ISO 8601 or epoch seconds)
        ({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, {"aws:CurrentTime": "2024-06-01T12:00:00Z"}, True),
        ({"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, {"aws:CurrentTime": "2024-06-01T12:00:00Z"}, False),
        ({"DateLessThanEquals": {"aws:CurrentTime": "2024-06-01"}}, {"aws:CurrentTime": "2024-06-01T00:00:00Z"}, True),
        ({"DateGreaterThanEquals": {"aws:CurrentTime": "2024-06-01T14:00:00+02:00"}}, {"aws:CurrentTime": "2024-06-01T12:00:00Z"}, True),
        ({"DateEquals": {"aws:EpochTime": "1717243200"}}, {"aws:EpochTime": "2024-06-01T12:00:00Z"}, True),
        ({"DateNotEquals": {"aws:CurrentTime": "2024-06-01T12:00:00Z"}}, {"aws:CurrentTime": "2024-06-01T12:00:01Z"}, True),
        # Bool (values compared case-insensitively; JSON booleans accepted)
        ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "true"}, True),
        ({"Bool": {"aws:SecureTransport": False}}, {"aws:SecureTransport": "false"}, True),
        ({"Bool": {"aws:SecureTransport": "True"}}, {"aws:SecureTransport": True}, True),
        ({"Bool": {"aws:MultiFactorAuthPresent": "true"}}, {}, False),
        # Binary
        ({"BinaryEquals": {"eks:blob": "QmluYXJ5VmFsdWU="}}, {"eks:blob": "QmluYXJ5VmFsdWU="}, True),
        ({"BinaryEquals": {"eks:blob": "QmluYXJ5VmFsdWU="}}, {"eks:blob": "T3RoZXI="}, False),
        # IP addresses (IPv4 and IPv6 CIDRs, single addresses)
        ({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "203.0.113.9"}, True),
        ({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "198.51.100.9"}, False),
        ({"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}}, {"aws:SourceIp": "2001:db8::1"}, True),
        ({"IpAddress": {"aws:SourceIp": "198.51.100.7"}}, {"aws:SourceIp": "198.51.100.7"}, True),
        ({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "198.51.100.9"}, True),
        ({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "203.0.113.1"}, False),
        ({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "not-an-ip"}, False),
        # ARN (ArnEquals and ArnLike both take wildcards, field by field)
        ({"ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/admin"}}, {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/admin"}, True),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/eks-*"}}, {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/eks-node"}, True),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/eks-*"}}, {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/eks-x"}, False),
        ({"ArnLike": {"aws:SourceArn": "arn:aws:*:cluster/*"}}, {"aws:SourceArn": CLUSTER}, False),
        ({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/eks-*"}}, {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/bob"}, True),
        ({"ArnNotEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/admin"}}, {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/admin"}, False),
        # Null
        ({"Null": {"aws:RequestTag/team": "true"}}, {}, True),
        ({"Null": {"aws:RequestTag/team": "true"}}, {"aws:RequestTag/team": "blue"}, False),
        ({"Null": {"aws:RequestTag/team": "false"}}, {"aws:RequestTag/team": "blue"}, True),
        ({"Null": {"aws:TagKeys": "false"}}, {"aws:TagKeys": []}, False),
        # ...IfExists: a missing key matches, a present key is tested
        ({"StringEqualsIfExists": {"ec2:InstanceType": "t3.micro"}}, {}, True),
        ({"StringEqualsIfExists": {"ec2:InstanceType": "t3.micro"}}, {"ec2:InstanceType": "m5.large"}, False),
        ({"StringEqualsIfExists": {"ec2:InstanceType": "t3.micro"}}, {"ec2:InstanceType": "t3.micro"}, True),
        ({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}, {}, True),
        ({"NumericLessThanIfExists": {"eks:nodes": "5"}}, {"eks:nodes": "9"}, False),
        # several keys are ANDed, several operators are ANDed, several values are ORed
        ({"StringEquals": {"aws:ResourceTag/team": "blue", "aws:PrincipalTag/team": "blue"}}, TAGGED, True),
        ({"StringEquals": {"aws:ResourceTag/team": "blue", "aws:PrincipalTag/team": "red"}}, TAGGED, False),
        ({"StringEquals": {"aws:ResourceTag/team": ["red", "blue"]}, "Bool": {"aws:SecureTransport": "true"}},
         {**TAGGED, "aws:SecureTransport": "true"}, True),
        ({"StringEquals": {"aws:ResourceTag/team": ["red", "blue"]}, "Bool": {"aws:SecureTransport": "true"}}, TAGGED, False),
        # an operator IAM does not know, with no keys, is accepted and ignored
        ({"NotAnOperator": {}}, {}, True),
    ],
)
def test_condition_operators(condition, context, expected):
    assert decide_ctx(condition, context) is expected


def decide_ctx(condition: dict, context: dict) -> bool:
    statement = allow("eks:TagResource", CLUSTER, Condition=condition)
    return evaluate(AuthRequest(ALICE, "eks:TagResource", CLUSTER, context), [policy(statement)]) is ALLOW


# IAM User Guide, "Set operators for multivalued context keys": the ForAllValues / ForAnyValue
# examples with aws:TagKeys.
@pytest.mark.parametrize(
    ("condition", "tag_keys", "expected"),
    [
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}, ["environment", "cost-center"], True),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}, ["environment"], True),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}, ["environment", "project"], False),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}, None, True),  # no keys: true
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}, [], True),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}, ["project", "environment"], True),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}, ["project"], False),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}, None, False),
        ({"ForAnyValue:StringLike": {"aws:TagKeys": "team-*"}}, ["owner", "team-a"], True),
        ({"ForAllValues:StringLike": {"aws:TagKeys": ["team-*", "owner"]}}, ["owner", "team-a"], True),
        ({"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}}, ["owner", "team-a"], True),
        ({"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}}, ["owner", "secret"], False),
        ({"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["owner"]}}, ["owner", "team"], True),
        ({"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["owner"]}}, ["owner"], False),
        ({"ForAnyValue:StringEqualsIgnoreCase": {"aws:TagKeys": "OWNER"}}, ["owner"], True),
        ({"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": "owner"}}, None, True),
        # without a set operator, any one value matching is enough
        ({"StringEquals": {"aws:TagKeys": "owner"}}, ["team", "owner"], True),
        ({"StringNotEquals": {"aws:TagKeys": "owner"}}, ["team", "owner"], False),
    ],
)
def test_set_operators(condition, tag_keys, expected):
    context = {} if tag_keys is None else {"aws:TagKeys": tag_keys}
    assert decide_ctx(condition, context) is expected


# --------------------------------------------------------------------------- policy variables


@pytest.mark.parametrize(
    ("resource", "context", "target", "expected"),
    [
        (f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}", {"aws:username": "alice"}, ALICE, True),
        (f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}", {"aws:username": "bob"}, ALICE, False),
        (f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}", {}, ALICE, False),  # no value: no match
        (f"arn:aws:iam::{ACCOUNT}:user/${{aws:username, 'alice'}}", {}, ALICE, True),  # default value
        (f"arn:aws:iam::{ACCOUNT}:user/${{AWS:UserName}}", {"aws:username": "alice"}, ALICE, True),
        # a variable's value is literal text, never a wildcard
        (f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}", {"aws:username": "*"}, ALICE, False),
        (f"arn:aws:iam::{ACCOUNT}:user/a${{*}}", {}, f"arn:aws:iam::{ACCOUNT}:user/a*", True),
        (f"arn:aws:iam::{ACCOUNT}:user/a${{*}}", {}, ALICE, False),
        ("arn:aws:eks:*:*:cluster/${aws:PrincipalTag/team}-*", {"aws:PrincipalTag/team": "blue"},
         f"arn:aws:eks:us-west-2:{ACCOUNT}:cluster/blue-1", True),
        ("arn:aws:eks:*:*:cluster/${aws:PrincipalTag/team}-*", {"aws:PrincipalTag/team": "red"},
         f"arn:aws:eks:us-west-2:{ACCOUNT}:cluster/blue-1", False),
    ],
)
def test_policy_variables_in_resources(resource, context, target, expected):
    statement = allow("iam:GetUser", resource)
    decision = evaluate(AuthRequest(ALICE, "iam:GetUser", target, context), [policy(statement)])
    assert decision is (ALLOW if expected else IMPLICIT_DENY)


def test_policy_variables_in_condition_values_and_the_2008_version():
    # ABAC: the resource's team tag must equal the caller's
    statement = allow("eks:*", "*", Condition={"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}})
    same = {"aws:ResourceTag/team": "blue", "aws:PrincipalTag/team": "blue"}
    other = {"aws:ResourceTag/team": "blue", "aws:PrincipalTag/team": "red"}
    current = policy(statement)
    assert evaluate(request(**same), [current]) is ALLOW
    assert evaluate(request(**other), [current]) is IMPLICIT_DENY
    assert evaluate(request(**{"aws:ResourceTag/team": "blue"}), [current]) is IMPLICIT_DENY
    # under Version 2008-10-17 a variable is plain text
    legacy = policy(statement, version="2008-10-17")
    assert evaluate(request(**same), [legacy]) is IMPLICIT_DENY
    assert evaluate(request(**{"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}), [legacy]) is ALLOW
    like = policy(allow("s3:ListBucket", "*", Condition={"StringLike": {"s3:prefix": "home/${aws:username}/*"}}))
    listing = lambda prefix: AuthRequest(ALICE, "s3:ListBucket", "*", {"s3:prefix": prefix, "aws:username": "alice"})
    assert evaluate(listing("home/alice/docs"), [like]) is ALLOW
    assert evaluate(listing("home/bob/docs"), [like]) is IMPLICIT_DENY


# --------------------------------------------------------------------------- AWS's documented evaluation examples


def test_documented_example_identity_and_resource_based_policies():
    """IAM User Guide, "Policy evaluation for requests within a single account": Carlos may
    not save to amzn-s3-demo-bucket-carlossalazar-logs although the bucket policy allows him,
    because his identity policy's DenyS3Logs statement explicitly denies it."""
    carlos = "arn:aws:iam::777788889999:user/carlossalazar"
    identity = policy(
        {"Sid": "AllowS3ListRead", "Effect": "Allow", "Resource": "arn:aws:s3:::*",
         "Action": ["s3:GetBucketLocation", "s3:GetAccountPublicAccessBlock", "s3:ListAccessPoints", "s3:ListAllMyBuckets"]},
        {"Sid": "AllowS3Self", "Effect": "Allow", "Action": "s3:*",
         "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/*", "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar"]},
        {"Sid": "DenyS3Logs", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::*log*"},
    )
    bucket = policy(
        {"Sid": "AllowCarlos", "Effect": "Allow", "Principal": {"AWS": carlos}, "Action": "s3:*",
         "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs",
                      "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/*"]},
        kind="resource",
    )
    logs = AuthRequest(carlos, "s3:PutObject", "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/today.log", {})
    assert evaluate(logs, [identity], bucket) is EXPLICIT_DENY
    own = AuthRequest(carlos, "s3:PutObject", "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/notes.txt", {})
    assert evaluate(own, [identity], bucket) is ALLOW
    listing = AuthRequest(carlos, "s3:ListAllMyBuckets", "arn:aws:s3:::amzn-s3-demo-bucket-other", {})
    assert evaluate(listing, [identity]) is ALLOW


def test_documented_rule_either_policy_allowing_is_enough_within_one_account():
    bucket_arn = "arn:aws:s3:::shared"
    bucket = policy({"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "s3:GetObject",
                     "Resource": f"{bucket_arn}/*"}, kind="resource")
    get = AuthRequest(ALICE, "s3:GetObject", f"{bucket_arn}/a.txt", {})
    assert evaluate(get, [], bucket) is ALLOW  # resource-based allow alone
    assert evaluate(get, [policy(allow("s3:GetObject", f"{bucket_arn}/*"))]) is ALLOW  # identity-based alone
    bob = AuthRequest(f"arn:aws:iam::{ACCOUNT}:user/bob", "s3:GetObject", f"{bucket_arn}/a.txt", {})
    assert evaluate(bob, [], bucket) is IMPLICIT_DENY
    # naming the account delegates to the account's identity policies: no grant by itself
    account_wide = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                           "Action": "s3:GetObject", "Resource": f"{bucket_arn}/*"}, kind="resource")
    assert evaluate(get, [], account_wide) is IMPLICIT_DENY
    # ...but a deny naming the account applies to everyone in it
    deny_account = policy({"Effect": "Deny", "Principal": {"AWS": ACCOUNT}, "Action": "s3:*",
                           "Resource": f"{bucket_arn}/*"}, kind="resource")
    assert explain(get, [policy(allow("s3:*"))], deny_account) == (EXPLICIT_DENY, "resource-based")
    everyone = policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{bucket_arn}/*"}, kind="resource")
    assert evaluate(bob, [], everyone) is ALLOW
    # a role session is matched by the role's ARN (aws:PrincipalArn)
    role = f"arn:aws:iam::{ACCOUNT}:role/team/reader"
    to_role = policy({"Effect": "Allow", "Principal": {"AWS": role}, "Action": "s3:GetObject",
                      "Resource": f"{bucket_arn}/*"}, kind="resource")
    session = AuthRequest(f"arn:aws:sts::{ACCOUNT}:assumed-role/reader/s1", "s3:GetObject", f"{bucket_arn}/a",
                          {"aws:PrincipalArn": role})
    assert evaluate(session, [], to_role) is ALLOW
    service = AuthRequest("eks.amazonaws.com", "s3:GetObject", f"{bucket_arn}/a", {})
    to_service = policy({"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "s3:GetObject",
                         "Resource": f"{bucket_arn}/*"}, kind="resource")
    assert evaluate(service, [], to_service) is ALLOW
    assert evaluate(service, [], to_role) is IMPLICIT_DENY
    not_alice = policy({"Effect": "Deny", "NotPrincipal": {"AWS": ALICE}, "Action": "s3:*", "Resource": "*"}, kind="resource")
    assert evaluate(get, [policy(allow("s3:*"))], not_alice) is ALLOW
    assert evaluate(bob, [policy(allow("s3:*"))], not_alice) is EXPLICIT_DENY


def test_documented_example_deny_unless_mfa():
    """IAM User Guide example: allow self-service, deny everything else when MFA is absent
    (Deny + NotAction + BoolIfExists aws:MultiFactorAuthPresent false)."""
    document = policy(
        allow(["iam:ChangePassword", "iam:GetUser"], "arn:aws:iam::*:user/${aws:username}"),
        allow("eks:*"),
        {"Sid": "DenyAllExceptListedIfNoMFA", "Effect": "Deny",
         "NotAction": ["iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:GetUser", "iam:ListMFADevices",
                       "iam:ListVirtualMFADevices", "iam:ResyncMFADevice", "sts:GetSessionToken"],
         "Resource": "*", "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}},
    )
    base = {"aws:username": "alice"}
    assert evaluate(request("eks:DescribeCluster", **base), [document]) is EXPLICIT_DENY
    assert evaluate(request("eks:DescribeCluster", **base, **{"aws:MultiFactorAuthPresent": "false"}), [document]) is EXPLICIT_DENY
    assert evaluate(request("eks:DescribeCluster", **base, **{"aws:MultiFactorAuthPresent": "true"}), [document]) is ALLOW
    assert evaluate(request("iam:GetUser", ALICE, **base), [document]) is ALLOW
    assert evaluate(request("iam:ChangePassword", ALICE, **base), [document]) is EXPLICIT_DENY


def test_documented_example_region_and_time_window_and_source_ip():
    """IAM User Guide examples: allow only in listed Regions, only in a date range, only from a network."""
    document = policy(allow("eks:*", "*", Condition={
        "StringEquals": {"aws:RequestedRegion": ["us-west-2", "eu-west-1"]},
        "DateGreaterThan": {"aws:CurrentTime": "2020-04-01T00:00:00Z"},
        "DateLessThan": {"aws:CurrentTime": "2030-06-30T23:59:59Z"},
        "IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]},
    }))
    good = {"aws:RequestedRegion": "us-west-2", "aws:CurrentTime": "2025-01-01T00:00:00Z", "aws:SourceIp": "192.0.2.10"}
    assert evaluate(request(**good), [document]) is ALLOW
    for key, value in [("aws:RequestedRegion", "us-east-1"), ("aws:CurrentTime", "2031-01-01T00:00:00Z"),
                       ("aws:SourceIp", "198.51.100.1")]:
        assert evaluate(request(**{**good, key: value}), [document]) is IMPLICIT_DENY, key


def test_documented_example_hr_bucket_not_resource_deny():
    """IAM User Guide NotResource example: deny s3 everywhere except HRBucket/Payroll."""
    document = policy(
        allow("s3:*"),
        {"Effect": "Deny", "Action": "s3:*", "NotResource": ["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"]},
    )
    assert evaluate(request("s3:GetObject", "arn:aws:s3:::HRBucket/Payroll/jan.csv"), [document]) is ALLOW
    assert evaluate(request("s3:GetObject", "arn:aws:s3:::HRBucket/Other"), [document]) is EXPLICIT_DENY
    assert evaluate(request("s3:GetObject", "arn:aws:s3:::hrbucket/Payroll/jan.csv"), [document]) is EXPLICIT_DENY


def test_request_tags_must_be_given_and_known():
    """Typical EKS tag-on-create guard: require a team tag and allow only known tag keys."""
    document = policy(allow("eks:CreateCluster", "*", Condition={
        "StringEquals": {"aws:RequestTag/team": ["blue", "red"]},
        "ForAllValues:StringEquals": {"aws:TagKeys": ["team", "cost-center"]},
    }))
    create = lambda **ctx: AuthRequest(ALICE, "eks:CreateCluster", CLUSTER, ctx)
    assert evaluate(create(**{"aws:RequestTag/team": "blue", "aws:TagKeys": ["team"]}), [document]) is ALLOW
    assert evaluate(create(**{"aws:RequestTag/team": "green", "aws:TagKeys": ["team"]}), [document]) is IMPLICIT_DENY
    assert evaluate(create(**{"aws:RequestTag/team": "blue", "aws:TagKeys": ["team", "x"]}), [document]) is IMPLICIT_DENY
    assert evaluate(create(), [document]) is IMPLICIT_DENY


def test_pass_role_to_a_service():
    document = policy(allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/eks-*",
                            Condition={"StringEquals": {"iam:PassedToService": "eks.amazonaws.com"}}))
    role = f"arn:aws:iam::{ACCOUNT}:role/eks-cluster"
    passed = lambda service: AuthRequest(ALICE, "iam:PassRole", role, {"iam:PassedToService": service})
    assert evaluate(passed("eks.amazonaws.com"), [document]) is ALLOW
    assert evaluate(passed("ec2.amazonaws.com"), [document]) is IMPLICIT_DENY


# --------------------------------------------------------------------------- trust policies

OIDC_HOST = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
OIDC = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{OIDC_HOST}"


def trust(*statements):
    return policy(*statements, kind="trust")


def test_trust_policy_principals():
    by_service = trust({"Effect": "Allow", "Principal": {"Service": ["eks.amazonaws.com"]}, "Action": "sts:AssumeRole"})
    assert trust_allows(by_service, {"Service": "eks.amazonaws.com"}, "sts:AssumeRole", {})
    assert not trust_allows(by_service, {"Service": "ec2.amazonaws.com"}, "sts:AssumeRole", {})
    assert not trust_allows(by_service, {"AWS": ALICE}, "sts:AssumeRole", {})
    assert not trust_allows(by_service, {"Service": "eks.amazonaws.com"}, "sts:AssumeRoleWithWebIdentity", {})

    by_account = trust({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"})
    assert trust_allows(by_account, {"AWS": ALICE}, "sts:AssumeRole", {})
    assert trust_allows(by_account, {"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/other/s"}, "sts:AssumeRole", {})
    assert not trust_allows(by_account, {"AWS": "arn:aws:iam::444455556666:user/mallory"}, "sts:AssumeRole", {})
    by_id = trust({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"})
    assert trust_allows(by_id, {"AWS": ALICE}, "sts:AssumeRole", {})

    by_user = trust({"Effect": "Allow", "Principal": {"AWS": [ALICE]}, "Action": ["sts:AssumeRole", "sts:TagSession"]})
    assert trust_allows(by_user, {"AWS": ALICE}, "sts:AssumeRole", {})
    assert trust_allows(by_user, {"AWS": ALICE}, "sts:TagSession", {})
    assert not trust_allows(by_user, {"AWS": f"arn:aws:iam::{ACCOUNT}:user/bob"}, "sts:AssumeRole", {})

    role = f"arn:aws:iam::{ACCOUNT}:role/ops/admin"
    by_role = trust({"Effect": "Allow", "Principal": {"AWS": role}, "Action": "sts:AssumeRole"})
    session = {"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/admin/me"}
    assert trust_allows(by_role, session, "sts:AssumeRole", {"aws:PrincipalArn": role})
    assert not trust_allows(by_role, session, "sts:AssumeRole", {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/x"})

    anyone = trust({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"sts:ExternalId": "s3cret"}}})
    assert trust_allows(anyone, {"AWS": ALICE}, "sts:AssumeRole", {"sts:ExternalId": "s3cret"})
    assert not trust_allows(anyone, {"AWS": ALICE}, "sts:AssumeRole", {"sts:ExternalId": "guess"})
    assert not trust_allows(anyone, {"AWS": ALICE}, "sts:AssumeRole", {})

    with_deny = trust(
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"},
        {"Effect": "Deny", "Principal": {"AWS": ALICE}, "Action": "sts:AssumeRole"},
    )
    assert not trust_allows(with_deny, {"AWS": ALICE}, "sts:AssumeRole", {})
    assert trust_allows(with_deny, {"AWS": f"arn:aws:iam::{ACCOUNT}:user/bob"}, "sts:AssumeRole", {})


def test_irsa_trust_policy_checks_issuer_subject_and_audience():
    irsa = trust({
        "Effect": "Allow", "Principal": {"Federated": OIDC}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{OIDC_HOST}:sub": "system:serviceaccount:kube-system:aws-node",
                                       f"{OIDC_HOST}:aud": "sts.amazonaws.com"}},
    })
    good = {f"{OIDC_HOST}:sub": "system:serviceaccount:kube-system:aws-node", f"{OIDC_HOST}:aud": "sts.amazonaws.com"}
    exchange = "sts:AssumeRoleWithWebIdentity"
    assert trust_allows(irsa, {"Federated": OIDC}, exchange, good)
    assert not trust_allows(irsa, {"Federated": OIDC}, exchange, {**good, f"{OIDC_HOST}:aud": "other"})
    assert not trust_allows(irsa, {"Federated": OIDC}, exchange, {**good, f"{OIDC_HOST}:sub": "system:serviceaccount:default:x"})
    assert not trust_allows(irsa, {"Federated": OIDC.replace("EXAMPLED", "OTHERXXX")}, exchange, good)
    assert not trust_allows(irsa, {"Federated": OIDC}, "sts:AssumeRole", good)
    wildcard = trust({
        "Effect": "Allow", "Principal": {"Federated": OIDC}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {f"{OIDC_HOST}:sub": "system:serviceaccount:apps:*"}},
    })
    assert trust_allows(wildcard, {"Federated": OIDC}, exchange, {f"{OIDC_HOST}:sub": "system:serviceaccount:apps:web"})
    assert not trust_allows(wildcard, {"Federated": OIDC}, exchange, {f"{OIDC_HOST}:sub": "system:serviceaccount:ops:web"})


def test_trust_policy_versions_and_actions_accepted():
    for action in ["sts:AssumeRole", "sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML", "sts:TagSession",
                   "sts:SetSourceIdentity", "STS:assumerole", "sts:AssumeRole*"]:
        trust({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": action})
    policy({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
           version="2008-10-17", kind="trust")


# --------------------------------------------------------------------------- malformed documents

V = "2012-10-17"


def doc(statement, **top) -> dict:
    return {"Version": V, "Statement": statement, **top}


GOOD = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::example_bucket"}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("This is not a json document", "Syntax errors in policy."),
        ('{"Version": "2012-10-17", "Statement": {"Effect": "Allow",}}', "Syntax errors in policy."),
        ("null", "Syntax errors in policy."),
        ({"Version": "2013-10-17", "Statement": GOOD}, "Syntax errors in policy."),
        ({"Version": V}, "Syntax errors in policy."),
        (doc([]), "Syntax errors in policy."),
        (doc(["afd"]), "Syntax errors in policy."),
        (doc(GOOD, Extra="value"), "Syntax errors in policy."),
        (doc({**GOOD, "Extra field": "value"}), "Syntax errors in policy."),
        (doc(GOOD, Id=["x"]), "Syntax errors in policy."),
        (doc({**GOOD, "Effect": "invalid"}), "Syntax errors in policy."),
        (doc({"Action": "s3:ListBucket", "Resource": "*"}), "Syntax errors in policy."),
        (doc({**GOOD, "Resource": {"a": "arn:aws:s3:::example_bucket"}}), "Syntax errors in policy."),
        (doc({**GOOD, "NotResource": "*"}), "Syntax errors in policy."),
        (doc({**GOOD, "NotAction": "iam:dsf"}), "Syntax errors in policy."),
        (doc({**GOOD, "Action": [[]]}), "Syntax errors in policy."),
        (doc({**GOOD, "Condition": []}), "Syntax errors in policy."),
        (doc({**GOOD, "Condition": {"DateGreaterThan": {"a": {}}}}), "Syntax errors in policy."),
        (doc({**GOOD, "Condition": {"x": {"a": "1"}}}), "Syntax errors in policy."),
        (doc({**GOOD, "Condition": {"ForAnyValue::StringEqualsIfExists": {"a": "asf"}}}), "Syntax errors in policy."),
        (doc({**GOOD, "Sid": {}}), "Syntax errors in policy."),
        (doc({**GOOD, "Principal": {"AWS": ALICE}}), "Policy document should not specify a principal."),
        (doc({**GOOD, "NotPrincipal": "*"}), "Policy document should not specify a principal."),
        (doc({**GOOD, "Effect": "denY"}), "The policy failed legacy parsing"),
        (doc({**GOOD, "Condition": {"DateGreaterThan": {"aws:CurrentTime": "sdfdsf"}}}), "The policy failed legacy parsing"),
        (doc({**GOOD, "Condition": {"DateLessThanEquals": {"a": "2016-12-13t2:00:00.593194+1"}}}), "The policy failed legacy parsing"),
        (doc({**GOOD, "Condition": {"DateLessThan": {"a": "9223372036854775808"}}}), "The policy failed legacy parsing"),
        (doc({**GOOD, "Condition": {"NumericLessThan": {"a": "ten"}}}), "The policy failed legacy parsing"),
        (doc({**GOOD, "Condition": {"IpAddress": {"aws:SourceIp": "300.1.2.3/8"}}}), "The policy failed legacy parsing"),
        (doc({**GOOD, "Resource": "arn:aws:s3::example_bucket"}), "The policy failed legacy parsing"),
        (doc({"Effect": "Allow", "NotAction": "s3:ListBucket", "Resource": "arn:aws::::example_bucket"}), "The policy failed legacy parsing"),
        ([doc([{**GOOD, "Sid": "a"}, {**GOOD, "Sid": "a"}])][0], "Statement IDs (SID) in a single policy must be unique."),
        (doc({"Effect": "Allow", "Resource": "*"}), "Policy statement must contain actions."),
        (doc({**GOOD, "Action": []}), "Policy statement must contain actions."),
        (doc({"Effect": "Allow", "Action": "s3:ListBucket"}), "Policy statement must contain resources."),
        (doc({**GOOD, "Resource": []}), "Policy statement must contain resources."),
        (doc({**GOOD, "Resource": "invalid resource"}), 'Resource invalid resource must be in ARN format or "*".'),
        (doc({**GOOD, "Resource": ""}), 'Resource  must be in ARN format or "*".'),
        (doc({**GOOD, "Resource": "a:bsdfdsafsad"}), 'Partition "bsdfdsafsad" is not valid for resource "arn:bsdfdsafsad:*:*:*:*".'),
        (doc({**GOOD, "Resource": "a:b:c:d:e:f:g:h"}), 'Partition "b" is not valid for resource "arn:b:c:d:e:f:g:h".'),
        (doc({**GOOD, "Resource": "aws:s3:::example_bucket"}), 'Partition "s3" is not valid for resource "arn:s3:::example_bucket:*".'),
        (doc({**GOOD, "Resource": "arn:aws"}), "Resource vendor must be fully qualified and cannot contain regexes."),
        (doc({**GOOD, "Resource": "arn:aws:iam:us-east-1::user/x"}),
         "IAM resource arn:aws:iam:us-east-1::user/x cannot contain region information."),
        (doc({**GOOD, "Resource": "arn:aws:s3:us-east-1::example_bucket"}),
         "Resource arn:aws:s3:us-east-1::example_bucket can not contain region information."),
        (doc({**GOOD, "Resource": "arn:aws:iam:::example_bucket"}),
         'IAM resource path must either be "*" or start with user/, federated-user/, role/, group/, '
         "instance-profile/, mfa/, server-certificate/, policy/, sms-mfa/, saml-provider/, oidc-provider/, "
         "report/, access-report/."),
        (doc({**GOOD, "Action": "invalid"}), "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
        (doc({"Effect": "Allow", "NotAction": "", "Resource": "*"}),
         "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
        (doc({**GOOD, "Action": "s3:List:Bucket"}), "Actions/Condition can contain only one colon."),
        (doc({**GOOD, "Action": "a a:ListBucket"}), "Vendor a a is not valid"),
    ],
)
def test_malformed_identity_policies(document, message):
    with pytest.raises(MalformedPolicy) as raised:
        parse_policy(document if isinstance(document, str) else json.dumps(document))
    assert str(raised.value) == message


@pytest.mark.parametrize(
    "document",
    [
        doc(GOOD),
        doc([GOOD]),
        {"Statement": GOOD},  # no Version: 2008-10-17 rules
        doc(GOOD, Id="my-policy"),
        doc({**GOOD, "Action": "iam: asdf safdsf af "}),
        doc({**GOOD, "Resource": ["arn:aws:s3:::example_bucket", "*"]}),
        doc({**GOOD, "Resource": "arn:aws:s33:::example_bucket"}),
        doc({**GOOD, "Resource": "arn:aws:fdsasf"}),
        doc({**GOOD, "Resource": "arn:aws:iam::*:user/${aws:username}"}),
        doc({**GOOD, "Condition": {}}),
        doc({**GOOD, "Condition": {"DateGreaterThan": {}}}),
        doc({**GOOD, "Condition": {"DateGreaterThan": {"a": []}}}),
        doc({**GOOD, "Condition": {"x": {}, "y": {}}}),
        doc({**GOOD, "Condition": {"ForAnyValue:StringEqualsIfExists": {"a": "asf"}}}),
        doc({**GOOD, "Condition": {"DateLessThanEquals": {"a": "2016-12-13T21:20:37.593194+00:00"}}}),
        doc({**GOOD, "Condition": {"DateLessThan": {"a": "-292275054"}}}),
        doc({**GOOD, "Condition": {"Bool": {"aws:SecureTransport": False}, "NumericLessThan": {"s3:max-keys": 10}}}),
        doc([{**GOOD, "Sid": "a"}, {**GOOD, "Sid": ""}, {**GOOD, "Sid": ""}]),
        doc({"Effect": "Allow", "NotAction": "s3:ListBucket", "NotResource": "*"}),
    ],
)
def test_valid_identity_policies(document):
    parsed = parse_policy(json.dumps(document))
    assert parsed.statements


def test_managed_policies_need_the_current_version():
    with pytest.raises(MalformedPolicy, match=r"^Policy document must be version 2012-10-17 or greater\.$"):
        parse_policy({"Version": "2008-10-17", "Statement": GOOD}, managed=True)
    with pytest.raises(MalformedPolicy, match="version 2012-10-17"):
        parse_policy({"Statement": GOOD}, managed=True)
    assert parse_policy(doc(GOOD), managed=True).version == "2012-10-17"
    assert parse_policy({"Statement": GOOD}).version == "2008-10-17"


TRUSTED = {"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}


@pytest.mark.parametrize(
    ("kind", "statement", "message"),
    [
        ("trust", {**TRUSTED, "Resource": "*"}, "Has prohibited field Resource"),
        ("trust", {**TRUSTED, "NotResource": "*"}, "Has prohibited field NotResource"),
        ("trust", {"Effect": "Allow", "Action": "sts:AssumeRole"},
         "Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: "
         "The passed in policy has a statement with no principals!"),
        ("trust", {**TRUSTED, "Action": "s3:GetObject"}, "AssumeRole policy may only specify STS AssumeRole actions."),
        ("trust", {**TRUSTED, "Action": ["sts:AssumeRole", "sts:TagSessions"]},
         "AssumeRole policy may only specify STS AssumeRole actions."),
        ("trust", {**TRUSTED, "Principal": {"Service": "amazonaws.com"}}, 'Invalid principal in policy: "SERVICE":"amazonaws.com"'),
        ("trust", {**TRUSTED, "Principal": {"AWS": "alice"}}, 'Invalid principal in policy: "AWS":"alice"'),
        ("trust", {**TRUSTED, "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/*"}},
         f'Invalid principal in policy: "AWS":"arn:aws:iam::{ACCOUNT}:role/*"'),
        ("trust", {**TRUSTED, "Principal": {"Federated": "example.com"}}, 'Invalid principal in policy: "FEDERATED":"example.com"'),
        ("trust", {**TRUSTED, "Principal": {"Group": ALICE}}, "Syntax errors in policy."),
        ("trust", {**TRUSTED, "Principal": "alice"}, "Syntax errors in policy."),
        ("trust", {"Effect": "Allow", "Principal": "*"}, "Policy statement must contain actions."),
        ("resource", {**GOOD}, "Missing required field Principal"),
        ("resource", {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}, "Policy statement must contain resources."),
    ],
)
def test_malformed_trust_and_resource_policies(kind, statement, message):
    with pytest.raises(MalformedPolicy) as raised:
        parse_policy(json.dumps(doc(statement)), kind)
    assert str(raised.value) == message


def test_principals_are_listed_for_existence_checks():
    parsed = trust({"Effect": "Allow", "Principal": {"AWS": [ALICE, ACCOUNT], "Service": "eks.amazonaws.com"},
                    "Action": "sts:AssumeRole"})
    assert parsed.principals() == [("AWS", ALICE), ("AWS", ACCOUNT), ("Service", "eks.amazonaws.com")]


def test_size_quotas_ignore_whitespace():
    assert (MANAGED_POLICY_MAX_CHARS, USER_INLINE_POLICIES_MAX_CHARS, GROUP_INLINE_POLICIES_MAX_CHARS,
            ROLE_INLINE_POLICIES_MAX_CHARS, TRUST_POLICY_MAX_CHARS) == (6144, 2048, 5120, 10240, 2048)
    assert policy_size('{ "a" :\n\t"b c" }') == 10
    many = doc([allow(f"eks:Describe{i:04d}", CLUSTER) for i in range(80)])
    compact, pretty = json.dumps(many, separators=(",", ":")), json.dumps(many, indent=8)
    assert policy_size(compact) == policy_size(pretty) > MANAGED_POLICY_MAX_CHARS
    with pytest.raises(PolicyTooLarge) as raised:
        parse_policy(pretty, managed=True)
    assert str(raised.value) == "Cannot exceed quota for PolicySize: 6144"
    assert raised.value.size == policy_size(compact)
    assert parse_policy(pretty).statements  # inline: the caller sums an identity's policies
    with pytest.raises(PolicyTooLarge, match=r"^Cannot exceed quota for PolicySize: 2048$"):
        parse_policy(pretty, max_size=USER_INLINE_POLICIES_MAX_CHARS)
    big_trust = doc([{**TRUSTED, "Sid": f"s{i:03d}"} for i in range(40)])
    with pytest.raises(PolicyTooLarge, match=r"^Cannot exceed quota for ACLSizePerRole: 2048$"):
        parse_policy(json.dumps(big_trust), "trust")


# --------------------------------------------------------------------------- denial messages


def test_denial_messages_in_aws_form():
    create = request("eks:CreateCluster")
    assert denial_message(create, IMPLICIT_DENY) == (
        "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: eks:CreateCluster on resource: "
        "arn:aws:eks:us-west-2:111122223333:cluster/demo because no identity-based policy allows the "
        "eks:CreateCluster action"
    )
    decision, source = explain(create, [policy(allow("eks:*"), deny("eks:CreateCluster"))])
    assert denial_message(create, decision, source) == (
        "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: eks:CreateCluster on resource: "
        "arn:aws:eks:us-west-2:111122223333:cluster/demo with an explicit deny in an identity-based policy"
    )
    assert denial_message(create, EXPLICIT_DENY, "resource-based").endswith("with an explicit deny in a resource-based policy")
    with pytest.raises(ValueError):
        denial_message(create, ALLOW)


# --------------------------------------------------------------------------- speed


def test_evaluation_is_fast_enough_for_every_request():
    """10 policies of 5 statements each, the matching allow last: the worst ordinary case."""
    policies = [
        policy(*[
            allow([f"ec2:Describe{p}{s}*", f"iam:Get{p}{s}"], f"arn:aws:ec2:*:{ACCOUNT}:instance/*",
                  Condition={"StringEquals": {"aws:RequestedRegion": "us-west-2"}})
            for s in range(5)
        ])
        for p in range(9)
    ]
    policies.append(policy(
        deny("eks:DeleteCluster", f"arn:aws:eks:*:{ACCOUNT}:cluster/prod-*"),
        deny("*", "*", Condition={"Bool": {"aws:SecureTransport": "false"}}),
        allow("eks:List*"),
        allow(["eks:Describe*", "eks:AccessKubernetesApi"], f"arn:aws:eks:*:{ACCOUNT}:cluster/${{aws:PrincipalTag/team}}-*"),
        allow("eks:DescribeCluster", f"arn:aws:eks:*:{ACCOUNT}:cluster/*",
              Condition={"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"},
                         "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
    ))
    ask = AuthRequest(ALICE, "eks:DescribeCluster", CLUSTER, {
        "aws:RequestedRegion": "us-west-2", "aws:SecureTransport": "true", "aws:SourceIp": "10.1.2.3",
        "aws:PrincipalTag/team": "blue", "aws:ResourceTag/team": "blue",
    })
    assert evaluate(ask, policies) is ALLOW
    rounds = 2000
    started = time.perf_counter()
    for _ in range(rounds):
        evaluate(ask, policies)
    per_request = (time.perf_counter() - started) / rounds
    # typically ~20 µs; the bound leaves room for a busy shared machine
    assert per_request < 500e-6, f"{per_request * 1e6:.0f} µs per evaluation"
