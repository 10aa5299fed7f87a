"""The IAM policy language's fixed parts: versions, size quotas, IAM's MalformedPolicyDocument
messages, the element grammars (ARNs, principals, variables, numbers, dates), the errors parsing
raises and the three decisions.
"""

from __future__ import annotations

import re
from enum import Enum

# Size quotas, counted in characters with whitespace removed (IAM does not count whitespace).
MANAGED_POLICY_MAX_CHARS = 6144
USER_INLINE_POLICIES_MAX_CHARS = 2048  # all inline policies of one user together
GROUP_INLINE_POLICIES_MAX_CHARS = 5120
ROLE_INLINE_POLICIES_MAX_CHARS = 10240
TRUST_POLICY_MAX_CHARS = 2048  # ACLSizePerRole, the default quota

CURRENT_VERSION = "2012-10-17"
LEGACY_VERSION = "2008-10-17"  # policy variables are plain text under this version

IDENTITY, TRUST, RESOURCE = "identity", "trust", "resource"

SYNTAX_ERROR = "Syntax errors in policy."
LEGACY_ERROR = "The policy failed legacy parsing"
VERSION_ERROR = "Policy document must be version 2012-10-17 or greater."
PRINCIPAL_NOT_ALLOWED = "Policy document should not specify a principal."
TRUST_WITHOUT_PRINCIPAL = (
    "Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: "
    "The passed in policy has a statement with no principals!"
)
RESOURCE_POLICY_WITHOUT_PRINCIPAL = "Missing required field Principal"
TRUST_ACTIONS_ONLY = "AssumeRole policy may only specify STS AssumeRole actions."

_TRUST_ACTIONS = frozenset(
    a.lower()
    for a in (
        "sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity",
        "sts:TagSession", "sts:SetSourceIdentity", "sts:SetContext",
    )
)
_PARTITIONS = frozenset({"aws", "aws-cn", "aws-us-gov", "*"})
_IAM_RESOURCE_PREFIXES = (
    "user/", "federated-user/", "role/", "group/", "instance-profile/", "mfa/",
    "server-certificate/", "policy/", "sms-mfa/", "saml-provider/", "oidc-provider/",
    "report/", "access-report/",
)
_FEDERATED_PROVIDERS = frozenset(
    {"cognito-identity.amazonaws.com", "accounts.google.com", "graph.facebook.com", "www.amazon.com"}
)
_VENDOR = re.compile(r"[A-Za-z0-9.\-]+")
_ACCOUNT_ID = re.compile(r"\d{12}")
_AWS_PRINCIPAL_ARN = re.compile(
    r"arn:aws(?:-cn|-us-gov)?:(?:iam::(\d{12}):(?:root|(?:user|role)/[\w+=,.@/-]+)"
    r"|sts::(\d{12}):(?:assumed-role/[\w+=,.@-]+/[\w+=,.@-]+|federated-user/[\w+=,.@-]+))"
)
_UNIQUE_ID = re.compile(r"A[A-Z0-9]{15,127}")  # what IAM shows once a named principal is deleted
_SERVICE_PRINCIPAL = re.compile(r"[a-z0-9][a-z0-9.-]*\.(?:amazonaws\.com(?:\.cn)?|amazon\.com)")
_FEDERATED_ARN = re.compile(r"arn:aws(?:-cn|-us-gov)?:iam::\d{12}:(?:oidc-provider|saml-provider)/\S+")
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_BODY = re.compile(r"\s*([^,\s]+)\s*(?:,\s*'([^']*)'\s*)?")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_EPOCH = re.compile(r"-?\d+")
_ISO_DATE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?"
    r"(?:[Tt](\d{1,2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?"
    r"(Z|z|[+-]\d{2}(?::?\d{2})?)?"
)


class MalformedPolicy(Exception):
    """A document IAM rejects with MalformedPolicyDocument; str() is IAM's message."""


class PolicyTooLarge(Exception):
    """A document over its size quota (IAM answers LimitExceeded); str() is IAM's message."""

    def __init__(self, size: int, limit: int, quota: str = "PolicySize"):
        super().__init__(f"Cannot exceed quota for {quota}: {limit}")
        self.size, self.limit = size, limit


class Decision(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit-deny"
    IMPLICIT_DENY = "implicit-deny"


def policy_size(document: str) -> int:
    """Characters IAM counts against the size quotas: everything but whitespace."""
    return sum(1 for ch in document if not ch.isspace())
